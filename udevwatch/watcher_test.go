package udevwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// datagram is one thing fakeSource.recv returns; before runs first, so a
// test can change the fake sysfs at a precise point of the stream.
type datagram struct {
	b      []byte
	s      sender
	err    error
	before func()
}

// fakeSource replays datagrams and then blocks, like a quiet socket,
// until interrupted. drained is closed once every datagram was taken,
// i.e. once the watcher has fully handled all of them.
type fakeSource struct {
	ch      chan datagram
	stop    chan struct{}
	once    sync.Once
	drained chan struct{}
}

func newFakeSource(ds ...datagram) *fakeSource {
	f := &fakeSource{ch: make(chan datagram, len(ds)), stop: make(chan struct{}), drained: make(chan struct{})}
	for _, d := range ds {
		f.ch <- d
	}
	close(f.ch)
	return f
}

func (f *fakeSource) recv() ([]byte, sender, error) {
	if d, ok := <-f.ch; ok {
		if d.before != nil {
			d.before()
		}
		return d.b, d.s, d.err
	}
	f.once.Do(func() { close(f.drained) })
	<-f.stop
	return nil, sender{}, os.ErrDeadlineExceeded
}

func (f *fakeSource) interrupt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
}

func (f *fakeSource) Close() error { return nil }

var (
	fromKernel = sender{pid: 0, groups: groupKernel, hasCred: true}
	fromUdevd  = sender{pid: 312, groups: groupUdev, hasCred: true}
)

// fakeSys lays out the parts of sysfs and the udev database the scan
// reads: /sys/class/block links into /sys/devices, uevent files, and
// /run/udev/data entries.
type fakeSys struct{ sys, udev string }

func newFakeSys(t *testing.T) *fakeSys {
	d := t.TempDir()
	f := &fakeSys{sys: filepath.Join(d, "sys"), udev: filepath.Join(d, "udev")}
	os.MkdirAll(filepath.Join(f.sys, "class", "block"), 0o755)
	os.MkdirAll(f.udev, 0o755)
	return f
}

