package spindown

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSys lays out a sysfs tree shaped like a Raspberry Pi 4's with a
// USB disk (sda) holding a LUKS partition opened as dm-0, a SATA disk
// (sdb) on a libata port, an NVMe disk, a CD drive (SCSI type 5), a
// virtio disk, a dm "error" target with nothing below (dm-1) and an md
// array over sda and sdb partitions. Paths follow the real kernel's (the
// sda path is a Pi 4's VL805 xHCI); files hold what the kernel prints.
func fakeSys(t *testing.T) sysfs {
	t.Helper()
	root := t.TempDir()
	usb := "devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-2/2-2:1.0/host0/target0:0:0/0:0:0:0"
	ata := "devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:02:00.0/ata1/host1/target1:0:0/1:0:0:0"
	cd := "devices/pci0000:00/0000:00:1f.2/ata2/host2/target2:0:0/2:0:0:0"
	nvme := "devices/pci0000:00/0000:00:04.0/nvme/nvme0"
	virtio := "devices/pci0000:00/0000:00:05.0/virtio1"
	write := func(p, v string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, target), p); err != nil {
			t.Fatal(err)
		}
	}
	block := func(dir, name, dev string) {
		write(filepath.Join(dir, "dev"), dev)
		mkdir(filepath.Join(dir, "holders"))
		mkdir(filepath.Join(dir, "slaves"))
		link(filepath.Join("class/block", name), dir)
		link(filepath.Join("dev/block", dev), dir)
	}
	scsi := func(dev, typ, vendor, model string) {
		write(dev+"/type", typ)
		write(dev+"/vendor", vendor)
		write(dev+"/model", model)
		mkdir(dev + "/scsi_device/" + filepath.Base(dev))
	}

	scsi(usb, "0", "WD", "Elements 25A2")
	block(usb+"/block/sda", "sda", "8:0")
	link(usb+"/block/sda/device", usb)
	block(usb+"/block/sda/sda1", "sda1", "8:1")
	write(usb+"/block/sda/sda1/partition", "1")
	block(usb+"/block/sda/sda2", "sda2", "8:2")
	write(usb+"/block/sda/sda2/partition", "2")

	scsi(ata, "0", "ATA", "ST4000VN008-2DR1")
	block(ata+"/block/sdb", "sdb", "8:16")
	link(ata+"/block/sdb/device", ata)
	block(ata+"/block/sdb/sdb1", "sdb1", "8:17")
	write(ata+"/block/sdb/sdb1/partition", "1")

	scsi(cd, "5", "HL-DT-ST", "DVDRAM GH24NSD1")
	block(cd+"/block/sr0", "sr0", "11:0")
	link(cd+"/block/sr0/device", cd)

	write(nvme+"/model", "Samsung SSD 980 1TB")
	block(nvme+"/nvme0n1", "nvme0n1", "259:0")
	link(nvme+"/nvme0n1/device", nvme)

	mkdir(virtio)
	block(virtio+"/block/vda", "vda", "254:16")
	link(virtio+"/block/vda/device", virtio)

	dm0 := "devices/virtual/block/dm-0"
	block(dm0, "dm-0", "253:0")
	write(dm0+"/dm/name", "backup")
	link(dm0+"/slaves/sda1", usb+"/block/sda/sda1")
	link(usb+"/block/sda/sda1/holders/dm-0", dm0)

	dm1 := "devices/virtual/block/dm-1"
	block(dm1, "dm-1", "253:1")
	write(dm1+"/dm/name", "broken")

	md := "devices/virtual/block/md0"
	block(md, "md0", "9:0")
	mkdir(md + "/md")
	link(md+"/slaves/sda2", usb+"/block/sda/sda2")
	link(md+"/slaves/sdb1", ata+"/block/sdb/sdb1")

	loop := "devices/virtual/block/loop0"
	block(loop, "loop0", "7:0")
	write(loop+"/loop/backing_file", "/srv/images/test.img")

	block("devices/virtual/block/ram0", "ram0", "1:0")
	return sysfs{root: root, dev: "/dev"}
}

func TestResolveSysfs(t *testing.T) {
	s := fakeSys(t)
	sda := Disk{Name: "sda", Path: "/dev/sda", Major: 8, Minor: 0, Transport: "usb", Model: "WD Elements 25A2"}
	sdb := Disk{Name: "sdb", Path: "/dev/sdb", Major: 8, Minor: 16, Transport: "ata", Model: "ATA ST4000VN008-2DR1"}
	with := func(d Disk, via ...string) Disk { d.Via = via; return d }
	tests := []struct {
		name         string
		major, minor uint32
		want         []Disk
	}{
		{"whole USB disk", 8, 0, []Disk{sda}},
		{"partition → its disk", 8, 1, []Disk{with(sda, "sda1")}},
		{"dm-crypt on a partition → the disk", 253, 0, []Disk{with(sda, "dm-0", "sda1")}},
		{"md over two disks → both", 9, 0, []Disk{with(sda, "md0", "sda2"), with(sdb, "md0", "sdb1")}},
		{"SATA disk", 8, 16, []Disk{sdb}},
		{"NVMe is a disk, with its transport", 259, 0, []Disk{{Name: "nvme0n1", Path: "/dev/nvme0n1", Major: 259, Transport: "nvme"}}},
		{"virtio", 254, 16, []Disk{{Name: "vda", Path: "/dev/vda", Major: 254, Minor: 16, Transport: "virtio"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.resolveNumber(tt.major, tt.minor)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveSysfsRefuses(t *testing.T) {
	s := fakeSys(t)
	tests := []struct {
		name         string
		major, minor uint32
		err          error
		says         string
	}{
		{"loop", 7, 0, ErrNotDisk, `loop device over "/srv/images/test.img"`},
		{"dm with nothing below", 253, 1, ErrNotDisk, "dm-1 (broken) has no disk below it"},
		{"RAM disk", 1, 0, ErrNotDisk, "ram0 is a virtual block device"},
		{"CD drive", 11, 0, ErrNotDisk, "SCSI peripheral type 5, not a disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.resolveNumber(tt.major, tt.minor)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("= %v, %v; want %v saying %q", got, err, tt.err, tt.says)
			}
		})
	}
}

// The stack of sda is everything a filesystem on sda can be mounted from.
func TestSysfsStack(t *testing.T) {
	s := fakeSys(t)
	got, err := s.stack(Disk{Name: "sda"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]uint32]string{{8, 0}: "sda", {8, 1}: "sda1", {8, 2}: "sda2", {253, 0}: "dm-0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stack (-want +got):\n%s", diff)
	}
}

// Power commands refuse disks they cannot reach before opening anything.
func TestPowerCommandsRefuseNonSCSIDisks(t *testing.T) {
	for _, tr := range []string{"nvme", "virtio", "mmc", "other"} {
		d := Disk{Name: "x", Path: "/dev/extdrive-test-none", Transport: tr}
		if _, err := d.StandbyNow(context.Background(), nil); !errors.Is(err, ErrNoPowerCommands) {
			t.Errorf("%s: StandbyNow = %v, want ErrNoPowerCommands", tr, err)
		}
		if err := d.SetStandbyTimer(context.Background(), 120, nil); !errors.Is(err, ErrNoPowerCommands) {
			t.Errorf("%s: SetStandbyTimer = %v, want ErrNoPowerCommands", tr, err)
		}
	}
}
