package udevwatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fixtures under testdata/uevents are datagrams recorded off real
// netlink sockets in the VM by TestGuestCaptureUevents: a LUKS2 USB drive
// (UUID guestLUKS) plugged in, then a drive with a DOS partition table
// whose partition is then LUKS-formatted (UUID guestOther), then both
// unplugged. Steps: 01 boot (image preparation on loop0/dm-0), 02
// plug_luks, 03 plug_part, 04 format_part, 05 unplug_part, 06 unplug_luks.

const (
	fixLUKS  = "9a1c5d0e-6f3b-4c2a-8e7d-1b2c3d4e5f60"
	fixOther = "5b0e7c1d-2a3f-4e5d-9c8b-7a6f5e4d3c2b"
	fixSDC   = "/devices/pci0000:00/0000:00:05.0/usb2/2-1/2-1:1.0/host7/target7:0:0/7:0:0:0/block/sdc"
	fixSDD   = "/devices/pci0000:00/0000:00:05.0/usb2/2-2/2-2:1.0/host8/target8:0:0/8:0:0:0/block/sdd"
)

func fixtures(t testing.TB, format string) []string {
	t.Helper()
	ps, err := filepath.Glob(filepath.Join("..", "testdata", "uevents", format, "*.bin"))
	if err != nil || len(ps) == 0 {
		t.Fatalf("no %s fixtures: %v", format, err)
	}
	sort.Strings(ps)
	return ps
}

func readFixture(t testing.TB, format, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "uevents", format, name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseEveryFixture: every recorded message parses, in the format of
// the socket it came from.
func TestParseEveryFixture(t *testing.T) {
	for _, format := range []string{"kernel", "udev"} {
		for _, p := range fixtures(t, format) {
			m, err := ParseMessage(mustRead(t, p))
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			if m.Format.String() != format {
				t.Errorf("%s: format %s", p, m.Format)
			}
		}
	}
}

func mustRead(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pick keeps the properties a test cares about.
func pick(env map[string]string, keys ...string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		if v, ok := env[k]; ok {
			m[k] = v
		}
	}
	return m
}

func TestParseFixtures(t *testing.T) {
	keys := []string{"SUBSYSTEM", "DEVNAME", "DEVTYPE", "SEQNUM", "ID_FS_TYPE", "ID_FS_UUID", "ID_FS_VERSION", "ID_SERIAL", "ID_PART_TABLE_TYPE", "PARTN"}
	type parsed struct {
		Format  Format
		Action  string
		DevPath string
		Env     map[string]string
	}
	for _, tc := range []struct {
		format, name string
		want         parsed
	}{
		{"kernel", "02-plug_luks-015-add-block-sdc", parsed{FormatKernel, "add", fixSDC,
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "sdc", "DEVTYPE": "disk", "SEQNUM": "1444"}}},
		{"kernel", "03-plug_part-016-add-block-sdd1", parsed{FormatKernel, "add", fixSDD + "/sdd1",
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "sdd1", "DEVTYPE": "partition", "SEQNUM": "1463", "PARTN": "1"}}},
		{"kernel", "06-unplug_luks-015-remove-usb-2-1", parsed{FormatKernel, "remove", "/devices/pci0000:00/0000:00:05.0/usb2/2-1",
			map[string]string{"SUBSYSTEM": "usb", "DEVNAME": "bus/usb/002/002", "DEVTYPE": "usb_device", "SEQNUM": "1500"}}},
		{"udev", "02-plug_luks-015-add-block-sdc", parsed{FormatUdev, "add", fixSDC,
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "/dev/sdc", "DEVTYPE": "disk", "SEQNUM": "1444",
				"ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": fixLUKS, "ID_FS_VERSION": "2", "ID_SERIAL": "QEMU_QEMU_HARDDISK_VMTluks-0:0"}}},
		{"udev", "03-plug_part-015-add-block-sdd", parsed{FormatUdev, "add", fixSDD,
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "/dev/sdd", "DEVTYPE": "disk", "SEQNUM": "1462",
				"ID_SERIAL": "QEMU_QEMU_HARDDISK_VMTpart-0:0", "ID_PART_TABLE_TYPE": "dos"}}},
		{"udev", "04-format_part-001-change-block-sdd1", parsed{FormatUdev, "change", fixSDD + "/sdd1",
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "/dev/sdd1", "DEVTYPE": "partition", "SEQNUM": "1467", "PARTN": "1",
				"ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": fixOther, "ID_FS_VERSION": "2", "ID_SERIAL": "QEMU_QEMU_HARDDISK_VMTpart-0:0", "ID_PART_TABLE_TYPE": "dos"}}},
		{"udev", "06-unplug_luks-005-remove-block-sdc", parsed{FormatUdev, "remove", fixSDC,
			map[string]string{"SUBSYSTEM": "block", "DEVNAME": "/dev/sdc", "DEVTYPE": "disk", "SEQNUM": "1490",
				"ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": fixLUKS, "ID_FS_VERSION": "2", "ID_SERIAL": "QEMU_QEMU_HARDDISK_VMTluks-0:0"}}},
	} {
		m, err := ParseMessage(readFixture(t, tc.format, tc.name))
		if err != nil {
			t.Errorf("%s/%s: %v", tc.format, tc.name, err)
			continue
		}
		got := parsed{m.Format, m.Action, m.DevPath, pick(m.Env, keys...)}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s/%s (-want +got):\n%s", tc.format, tc.name, diff)
		}
	}
}