func (f *fakeSys) add(t *testing.T, devpath, name, devtype, majmin string, udevProps ...string) {
	t.Helper()
	dir := filepath.Join(f.sys, devpath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	maj, min, _ := strings.Cut(majmin, ":")
	ue := fmt.Sprintf("MAJOR=%s\nMINOR=%s\nDEVNAME=%s\nDEVTYPE=%s\n", maj, min, name, devtype)
	if err := os.WriteFile(filepath.Join(dir, "uevent"), []byte(ue), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Join(f.sys, "class", "block"), dir)
	if err := os.Symlink(rel, filepath.Join(f.sys, "class", "block", name)); err != nil {
		t.Fatal(err)
	}
	if len(udevProps) > 0 {
		var db strings.Builder
		for _, p := range udevProps {
			db.WriteString("E:" + p + "\n")
		}
		os.WriteFile(filepath.Join(f.udev, "b"+majmin), []byte(db.String()), 0o644)
	}
}

func (f *fakeSys) remove(name, devpath string) {
	os.Remove(filepath.Join(f.sys, "class", "block", name))
	os.RemoveAll(filepath.Join(f.sys, devpath))
}

// brief is what the tests compare: the fields a handler acts on.
type brief struct {
	Action   Action
	Source   Source
	DevNode  string
	Disk     string
	FS       FS
	LUKSUUID string
	Serial   string
}

func briefs(evs []Event) []brief {
	var bs []brief
	for _, e := range evs {
		bs = append(bs, brief{e.Action, e.Source, e.DevNode, e.Disk, e.FS, e.LUKSUUID, e.Serial})
	}
	return bs
}

// runFake runs a watcher over src until src is drained and returns what
// the handler saw.
func runFake(t *testing.T, o Options, group uint32, srcs ...*fakeSource) []Event {
	t.Helper()
	var opened int
	w, err := newWatcher(o.withDefaults(), group, func() (source, error) {
		if opened >= len(srcs) {
			return nil, errors.New("no more fake sockets")
		}
		opened++
		return srcs[opened-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var evs []Event
	done := make(chan error)
	go func() { done <- w.Run(ctx, func(e Event) { evs = append(evs, e) }) }()
	<-srcs[len(srcs)-1].drained
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if opened != len(srcs) {
		t.Errorf("watcher opened %d sockets, want %d", opened, len(srcs))
	}
	return evs
}

const (
	usbDisk = "/devices/pci0000:00/0000:00:04.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sda"
	usbPart = usbDisk + "/sda1"
	luksA   = "9a1c5d0e-6f3b-4c2a-8e7d-1b2c3d4e5f60"
)

func TestWatcherUdevDedupAndRemove(t *testing.T) {
	fs := newFakeSys(t)
	fs.add(t, "/devices/virtual/block/loop0", "loop0", "disk", "7:0")
	props := []string{"DEVPATH=" + usbPart, "SUBSYSTEM=block", "DEVNAME=/dev/sda1", "DEVTYPE=partition",
		"SEQNUM=1201", "ID_FS_TYPE=crypto_LUKS", "ID_FS_UUID=" + luksA, "ID_FS_VERSION=2", "ID_SERIAL=QEMU_HARDDISK_1-0000:00:04.0-2-0:0"}
	add := udevMsg(append([]string{"ACTION=add"}, props...)...)
	change := udevMsg(append([]string{"ACTION=change"}, props...)...)
	evs := runFake(t, Options{Mode: ModeUdev, SysDir: fs.sys, UdevDataDir: fs.udev,
		Probe: func(context.Context, string) (FS, error) { return FS{}, errors.New("nothing there") }}, groupUdev,
		newFakeSource(
			datagram{b: add, s: fromUdevd},
			datagram{b: add, s: fromUdevd},                                                           // the same event twice
			datagram{b: change, s: fromUdevd},                                                        // udev's follow-up change, nothing new
			datagram{b: add, s: sender{pid: 77, groups: 2, hasCred: true, uid: 1000}},                // forged by a user
			datagram{b: []byte("add@"), s: fromUdevd},                                                // garbage
			datagram{b: kernelMsg("add", usbPart, "SUBSYSTEM=block", "DEVNAME=sda1"), s: fromKernel}, // wrong group
			datagram{b: udevMsg("ACTION=remove", "DEVPATH="+usbPart, "SUBSYSTEM=block", "DEVNAME=/dev/sda1", "DEVTYPE=partition", "SEQNUM=1250"), s: fromUdevd},
			datagram{b: udevMsg("ACTION=remove", "DEVPATH="+usbPart, "SUBSYSTEM=block", "DEVNAME=/dev/sda1", "SEQNUM=1251"), s: fromUdevd},
		))
	fsA := FS{Type: "crypto_LUKS", UUID: luksA, Version: "2"}
	want := []brief{
		{Added, SourceCrawl, "/dev/loop0", "/dev/loop0", FS{}, "", ""},
		{Added, SourceUdev, "/dev/sda1", "/dev/sda", fsA, luksA, "QEMU_HARDDISK_1-0000:00:04.0-2-0:0"},
		{Removed, SourceUdev, "/dev/sda1", "/dev/sda", fsA, luksA, "QEMU_HARDDISK_1-0000:00:04.0-2-0:0"},
	}
	if diff := cmp.Diff(want, briefs(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatcherKernelProbesAndMatches(t *testing.T) {
	fs := newFakeSys(t)
	probed := map[string]FS{
		"/dev/sda":  {Type: "crypto_LUKS", UUID: luksA, Version: "2"},
		"/dev/sdb1": {Type: "ext4", UUID: "3e1b0c1a-0000-4000-8000-000000000001", Label: "scratch"},
	}
	probe := func(_ context.Context, dev string) (FS, error) {
		if fs, ok := probed[dev]; ok {
			return fs, nil
		}
		return FS{}, os.ErrNotExist
	}
	sdb := "/devices/pci0000:00/0000:00:04.0/usb2/2-2/2-2:1.0/host1/target1:0:0/1:0:0:0/block/sdb"
	evs := runFake(t, Options{Mode: ModeKernel, SysDir: fs.sys, UdevDataDir: fs.udev, Probe: probe,
		Match: []Matcher{{LUKSUUID: strings.ToUpper(luksA)}, {FSLabel: "scratch"}}}, groupKernel,
		newFakeSource(
			datagram{b: kernelMsg("add", usbDisk, "SUBSYSTEM=block", "DEVNAME=sda", "DEVTYPE=disk", "SEQNUM=5"), s: fromKernel},
			datagram{b: kernelMsg("add", usbDisk, "SUBSYSTEM=block", "DEVNAME=sda", "DEVTYPE=disk", "SEQNUM=5"), s: fromKernel},
			datagram{b: kernelMsg("add", usbDisk, "SUBSYSTEM=block", "DEVNAME=sda", "DEVTYPE=disk", "SEQNUM=6"), s: sender{pid: 4242, groups: 1, hasCred: true}},
			datagram{b: kernelMsg("add", sdb, "SUBSYSTEM=block", "DEVNAME=sdb", "DEVTYPE=disk"), s: fromKernel}, // no match
			datagram{b: kernelMsg("add", sdb+"/sdb1", "SUBSYSTEM=block", "DEVNAME=sdb1", "DEVTYPE=partition"), s: fromKernel},
			datagram{b: kernelMsg("add", "/devices/pci0000:00/usb2/2-2", "SUBSYSTEM=usb", "DEVNAME=bus/usb/002/003"), s: fromKernel},
			datagram{b: udevMsg("ACTION=add", "DEVPATH="+sdb, "SUBSYSTEM=block", "DEVNAME=/dev/sdb"), s: fromKernel}, // wrong format
			datagram{b: kernelMsg("remove", usbDisk, "SUBSYSTEM=block", "DEVNAME=sda", "DEVTYPE=disk"), s: fromKernel},
		))
	want := []brief{
		{Added, SourceKernel, "/dev/sda", "/dev/sda", probed["/dev/sda"], luksA, ""},
		{Added, SourceKernel, "/dev/sdb1", "/dev/sdb", probed["/dev/sdb1"], "", ""},
		{Removed, SourceKernel, "/dev/sda", "/dev/sda", probed["/dev/sda"], luksA, ""},
	}
	if diff := cmp.Diff(want, briefs(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// After an overrun the watcher cannot know what it missed: it reopens the
// socket and reconciles with a fresh scan.
func TestWatcherOverrunRescans(t *testing.T) {
	fs := newFakeSys(t)
	fs.add(t, usbDisk, "sda", "disk", "8:0", "ID_FS_TYPE=crypto_LUKS", "ID_FS_UUID="+luksA, "ID_SERIAL=A")
	sdb := strings.Replace(usbDisk, "sda", "sdb", 1)
	lost := func() {
		// While the buffer overflowed, sda was pulled and sdb plugged in.
		fs.remove("sda", usbDisk)
		fs.add(t, sdb, "sdb", "disk", "8:16", "ID_FS_TYPE=ext4", "ID_FS_UUID=u-b", "ID_SERIAL=B")
	}
	evs := runFake(t, Options{Mode: ModeUdev, SysDir: fs.sys, UdevDataDir: fs.udev}, groupUdev,
		newFakeSource(datagram{err: errOverrun, before: lost}),
		newFakeSource(datagram{b: udevMsg("ACTION=change", "DEVPATH="+sdb, "SUBSYSTEM=block", "DEVNAME=/dev/sdb", "DEVTYPE=disk",
			"ID_FS_TYPE=ext4", "ID_FS_UUID=u-b", "ID_SERIAL=B"), s: fromUdevd}),
	)
	want := []brief{
		{Added, SourceCrawl, "/dev/sda", "/dev/sda", FS{Type: "crypto_LUKS", UUID: luksA}, luksA, "A"},
		{Removed, SourceCrawl, "/dev/sda", "/dev/sda", FS{Type: "crypto_LUKS", UUID: luksA}, luksA, "A"},
		{Added, SourceCrawl, "/dev/sdb", "/dev/sdb", FS{Type: "ext4", UUID: "u-b"}, "", "B"},
	}
	if diff := cmp.Diff(want, briefs(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatcherChange(t *testing.T) {
	fs := newFakeSys(t)
	fs.add(t, usbDisk, "sda", "disk", "8:0", "ID_FS_TYPE=ext4", "ID_FS_UUID=old")
	evs := runFake(t, Options{Mode: ModeUdev, SysDir: fs.sys, UdevDataDir: fs.udev}, groupUdev,
		newFakeSource(datagram{b: udevMsg("ACTION=change", "DEVPATH="+usbDisk, "SUBSYSTEM=block", "DEVNAME=/dev/sda", "DEVTYPE=disk",
			"ID_FS_TYPE=crypto_LUKS", "ID_FS_UUID="+luksA), s: fromUdevd}))
	got := briefs(evs)
	want := []brief{
		{Added, SourceCrawl, "/dev/sda", "/dev/sda", FS{Type: "ext4", UUID: "old"}, "", ""},
		{Changed, SourceUdev, "/dev/sda", "/dev/sda", FS{Type: "crypto_LUKS", UUID: luksA}, luksA, ""},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
