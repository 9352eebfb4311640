package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Machine is the VM as seen from a guest test: the shared directory and the
// host-side hardware controls.
type Machine struct {
	t      testing.TB
	shared string

	mu   sync.Mutex
	devs map[string]*plugged // by id, devices this test attached
}

type plugged struct {
	bus    Bus
	serial string
	node   string // /dev/sdX
}

// InGuest reports whether the code runs inside the vmtest VM.
func InGuest() bool { return os.Getenv(guestEnv) == "1" }

// Guest returns the machine for a guest test, failing the test when it does
// not run inside the VM. Each test gets its own directory under SharedDir,
// removed when the test ends; devices the test left attached are unplugged
// then, so the next test starts with a clean machine.
func Guest(t testing.TB) *Machine {
	t.Helper()
	if !InGuest() {
		t.Fatalf("vmtest: %s must run inside the VM: run it through TestVM (go test -run 'TestVM/%s')", t.Name(), t.Name())
	}
	dir := filepath.Join(guestShare, imagesSubdir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("vmtest: shared directory: %v", err)
	}
	m := &Machine{t: t, shared: dir, devs: map[string]*plugged{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.mu.Lock()
		var ids []string
		for id := range m.devs {
			ids = append(ids, id)
		}
		m.mu.Unlock()
		for _, id := range ids {
			if err := m.Unplug(ctx, id); err != nil {
				t.Errorf("vmtest: cleanup: %v", err)
			}
		}
		os.RemoveAll(dir)
	})
	return m
}

// SharedDir is a directory the host sees too. Disk images to hot-plug must
// be created in it, because QEMU opens them on the host.
func (m *Machine) SharedDir() string { return m.shared }

// PlugUSB hot-plugs image as a USB mass-storage device on the xHCI bus, the
// way a drive is plugged in: the kernel and udev see the same events. It
// waits until the block device exists and udev has settled (so its
// /dev/disk/by-* links exist) and returns its device node. id names the
// device for Unplug: 1-24 letters, digits, '-', '_' or '.', starting with a
// letter, unique among attached devices.
func (m *Machine) PlugUSB(ctx context.Context, id, image string) (string, error) {
	return m.attach(ctx, id, image, USB)
}

// AttachDisk attaches image as a disk on bus (IDE or SCSI) and returns its
// device node. SCSI disks are hot-plugged on virtio-scsi. QEMU cannot
// hot-plug ATA disks, so an IDE disk is one of two AHCI disks present since
// boot whose backing file is swapped to image: the image must be at least
// 64 MiB and the guest sees its first 64 MiB. Unplug detaches either kind.
func (m *Machine) AttachDisk(ctx context.Context, id, image string, bus Bus) (string, error) {
	switch bus {
	case IDE, SCSI, USB:
	default:
		return "", fmt.Errorf("vmtest: attach %s: bus %d is not one bus; pass exactly one of vmtest.IDE, vmtest.SCSI or vmtest.USB", id, bus)
	}
	return m.attach(ctx, id, image, bus)
}

func (m *Machine) attach(ctx context.Context, id, image string, bus Bus) (string, error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(guestShare, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("vmtest: attach %s: image %s is not under the shared directory %s; create it in m.SharedDir()", id, image, m.shared)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("vmtest: attach %s: %w", id, err)
	}
	// The host's QEMU opens the file through its own page cache; data the
	// guest wrote must have reached it first.
	if f, err := os.Open(abs); err == nil {
		f.Sync()
		f.Close()
	}
	serial := serialFor(id)
	resp, err := hostCall(ctx, ctlRequest{Op: "attach", ID: id, Bus: bus.String(), Image: filepath.ToSlash(rel), Serial: serial})
	if err != nil {
		if ctx.Err() != nil {
			// The host may still complete the attach; undo it so the id
			// and the slot are free again.
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			hostCall(dctx, ctlRequest{Op: "detach", ID: id})
			cancel()
		}
		return "", fmt.Errorf("vmtest: attach %s (%s): %w", id, bus, err)
	}
	node, err := waitBlock(ctx, resp.Serial)
	if err != nil {
		hostCall(context.Background(), ctlRequest{Op: "detach", ID: id})
		return "", fmt.Errorf("vmtest: attach %s (%s): %w", id, bus, err)
	}
	if bus == IDE {
		// The disk existed before; drop what the guest cached of the
		// placeholder and have udev re-read the new contents.
		if out, err := exec.CommandContext(ctx, "blockdev", "--flushbufs", "--rereadpt", node).CombinedOutput(); err != nil {
			m.t.Logf("vmtest: blockdev --flushbufs --rereadpt %s: %v: %s", node, err, bytes.TrimSpace(out))
		}
		exec.CommandContext(ctx, "udevadm", "trigger", "--action=change", "--settle", node).Run()
	}
	if err := settle(ctx); err != nil {
		return "", fmt.Errorf("vmtest: attach %s: %w", id, err)
	}
	m.mu.Lock()
	m.devs[id] = &plugged{bus: bus, serial: resp.Serial, node: node}
	m.mu.Unlock()
	return node, nil
}

