// Package vmtest runs a package's tests as root inside a QEMU virtual machine
// that boots Debian's kernel, so code that needs device-mapper, real block
// devices, udev, USB hot-plug or /dev/uhid is tested against the real kernel
// even on hosts that have none of these.
//
// Host side, in an ordinary _test.go file of the package under test:
//
//	func TestVM(t *testing.T) { vmtest.Run(t, nil) }
//
// Run builds the package's test binary with `go test -c -tags vmguest`,
// boots the VM (kernel and an initramfs with busybox, cryptsetup, dmsetup,
// e2fsprogs, dosfstools, hdparm, sg3-utils, rsync, util-linux and a running
// systemd-udevd), runs every test named TestGuest* inside it and reports each
// one as the host subtest TestVM/TestGuestX. `go test -run TestVM/TestGuestX`
// runs a single guest test.
//
// Guest side, in files named *_vm_test.go with the build constraint
// `//go:build vmguest`:
//
//	func TestGuestStick(t *testing.T) {
//		m := vmtest.Guest(t)
//		img := filepath.Join(m.SharedDir(), "stick.img")
//		// ... create the image ...
//		dev, err := m.PlugUSB(ctx, "stick", img)
//		// ... dev is /dev/sdX, with its /dev/disk/by-* links settled ...
//		err = m.Unplug(ctx, "stick")
//	}
//
// The harness downloads what it needs (the pinned kernel package and udev
// with apt-get download) into its cache, EXTDRIVE_VM_CACHE (default
// $XDG_CACHE_HOME/extdrive-vm or ~/.cache/extdrive-vm). Cached artefacts are
// named after a hash of their inputs, so a new kernel, a changed host tool or
// a new harness version builds new ones instead of reusing stale ones.
//
// At most EXTDRIVE_VM_JOBS (default 1) VMs run at once per host: the rest
// wait on a lock file in the cache directory. EXTDRIVE_VM_ACCEL=kvm|tcg skips
// the cached KVM probe. EXTDRIVE_VM_CONSOLE=1 logs every guest console line.
//
// When QEMU or the kernel cannot be had, Run skips the test with one line;
// with CI=true it fails instead, and so does any guest test that skips.
package vmtest
