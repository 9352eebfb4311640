package blinksticktest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// uhid event types and sizes from <linux/uhid.h>. Events are packed
// structs: a u32 type, then the request.
const (
	uhidDestroy        = 1
	uhidStart          = 2
	uhidGetReport      = 9
	uhidGetReportReply = 10
	uhidCreate2        = 11
	uhidSetReport      = 13
	uhidSetReportReply = 14

	uhidFeatureReport = 0 // rtype
	uhidDataMax       = 4096
	// sizeof(struct uhid_event): type + the largest request, create2's
	// name[128] phys[64] uniq[64] rd_size bus vendor product version
	// country rd_data[4096].
	uhidEventSize = 4 + 128 + 64 + 64 + 2 + 2 + 4 + 4 + 4 + 4 + uhidDataMax

	busUSB = 3
	eio    = 5
)

// Emulator is a running emulated BlinkStick.
type Emulator struct {
	opts Options
	f    *os.File
	st   *state

	wmu     sync.Mutex // one event written at a time
	started chan struct{}
	done    chan struct{}
	errMu   sync.Mutex
	err     error
	closeMu sync.Once
}

// Start creates the emulated device and serves it from a goroutine until
// Close. It returns once the kernel has started the device.
func Start(ctx context.Context, opts *Options) (*Emulator, error) {
	o := opts.withDefaults()
	if len(o.Serial) >= 64 || len(o.Product) >= 128 || len(o.Descriptor) > uhidDataMax {
		return nil, fmt.Errorf("blinksticktest: serial, product or descriptor too long for uhid")
	}
	f, err := os.OpenFile(o.UHID, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("blinksticktest: %w (needs root and the uhid module)", err)
	}
	e := &Emulator{opts: o, f: f, st: newState(), started: make(chan struct{}), done: make(chan struct{})}

	ev := make([]byte, uhidEventSize)
	le := binary.LittleEndian // uhid is host-endian; the guest is x86
	le.PutUint32(ev[0:], uhidCreate2)
	copy(ev[4:4+128], o.Product)
	copy(ev[132:132+64], "blinksticktest/"+o.Serial)
	copy(ev[196:196+64], o.Serial)
	le.PutUint16(ev[260:], uint16(len(o.Descriptor)))
	le.PutUint16(ev[262:], busUSB)
	le.PutUint32(ev[264:], 0x20A0)
	le.PutUint32(ev[268:], 0x41E5)
	le.PutUint32(ev[272:], o.Version)
	le.PutUint32(ev[276:], 0)
	copy(ev[280:], o.Descriptor)
	if _, err := f.Write(ev); err != nil {
		f.Close()
		return nil, fmt.Errorf("blinksticktest: UHID_CREATE2: %w", err)
	}
	go e.serve()
	select {
	case <-e.started:
		return e, nil
	case <-e.done:
		return nil, fmt.Errorf("blinksticktest: device did not start: %v", e.Err())
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}

// serve reads kernel requests until the device is destroyed.
func (e *Emulator) serve() {
	defer close(e.done)
	le := binary.LittleEndian
	buf := make([]byte, uhidEventSize)
	startOnce := sync.Once{}
	for {
		n, err := e.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				e.setErr(err)
			}
			return
		}
		if n < 4 {
			continue
		}
		switch le.Uint32(buf) {
		case uhidStart:
			startOnce.Do(func() { close(e.started) })
		case uhidGetReport:
			// struct uhid_get_report_req { u32 id; u8 rnum; u8 rtype; }
			id, rnum, rtype := le.Uint32(buf[4:]), buf[8], buf[9]
			var data []byte
			if rtype == uhidFeatureReport {
				data = e.st.get(rnum)
			}
			reply := make([]byte, 4+4+2+2+len(data))
			le.PutUint32(reply[0:], uhidGetReportReply)
			le.PutUint32(reply[4:], id)
			if data == nil {
				le.PutUint16(reply[8:], eio)
			}
			le.PutUint16(reply[10:], uint16(len(data)))
			copy(reply[12:], data)
			e.write(reply)
		case uhidSetReport:
			// struct uhid_set_report_req { u32 id; u8 rnum; u8 rtype; u16 size; u8 data[]; }
			id, rtype, size := le.Uint32(buf[4:]), buf[9], int(le.Uint16(buf[10:]))
			if size > uhidDataMax {
				size = uhidDataMax
			}
			ok := rtype == uhidFeatureReport && e.st.set(buf[12:12+size])
			reply := make([]byte, 4+4+2)
			le.PutUint32(reply[0:], uhidSetReportReply)
			le.PutUint32(reply[4:], id)
			switch {
			case e.opts.FailSet != 0:
				le.PutUint16(reply[8:], e.opts.FailSet)
			case !ok:
				le.PutUint16(reply[8:], eio)
			}
			e.write(reply)
		}
	}
}

func (e *Emulator) write(b []byte) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if _, err := e.f.Write(b); err != nil && !errors.Is(err, os.ErrClosed) {
		e.setErr(err)
	}
}

func (e *Emulator) setErr(err error) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

// Err returns the first error the serving goroutine hit, if any.
func (e *Emulator) Err() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.err
}

// Hidraw waits until the kernel has made the emulator's /dev/hidrawN node
// and returns its path. It finds the node through sysfs by serial, so
// several emulators can run at once.
func (e *Emulator) Hidraw(ctx context.Context) (string, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ms, _ := filepath.Glob("/sys/class/hidraw/hidraw*/device/uevent")
		for _, m := range ms {
			b, err := os.ReadFile(m)
			if err != nil || !strings.Contains(string(b), "\nHID_UNIQ="+e.opts.Serial+"\n") {
				continue
			}
			node := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(m)))
			if _, err := os.Stat(node); err == nil {
				return node, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("blinksticktest: no hidraw node for %s: %w", e.opts.Serial, ctx.Err())
		case <-tick.C:
		}
	}
}

// Close destroys the device (the kernel removes its hidraw node, as on
// unplugging) and stops the emulator.
func (e *Emulator) Close() error {
	var err error
	e.closeMu.Do(func() {
		ev := make([]byte, 4)
		binary.LittleEndian.PutUint32(ev, uhidDestroy)
		e.wmu.Lock()
		_, err = e.f.Write(ev)
		e.wmu.Unlock()
		if cerr := e.f.Close(); err == nil {
			err = cerr
		}
		<-e.done
	})
	return err
}
