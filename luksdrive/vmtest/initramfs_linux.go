package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// guestModules are loaded at boot, with their dependencies in the order
// modprobe --show-depends gives. Names missing from the kernel are errors:
// a silently absent driver would make guest tests fail in obscure ways.
// Each group loads in parallel with the others (module loading is most of
// the boot under TCG); a module two groups share is loaded by whichever
// comes first, and the kernel makes the other wait until it is live.
var guestModules = [][]string{
	// transport to the host
	{"virtio_pci", "virtio_console", "9p", "9pnet_virtio", "virtio_rng"},
	// block devices and their controllers
	{"virtio_blk", "virtio_scsi", "ahci", "sd_mod", "sg", "loop"},
	{"xhci_pci", "usb_storage", "uas"},
	// device-mapper and the crypto LUKS uses
	{"dm_mod", "dm_crypt", "xts", "aesni_intel", "essiv", "cbc",
		"af_alg", "algif_skcipher", "algif_hash", "crc32c_generic"},
	// filesystems
	{"ext4", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "exfat"},
	// HID: uhid for emulated devices; usbhid and hid-generic bind them
	{"uhid", "usbhid", "hid_generic"},
}

// guestTool is a host binary put into the initramfs.
type guestTool struct {
	name     string
	required bool
}

var guestTools = []guestTool{
	{"cryptsetup", true}, {"dmsetup", true},
	{"mkfs.ext4", true}, {"mke2fs", true}, {"e2fsck", true}, {"fsck.ext4", false},
	{"tune2fs", true}, {"dumpe2fs", true}, {"resize2fs", false}, {"debugfs", false},
	{"e2label", false},
	{"mkfs.vfat", false}, {"mkfs.fat", false}, {"fsck.vfat", false}, {"fatlabel", false},
	{"blkid", true}, {"losetup", true}, {"wipefs", false}, {"lsblk", false},
	{"findmnt", false}, {"blockdev", false}, {"sfdisk", false}, {"mount", true},
	{"umount", true}, {"hdparm", false}, {"sg_start", false}, {"sg_raw", false},
	{"sg_inq", false}, {"sg_turs", false}, {"rsync", false},
	{"getfacl", false}, {"setfacl", false}, {"getfattr", false}, {"setfattr", false},
	{"kmod", false},
}

// dlopenedLibs are loaded at run time, so ldd does not list them: glibc
// dlopens libgcc_s to unwind in pthread_exit, which cryptsetup's argon2
// threads call; without it cryptsetup aborts unless --pbkdf-parallel 1.
var dlopenedLibs = []string{"libgcc_s.so.1"}

// findLib finds a shared library in the host's multiarch or plain lib
// directories.
func findLib(name string) (string, error) {
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("vmtest: %s not found on the host (Debian package libgcc-s1)", name)
}

// hostRuleGlobs are udev rules taken from the host's packages (dmsetup ships
// the ones device-mapper needs for /dev/mapper links and udev cookies).
var hostRuleGlobs = []string{"/lib/udev/rules.d/*dm*.rules", "/usr/lib/udev/rules.d/*dm*.rules"}

const initScript = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /root ` + guestShare + `
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
if grep -q vmtest.probe /proc/cmdline; then echo ` + markerProbe + `; poweroff -f; fi
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
stamp() { read up _ < /proc/uptime; echo "vmtest: $1 at ${up}s"; }
stamp "init started"
for g in /etc/vmtest/modules.*; do
	(while read -r m; do insmod "$m" 2>/dev/null; done < $g) &
done
wait
stamp "modules loaded"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ` + shareTag + ` ` + guestShare + `; then
	echo "` + markerError + `cannot mount the 9p share"; poweroff -f
fi
ln -sf /proc/self/mounts /etc/mtab
/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
udevadm trigger --action=add --type=subsystems
# Coldplug only what tests look at: the hundred-odd tty, acpi, cpu and
# memory devices would cost seconds of emulated rule processing at every
# boot. Devices plugged later get the full treatment from udevd anyway.
udevadm trigger --action=add --type=devices --subsystem-match=block \
	--subsystem-match=misc --subsystem-match=hidraw --subsystem-match=hid \
	--subsystem-match=usb --subsystem-match=scsi --subsystem-match=scsi_disk \
	--subsystem-match=scsi_device --subsystem-match=scsi_generic \
	--subsystem-match=scsi_host --subsystem-match=bsg --subsystem-match=virtio-ports