// replay feeds the recorded plug-in session, steps 02 to 06, through a
// watcher in the matching mode.
func replay(t *testing.T, format string, probe ProbeFunc) []brief {
	var ds []datagram
	group, from := uint32(groupKernel), fromKernel
	if format == "udev" {
		group, from = groupUdev, fromUdevd
	}
	for _, p := range fixtures(t, format) {
		if strings.HasPrefix(filepath.Base(p), "01-") {
			continue
		}
		ds = append(ds, datagram{b: mustRead(t, p), s: from})
	}
	sys := newFakeSys(t)
	return briefs(runFake(t, Options{SysDir: sys.sys, UdevDataDir: sys.udev, Probe: probe}, group, newFakeSource(ds...)))
}

func TestReplayUdevFixtures(t *testing.T) {
	// udev probed everything; the watcher only probes the partition
	// events udev's blkid left without ID_FS_TYPE, here while cryptsetup
	// was still writing: nothing to find.
	probe := func(context.Context, string) (FS, error) { return FS{}, errors.New("no superblock") }
	luksA := FS{Type: "crypto_LUKS", UUID: fixLUKS, Version: "2"}
	luksB := FS{Type: "crypto_LUKS", UUID: fixOther, Version: "2"}
	const serA, serB = "QEMU_QEMU_HARDDISK_VMTluks-0:0", "QEMU_QEMU_HARDDISK_VMTpart-0:0"
	want := []brief{
		{Added, SourceUdev, "/dev/sdc", "/dev/sdc", luksA, fixLUKS, serA}, // its change event: a duplicate
		{Added, SourceUdev, "/dev/sdd", "/dev/sdd", FS{}, "", serB},
		{Added, SourceUdev, "/dev/sdd1", "/dev/sdd", FS{}, "", serB},
		{Changed, SourceUdev, "/dev/sdd1", "/dev/sdd", luksB, fixOther, serB}, // luksFormat done
		{Removed, SourceUdev, "/dev/sdd1", "/dev/sdd", luksB, fixOther, serB},
		{Removed, SourceUdev, "/dev/sdd", "/dev/sdd", FS{}, "", serB},
		{Removed, SourceUdev, "/dev/sdc", "/dev/sdc", luksA, fixLUKS, serA},
	}
	if diff := cmp.Diff(want, replay(t, "udev", probe)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestReplayKernelFixtures(t *testing.T) {
	luksA := FS{Type: "crypto_LUKS", UUID: fixLUKS, Version: "2"}
	var probed []string
	probe := func(_ context.Context, dev string) (FS, error) {
		probed = append(probed, dev)
		if dev == "/dev/sdc" {
			return luksA, nil
		}
		return FS{}, errors.New("no superblock")
	}
	want := []brief{
		{Added, SourceKernel, "/dev/sdc", "/dev/sdc", luksA, fixLUKS, ""}, // and not again for its change event
		{Added, SourceKernel, "/dev/sdd", "/dev/sdd", FS{}, "", ""},
		{Added, SourceKernel, "/dev/sdd1", "/dev/sdd", FS{}, "", ""},
		{Removed, SourceKernel, "/dev/sdd1", "/dev/sdd", FS{}, "", ""},
		{Removed, SourceKernel, "/dev/sdd", "/dev/sdd", FS{}, "", ""},
		{Removed, SourceKernel, "/dev/sdc", "/dev/sdc", luksA, fixLUKS, ""},
	}
	if diff := cmp.Diff(want, replay(t, "kernel", probe)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Every add and change of a block device is probed; removals and USB
	// devices are not.
	wantProbed := []string{"/dev/sdc", "/dev/sdc", "/dev/sdd", "/dev/sdd1", "/dev/sdd", "/dev/sdd1", "/dev/sdd1"}
	if diff := cmp.Diff(wantProbed, probed); diff != "" {
		t.Errorf("probed (-want +got):\n%s", diff)
	}
}
