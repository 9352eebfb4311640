package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive"
)

// fakeSys builds a sysfs tree shaped like the kernel's: devices under
// devices/, with class/block and dev/block symlinks into it.
type fakeSys struct {
	t    *testing.T
	root string
	s    system
}

func newFakeSys(t *testing.T) *fakeSys {
	root := t.TempDir()
	f := &fakeSys{t: t, root: root, s: system{
		sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"),
		mountinfo: filepath.Join(root, "mountinfo"), swaps: filepath.Join(root, "swaps"),
		udevDB: filepath.Join(root, "udev"),
	}}
	for _, d := range []string{"sys/class/block", "sys/dev/block", "dev", "udev"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	f.write("mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n")
	f.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n")
	return f
}

func (f *fakeSys) write(rel, data string) {
	p := filepath.Join(f.root, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSys) link(rel, target string) {
	if err := os.Symlink(target, filepath.Join(f.root, rel)); err != nil {
		f.t.Fatal(err)
	}
}

// disk adds a whole disk at devices/<bus>/block/<name>.
func (f *fakeSys) disk(bus, name, num string, sectors string) {
	dir := "sys/devices/" + bus + "/block/" + name
	f.write(dir+"/size", sectors+"\n")
	f.write(dir+"/dev", num+"\n")
	f.write(dir+"/removable", "0\n")
	os.MkdirAll(filepath.Join(f.root, dir, "holders"), 0o755)
	f.link("sys/class/block/"+name, "../../devices/"+bus+"/block/"+name)
	f.link("sys/dev/block/"+num, "../../devices/"+bus+"/block/"+name)
}

func (f *fakeSys) part(bus, disk, name, num string, n int) {
	dir := "sys/devices/" + bus + "/block/" + disk + "/" + name
	f.write(dir+"/partition", strconv.Itoa(n)+"\n")
	f.write(dir+"/dev", num+"\n")
	f.write(dir+"/size", "2048\n")
	os.MkdirAll(filepath.Join(f.root, dir, "holders"), 0o755)
	f.link("sys/class/block/"+name, "../../devices/"+bus+"/block/"+disk+"/"+name)
	f.link("sys/dev/block/"+num, "../../devices/"+bus+"/block/"+disk+"/"+name)
}

// dm adds a device-mapper device over slave (a partition name).
func (f *fakeSys) dm(name, num, mapName, slave string) {
	dir := "sys/devices/virtual/block/" + name
	f.write(dir+"/dm/name", mapName+"\n")
	f.write(dir+"/dev", num+"\n")
	os.MkdirAll(filepath.Join(f.root, dir, "slaves"), 0o755)
	f.link(dir+"/slaves/"+slave, "../../../../../class/block/"+slave)
	f.link("sys/class/block/"+name, "../../devices/virtual/block/"+name)
	f.link("sys/dev/block/"+num, "../../devices/virtual/block/"+name)
	// The slave lists the holder.
	target, err := os.Readlink(filepath.Join(f.root, "sys/class/block", slave))
	if err != nil {
		f.t.Fatal(err)
	}
	f.link(filepath.Join("sys/class/block", target, "holders", name), "/sys/devices/virtual/block/"+name)
}

const gib = int64(1 << 30)

// machine is a Pi-like host: root on sda2 under LUKS (dm-0), /boot on
// sda1, and a USB disk sdb with one partition; 64 GiB = 134217728 sectors.
func machine(t *testing.T) *fakeSys {
	f := newFakeSys(t)
	f.disk("pci0/usb1/host0/target0:0:0/0:0:0:0", "sda", "8:0", "134217728")
	f.part("pci0/usb1/host0/target0:0:0/0:0:0:0", "sda", "sda1", "8:1", 1)
	f.part("pci0/usb1/host0/target0:0:0/0:0:0:0", "sda", "sda2", "8:2", 2)
	f.dm("dm-0", "254:0", "root_crypt", "sda2")
	f.disk("pci0/usb2/host1/target1:0:0/1:0:0:0", "sdb", "8:16", "134217728")
	f.write("sys/devices/pci0/usb2/host1/target1:0:0/1:0:0:0/block/sdb/device/model", "Expansion HDD   \n")
	f.write("sys/devices/pci0/usb2/host1/target1:0:0/1:0:0:0/block/sdb/device/vendor", "Seagate \n")
	f.write("udev/b8:16", "E:ID_SERIAL=Seagate_Expansion_HDD_NA8F1234-0:0\nE:ID_SERIAL_SHORT=NA8F1234\n")
	f.part("pci0/usb2/host1/target1:0:0/1:0:0:0", "sdb", "sdb1", "8:17", 1)
	f.disk("virtual", "loop0", "7:0", "131072") // 64 MiB
	f.write("mountinfo", "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root_crypt rw\n"+
		"23 22 8:1 / /boot rw,relatime shared:2 - vfat /dev/sda1 rw\n"+
		"24 22 0:21 / /proc rw - proc proc rw\n")
	return f
}

func TestInspectRefusals(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeSys)
		num     string
		minSize int64
		want    error
		msg     string
	}{
		{name: "root disk under LUKS", num: "8:0", want: ErrSystemDisk, msg: "/dev/x is the disk under /;"},
		{name: "boot disk", num: "8:0", setup: func(f *fakeSys) {
			f.write("mountinfo", "23 22 8:1 / /boot/firmware rw - vfat /dev/sda1 rw\n")
		}, want: ErrSystemDisk, msg: "is the disk under /boot/firmware"},
		{name: "partition given", num: "8:17", want: ErrNotWholeDisk, msg: "is a partition of /dev/sdb; give the whole disk, /dev/sdb"},
		{name: "partition mounted", num: "8:16", setup: func(f *fakeSys) {
			f.write("mountinfo", "30 22 8:17 / /media/my\\040backup rw - ext4 /dev/sdb1 rw\n")
		}, want: ErrInUse, msg: "/dev/sdb1 is mounted on /media/my backup"},
		{name: "whole disk mounted", num: "8:16", setup: func(f *fakeSys) {
			f.write("mountinfo", "30 22 8:16 / /srv rw - ext4 /dev/sdb rw\n")
		}, want: ErrInUse, msg: "/dev/sdb is mounted on /srv"},
		{name: "active mapping", num: "8:16", setup: func(f *fakeSys) {
			f.dm("dm-1", "254:1", "extbackup", "sdb1")
		}, want: ErrInUse, msg: "/dev/sdb1 is part of the active mapping /dev/mapper/extbackup"},
		{name: "too small for the default floor", num: "7:0", want: ErrTooSmall, msg: "64.0 MiB, less than the 1.0 GiB floor"},
		{name: "too small for a raised floor", num: "8:16", minSize: 100 * gib, want: ErrTooSmall, msg: "64.0 GiB, less than the 100.0 GiB floor"},
		{name: "unknown device number", num: "9:9", want: luksdrive.ErrNoDevice, msg: "no sysfs entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := machine(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			_, err := f.s.inspect("/dev/x", tt.num, tt.minSize)
			if !errors.Is(err, tt.want) {
				t.Fatalf("inspect = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestInspectAccepts(t *testing.T) {
	f := machine(t)
	got, err := f.s.inspect("/dev/sdb", "8:16", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &DeviceInfo{Path: "/dev/sdb", Name: "sdb", Size: 64 * gib, Vendor: "Seagate", Model: "Expansion HDD", Serial: "NA8F1234",
		Partitions: []PartitionInfo{{Name: "sdb1", Size: 1 << 20}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The small loop disk passes once the floor is lowered.
	if _, err := f.s.inspect("/dev/loop0", "7:0", 32<<20); err != nil {
		t.Errorf("loop0 with a 32 MiB floor: %v", err)
	}
}

func TestPartitionNode(t *testing.T) {
	f := machine(t)
	if got := f.s.partitionNode("sdb", 1); got != "" {
		t.Errorf("partitionNode before the node exists = %q", got)
	}
	f.write("dev/sdb1", "")
	if got, want := f.s.partitionNode("sdb", 1), filepath.Join(f.root, "dev/sdb1"); got != want {
		t.Errorf("partitionNode = %q, want %q", got, want)
	}
	if got := f.s.partitionNode("sdb", 2); got != "" {
		t.Errorf("partition 2 = %q, want none", got)
	}
}

func TestDisksUnder(t *testing.T) {
	f := machine(t)
	if diff := cmp.Diff([]string{"sda"}, f.s.disksUnder("dm-0", 0)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDevNumRefusesFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	os.WriteFile(p, nil, 0o600)
	if _, err := devNum(p); !errors.Is(err, ErrNotWholeDisk) {
		t.Errorf("devNum(regular file) = %v, want ErrNotWholeDisk", err)
	}
	if _, err := devNum(p + ".missing"); !errors.Is(err, luksdrive.ErrNoDevice) {
		t.Errorf("devNum(missing) = %v, want ErrNoDevice", err)
	}
}
