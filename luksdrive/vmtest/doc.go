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
// boots the VM (Debian's kernel KernelVersion and an initramfs with busybox,
// cryptsetup, dmsetup, e2fsprogs, dosfstools, hdparm, sg3-utils, rsync, acl,
// attr, util-linux and a running systemd-udevd), runs every test named
// TestGuest* inside it as root and reports each one as the host subtest
// TestVM/TestGuestX. `go test -run TestVM/TestGuestX` runs a single guest
// test; the part after the first slash becomes the guest's -test.run. A
// guest panic, a hung test or a lost console fails with the guest's last
// console lines; a guest skip fails under CI=true.
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
// Images live in SharedDir (a 9p share), because QEMU on the host opens
// them. PlugUSB adds a usb-storage device on a qemu-xhci bus through QMP,
// so the kernel and udev see a real insertion; Unplug is a real removal.
// AttachDisk puts a disk on virtio-scsi (SCSI, hot-plugged) or on the AHCI
// controller (IDE). QEMU cannot hot-plug ATA disks, so the VM boots with two
// 64 MiB AHCI disks and AttachDisk(IDE) swaps the image in as their backing
// file: IDE images must be at least 64 MiB.
//
// The harness fetches what it needs (the pinned kernel package and udev,
// with apt-get download, unless found in /var/cache/extdrive-vm or apt's
// archive cache) into its cache, EXTDRIVE_VM_CACHE (default
// $XDG_CACHE_HOME/extdrive-vm or ~/.cache/extdrive-vm). Cached artefacts are
// named after a hash of their inputs (harness version, kernel version, every
// file in the initramfs), so a new kernel, a changed host tool or a new
// harness version builds new ones instead of reusing stale ones.
//
// At most EXTDRIVE_VM_JOBS (default 1) VMs run at once per host; other runs
// queue, first come first served, and say so in the test log. The wait does
// not count against Options.Timeout but does against go test -timeout, so
// give that room. EXTDRIVE_VM_ACCEL=kvm|tcg overrides the cached KVM probe.
// EXTDRIVE_VM_CONSOLE=1 logs every guest console line.
//
// When QEMU or the kernel cannot be had, Run skips the test with one line;
// with CI=true it fails instead.
package vmtest