// Unplug yanks the device attached as id, without unmounting or syncing
// anything first (that is the caller's business, as with a real drive). It
// returns once the kernel has removed the block device and udev settled.
func (m *Machine) Unplug(ctx context.Context, id string) error {
	m.mu.Lock()
	p, ok := m.devs[id]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("vmtest: unplug %s: no such device attached by this test", id)
	}
	if _, err := hostCall(ctx, ctlRequest{Op: "detach", ID: id}); err != nil {
		return fmt.Errorf("vmtest: unplug %s: %w", id, err)
	}
	m.mu.Lock()
	delete(m.devs, id)
	m.mu.Unlock()
	if p.bus == IDE {
		// The slot disk stays; only its backing file went back to the
		// placeholder.
		exec.CommandContext(ctx, "blockdev", "--flushbufs", "--rereadpt", p.node).Run()
		exec.CommandContext(ctx, "udevadm", "trigger", "--action=change", "--settle", p.node).Run()
		return settle(ctx)
	}
	sys := filepath.Join("/sys/class/block", filepath.Base(p.node))
	for {
		if _, err := os.Stat(sys); os.IsNotExist(err) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vmtest: unplug %s: %s still present: %w", id, p.node, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return settle(ctx)
}

var serialSafe = regexp.MustCompile(`[^A-Za-z0-9]`)

// serialFor derives the disk serial the guest finds a device by: readable,
// at most 20 characters (the ATA limit), and distinct for ids that differ
// only in punctuation or beyond the readable prefix.
func serialFor(id string) string {
	s := serialSafe.ReplaceAllString(id, "")
	if len(s) > 9 {
		s = s[:9]
	}
	return fmt.Sprintf("VMT%s%08X", s, crc32.ChecksumIEEE([]byte(id)))
}

// waitBlock waits for the whole-disk block device carrying serial: a USB
// disk's serial sits on its USB device (an ancestor in sysfs); SCSI and ATA
// disks report theirs in VPD page 0x80.
func waitBlock(ctx context.Context, serial string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	for {
		if node := findBlock(serial); node != "" {
			if _, err := os.Stat(node); err == nil {
				return node, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no block device with serial %s appeared: %w", serial, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func findBlock(serial string) string {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "sd") {
			continue
		}
		if vpd, err := os.ReadFile(filepath.Join("/sys/block", name, "device/vpd_pg80")); err == nil && len(vpd) > 4 {
			if strings.TrimSpace(string(bytes.Trim(vpd[4:], "\x00"))) == serial {
				return "/dev/" + name
			}
		}
		real, err := filepath.EvalSymlinks(filepath.Join("/sys/block", name))
		if err != nil {
			continue
		}
		for dir := real; dir != "/sys" && dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			if b, err := os.ReadFile(filepath.Join(dir, "serial")); err == nil && strings.TrimSpace(string(b)) == serial {
				return "/dev/" + name
			}
		}
	}
	return ""
}

func settle(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "udevadm", "settle", "--timeout=60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("udevadm settle: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// The control port is shared by every test in the guest binary. One
// reader goroutine hands each reply to the request with its sequence
// number, so a caller whose ctx ends can leave without confusing the next.
var ctl struct {
	sync.Mutex
	f       *os.File
	seq     uint64
	waiting map[uint64]chan ctlResponse
	err     error // set when the port fails; every later call gets it
}

func hostCall(ctx context.Context, req ctlRequest) (ctlResponse, error) {
	ctl.Lock()
	if ctl.f == nil && ctl.err == nil {
		f, err := os.OpenFile(filepath.Join("/dev/virtio-ports", ctlPortName), os.O_RDWR, 0)
		if err != nil {
			ctl.Unlock()
			return ctlResponse{}, fmt.Errorf("control port: %w", err)
		}
		ctl.f = f
		ctl.waiting = map[uint64]chan ctlResponse{}
		go readReplies(f)
	}
	if ctl.err != nil {
		err := ctl.err
		ctl.Unlock()
		return ctlResponse{}, err
	}
	ctl.seq++
	req.Seq = ctl.seq
	ch := make(chan ctlResponse, 1)
	ctl.waiting[req.Seq] = ch
	b, _ := json.Marshal(req)
	_, err := ctl.f.Write(append(b, '\n'))
	ctl.Unlock()
	defer func() {
		ctl.Lock()
		delete(ctl.waiting, req.Seq)
		ctl.Unlock()
	}()
	if err != nil {
		return ctlResponse{}, fmt.Errorf("control port: %w", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			ctl.Lock()
			err := ctl.err
			ctl.Unlock()
			return ctlResponse{}, err
		}
		if resp.Error != "" {
			return resp, fmt.Errorf("host: %s", resp.Error)
		}
		return resp, nil
	case <-ctx.Done():
		return ctlResponse{}, fmt.Errorf("waiting for the host: %w", ctx.Err())
	}
}

func readReplies(f *os.File) {
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		var resp ctlResponse
		if err == nil {
			err = json.Unmarshal(line, &resp)
		}
		ctl.Lock()
		if err != nil {
			ctl.err = fmt.Errorf("control port: %w", err)
			for seq, ch := range ctl.waiting {
				close(ch)
				delete(ctl.waiting, seq)
			}
			ctl.Unlock()
			return
		}
		if ch, ok := ctl.waiting[resp.Seq]; ok {
			ch <- resp
			delete(ctl.waiting, resp.Seq)
		}
		ctl.Unlock()
	}
}