udevadm settle --timeout=60
stamp "udev settled"
echo ` + markerBegin + `
. ` + guestShare + `/run.sh
echo "` + markerError + `run.sh returned"
poweroff -f
`

// initramfsInputs collects everything the initramfs is built from, so the
// cache key can be computed before anything is built.
type initramfsInputs struct {
	kernel  string            // unpacked kernel package
	udev    string            // unpacked udev package
	files   map[string]string // archive path -> host file
	links   map[string]string // archive path -> symlink target
	modules [][]string        // archive paths of .ko files, load order, per group
}

func gatherInitramfs(kernel, udev string) (*initramfsInputs, error) {
	in := &initramfsInputs{kernel: kernel, udev: udev, files: map[string]string{}, links: map[string]string{}}
	bb, err := lookTool("busybox")
	if err != nil {
		return nil, fmt.Errorf("%w: busybox not found (apt-get install busybox-static)", errUnavailable)
	}
	if libs, err := sharedLibs(bb); err != nil || len(libs) > 0 {
		return nil, fmt.Errorf("%w: %s is not a static busybox (apt-get install busybox-static)", errUnavailable, bb)
	}
	in.files["bin/busybox"] = bb
	var bins []string
	for _, t := range guestTools {
		p, err := lookTool(t.name)
		if err != nil {
			if t.required {
				return nil, fmt.Errorf("%w: guest tool %s not found on the host", errUnavailable, t.name)
			}
			continue
		}
		dir := "usr/bin"
		if strings.Contains(p, "sbin") {
			dir = "usr/sbin"
		}
		dst := dir + "/" + t.name
		in.files[dst] = p
		in.links["sbin/"+t.name] = "/" + dst
		bins = append(bins, p)
	}
	// udev from its Debian package: udevadm is also the daemon.
	udevadm := filepath.Join(udev, "bin/udevadm")
	in.files["usr/bin/udevadm"] = udevadm
	in.links["bin/udevadm"] = "/usr/bin/udevadm"
	in.links["lib/systemd/systemd-udevd"] = "/usr/bin/udevadm"
	bins = append(bins, udevadm)
	err = filepath.WalkDir(filepath.Join(udev, "lib/udev"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(udev, p)
		if strings.HasPrefix(rel, "lib/udev/hwdb.d") {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			in.links[rel] = t
			return nil
		}
		in.files[rel] = p
		if !strings.HasSuffix(p, ".rules") {
			bins = append(bins, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmtest: udev package: %w", err)
	}
	for _, g := range hostRuleGlobs {
		m, _ := filepath.Glob(g)
		for _, p := range m {
			in.files["lib/udev/rules.d/"+filepath.Base(p)] = p
		}
	}
	for _, b := range bins {
		libs, err := sharedLibs(b)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			in.files[strings.TrimPrefix(l, "/")] = l
		}
	}
	for _, name := range dlopenedLibs {
		l, err := findLib(name)
		if err != nil {
			return nil, err
		}
		in.files[strings.TrimPrefix(l, "/")] = l
	}
	// Modules, dependencies first, each once per group.
	for _, group := range guestModules {
		var chain []string
		seen := map[string]bool{}
		for _, m := range group {
			out, err := runQuiet("modprobe", "-d", kernel, "-S", KernelVersion, "--show-depends", m)
			if err != nil {
				return nil, fmt.Errorf("vmtest: module %s not in %s: %s", m, KernelPackage, lastLine(out))
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) < 2 || f[0] != "insmod" {
					continue // "builtin x"
				}
				rel, err := filepath.Rel(kernel, f[1])
				if err != nil || seen[rel] {
					continue
				}
				seen[rel] = true
				in.files[rel] = f[1]
				chain = append(chain, "/"+rel)
			}
		}
		in.modules = append(in.modules, chain)
	}
	for _, name := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		p := filepath.Join(kernel, "lib/modules", KernelVersion, name)
		if _, err := os.Stat(p); err == nil {
			in.files[filepath.Join("lib/modules", KernelVersion, name)] = p
		}
	}
	return in, nil
}

// key hashes every input of the initramfs.
func (in *initramfsInputs) key() (string, error) {
	h, sum := newKey()
	h.str(harnessVersion)
	h.str(KernelVersion)
	h.str(initScript)
	for _, k := range sortedKeys(in.files) {
		h.str(k)
		if err := h.file(in.files[k]); err != nil {
			return "", err
		}
	}
	for _, k := range sortedKeys(in.links) {
		h.str(k + " -> " + in.links[k])
	}
	for _, g := range in.modules {
		h.str(strings.Join(g, "\n"))
	}
	return sum(), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// build writes the initramfs to dst. The module list is re-indexed with
// depmod on a tree holding only the modules included, so that udev's module
// autoloading asks only for modules that exist.
func (in *initramfsInputs) build(dst string) error {
	var entries []cpioEntry
	for _, k := range sortedKeys(in.files) {
		src := in.files[k]
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		entries = append(entries, cpioEntry{Name: k, Mode: fi.Mode().Perm(), Data: data})
	}
	for _, k := range sortedKeys(in.links) {
		if _, ok := in.files[k]; ok {
			continue
		}
		entries = append(entries, cpioEntry{Name: k, Mode: fs.ModeSymlink | 0o777, Data: []byte(in.links[k])})
	}
	// depmod over the included modules only.
	stage, err := os.MkdirTemp("", "vmtest-depmod-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for k, src := range in.files {
		if !strings.HasPrefix(k, "lib/modules/") {
			continue
		}
		p := filepath.Join(stage, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(src, p); err != nil {
			return err
		}
	}
	if out, err := exec.Command("depmod", "-b", stage, KernelVersion).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod: %v: %s", err, lastLine(out))
	}
	idx, _ := filepath.Glob(filepath.Join(stage, "lib/modules", KernelVersion, "modules.*"))
	for _, p := range idx {
		rel, _ := filepath.Rel(stage, p)
		if _, ok := in.files[rel]; ok {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		entries = append(entries, cpioEntry{Name: rel, Mode: 0o644, Data: data})
	}
	entries = append(entries,
		cpioEntry{Name: "init", Mode: 0o755, Data: []byte(initScript)},
		cpioEntry{Name: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		cpioEntry{Name: "etc/group", Mode: 0o644, Data: []byte(guestGroups)},
		cpioEntry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, DevMajor: 5, DevMinor: 1},
		cpioEntry{Name: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, DevMajor: 1, DevMinor: 3},
	)
	for i, g := range in.modules {
		entries = append(entries, cpioEntry{Name: fmt.Sprintf("etc/vmtest/modules.%d", i), Mode: 0o644, Data: []byte(strings.Join(g, "\n") + "\n")})
	}
	for _, d := range []string{"proc", "sys", "run", "tmp", "root", "mnt", strings.TrimPrefix(guestShare, "/")} {
		entries = append(entries, cpioEntry{Name: d, Mode: fs.ModeDir | 0o755})
	}
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeCPIO(f, entries); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// guestGroups lists the groups udev rules name, so udevd does not complain
// about each one.
const guestGroups = `root:x:0:
tty:x:5:
disk:x:6:
lp:x:7:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
floppy:x:25:
tape:x:26:
audio:x:29:
video:x:44:
plugdev:x:46:
kvm:x:104:
render:x:105:
input:x:106:
sgx:x:107:
nogroup:x:65534:
`

// initramfs returns the cached initramfs for the current inputs, building
// it when the key is new.
func initramfs(cache string, kernel, udev string) (string, error) {
	in, err := gatherInitramfs(kernel, udev)
	if err != nil {
		return "", err
	}
	key, err := in.key()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(cache, "initramfs-"+key+".cpio")
	err = withFileLock(filepath.Join(cache, "initramfs.lock"), func() error {
		now := time.Now()
		if _, err := os.Stat(dst); err == nil {
			// The mtime records the last use, for pruning.
			return os.Chtimes(dst, now, now)
		}
		if err := in.build(dst); err != nil {
			return err
		}
		// Initramfs images for other inputs (older harness versions, an
		// upgraded host tool) are dropped once unused for a day.
		old, _ := filepath.Glob(filepath.Join(cache, "initramfs-*.cpio"))
		for _, p := range old {
			if fi, err := os.Stat(p); err == nil && p != dst && now.Sub(fi.ModTime()) > 24*time.Hour {
				os.Remove(p)
			}
		}
		return nil
	})
	return dst, err
}
