package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Run boots the VM and runs the calling package's TestGuest* tests in it,
// each reported as a subtest of t. See the package documentation.
func Run(t *testing.T, opts *Options) {
	t.Helper()
	if os.Getenv(guestEnv) == "1" {
		t.Skip("vmtest: already inside the VM")
	}
	o := opts.withDefaults()
	r := &runner{t: t, opts: o, ci: os.Getenv("CI") == "true"}
	if err := r.run(); err != nil {
		if errors.Is(err, errUnavailable) && !r.ci {
			t.Skipf("vmtest: %v", strings.TrimPrefix(err.Error(), errUnavailable.Error()+": "))
		}
		t.Fatal(err)
	}
}

type runner struct {
	t    *testing.T
	opts Options
	ci   bool
}

func (r *runner) logf(format string, args ...any) { r.t.Logf(format, args...) }

func (r *runner) run() error {
	t := r.t
	if _, err := exec.LookPath(qemuBinary); err != nil {
		return fmt.Errorf("%w: %s not found (apt-get install qemu-system-x86)", errUnavailable, qemuBinary)
	}
	// Preparation and waiting for a VM slot are bounded only by the test
	// binary's deadline; Options.Timeout starts when the VM boots.
	prepCtx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		prepCtx, cancel = context.WithDeadline(prepCtx, dl.Add(-15*time.Second))
		defer cancel()
	}
	cache, err := cacheDir()
	if err != nil {
		return err
	}
	kernelRoot, err := kernelTree(cache)
	if err != nil {
		return err
	}
	udevDeb, err := findDeb(cache, "udev")
	if err != nil {
		return err
	}
	udevRoot, err := unpackDeb(cache, udevDeb, nil)
	if err != nil {
		return err
	}
	initrd, err := initramfs(cache, kernelRoot, udevRoot)
	if err != nil {
		return err
	}
	kernel := filepath.Join(kernelRoot, "boot", "vmlinuz-"+KernelVersion)

	share := t.TempDir()
	if err := r.buildGuestFiles(prepCtx, share, initrd); err != nil {
		return err
	}

	release, err := vmSlot(prepCtx, cache, r.logf)
	if err != nil {
		return err
	}
	defer release()
	acc := accel(prepCtx, cache, kernel, initrd, r.logf)

	timeout := r.opts.Timeout
	if dl, ok := t.Deadline(); ok {
		// Leave time to report before the test binary's own alarm fires.
		if left := time.Until(dl) - 15*time.Second; left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return fmt.Errorf("vmtest: no time left before the test deadline (go test -timeout)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var logConsole func(string)
	if os.Getenv("EXTDRIVE_VM_CONSOLE") == "1" {
		logConsole = func(l string) { t.Log("console: " + l) }
	}
	v, err := bootVM(ctx, vmConfig{kernel: kernel, initrd: initrd, share: share, accel: acc,
		memoryMB: r.opts.MemoryMB, cpus: r.opts.CPUs, logConsole: logConsole})
	if err != nil {
		return err
	}
	defer v.close()

	hw := &hostHardware{qmp: v.qmp, share: share, devs: map[string]string{}}
	go hw.serve(ctx, v.ctl)

	d := newDispatcher()
	go d.feed(v.out)
	go func() {
		select {
		case <-ctx.Done():
			d.abort(fmt.Sprintf("vmtest: the VM run exceeded its timeout of %v", timeout))
			v.kill()
		case <-v.exited:
		}
	}()
	go func() {
		<-v.exited
		// QEMU closing the port ends feed; this catches a QEMU that dies
		// while the port stays open.
		d.abort("vmtest: QEMU exited")
	}()

	ran := 0
	for name := range d.starts {
		ran++
		q := d.queue(name)
		t.Run(name, func(st *testing.T) { r.report(st, q, v) })
	}
	v.kill()
	begin, exit := v.console.markers()
	if !begin.IsZero() {
		t.Logf("vmtest: %s guest booted in %v; whole VM run %v", acc, begin.Sub(v.started).Round(100*time.Millisecond), time.Since(v.started).Round(100*time.Millisecond))
	}
	code := exit
	if b, err := os.ReadFile(filepath.Join(share, exitCodeFile)); err == nil {
		code = strings.TrimSpace(string(b))
	}
	if out := d.packageOutput(); len(out) > 1 || len(out) == 1 && out[0] != "PASS" && out[0] != "FAIL" {
		// A test that panics is reported FAIL before the panic is printed,
		// so the trace lands here rather than in its subtest.
		t.Log("vmtest: guest output outside any test:\n\t" + strings.Join(out, "\n\t"))
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("vmtest: the VM run exceeded its timeout of %v\n%s", timeout, v.console.tail())
	case begin.IsZero():
		return fmt.Errorf("vmtest: the guest never reached its tests\n%s", v.console.tail())
	case code == "":
		return fmt.Errorf("vmtest: the guest reported no exit status (crash or lost console)\n%s", v.console.tail())
	case code != "0" && !t.Failed():
		return fmt.Errorf("vmtest: guest test binary exited with status %s\n%s", code, v.console.tail())
	case ran == 0:
		t.Log("vmtest: no guest test matched " + guestRunPattern(runFlag()))
	}
	return nil
}

// report replays one guest test's events into its host subtest.
func (r *runner) report(st *testing.T, q *eventQueue, v *vm) {
	for {
		ev, ok := q.next()
		if !ok {
			st.Errorf("%s\n%s", q.abortReason(), v.console.tail())
			return
		}
		switch ev.Kind {
		case evPause:
			st.Parallel()
		case evOutput:
			st.Log(ev.Line)
		case evEnd:
			switch ev.Result {
			case "FAIL":
				st.Fail()
			case "SKIP":
				if r.ci {
					st.Errorf("vmtest: guest test skipped under CI=true; real-kernel tests must run in CI")
					return
				}
				st.SkipNow()
			}
			return
		}
	}
}

// runFlag returns the host's -test.run value.
func runFlag() string {
	if f := flag.Lookup("test.run"); f != nil {
		return f.Value.String()
	}
	return ""
}

// buildGuestFiles fills the share: the package's guest test binary, the
// requested commands and tools, the libraries they need beyond the
// initramfs's, and the script init runs.
func (r *runner) buildGuestFiles(ctx context.Context, share, initrd string) error {
	for _, d := range []string{"bin", "lib", imagesSubdir} {
		if err := os.MkdirAll(filepath.Join(share, d), 0o755); err != nil {
			return err
		}
	}
	testBin := filepath.Join(share, "guest.test")
	// go test runs the test binary in the package directory, so "." is
	// the package under test.
	cmd := exec.CommandContext(ctx, goTool(), "test", "-c", "-tags", "vmguest", "-o", testBin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vmtest: go test -c -tags vmguest: %v\n%s", err, out)
	}
	if _, err := os.Stat(testBin); err != nil {
		return fmt.Errorf("vmtest: go test -c produced no binary (no test files with the vmguest tag?): %w", err)
	}
	pkgs := []string{"."}
	for _, pkg := range r.opts.Commands {
		pkgs = append(pkgs, pkg)
	}
	if err := recordGuestSources(ctx, pkgs); err != nil {
		return err
	}
	bins := []string{testBin}
	for name, pkg := range r.opts.Commands {
		out := filepath.Join(share, "bin", name)
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("vmtest: go build %s: %v\n%s", pkg, err, b)
		}
	}
	for _, tool := range r.opts.Tools {
		p, err := lookTool(tool)
		if err != nil {
			return fmt.Errorf("vmtest: Options.Tools: %s not found on the host", tool)
		}
		dst := filepath.Join(share, "bin", filepath.Base(p))
		if err := copyFile(dst, p, 0o755); err != nil {
			return err
		}
		bins = append(bins, p)
	}
	// Libraries a binary needs beyond what the initramfs has go into the
	// share, found through LD_LIBRARY_PATH.
	have, err := cpioLibNames(initrd)
	if err != nil {
		return err
	}
	for _, b := range bins {
		libs, err := sharedLibs(b)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if have[strings.TrimPrefix(l, "/")] {
				continue
			}
			if err := copyFile(filepath.Join(share, "lib", filepath.Base(l)), l, 0o755); err != nil {
				return err
			}
		}
	}
	args := []string{"-test.v", "-test.run", guestRunPattern(runFlag()), "-test.skip", guestSkipPattern,
		"-test.timeout", guestTimeout(r.opts.Timeout).String()}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	ci := ""
	if r.ci {
		ci = " CI=true"
	}
	script := fmt.Sprintf(`export %s=1 TMPDIR=/tmp HOME=/root PATH=%[2]s/bin:$PATH LD_LIBRARY_PATH=%[2]s/lib%[3]s
OUT=/dev/console
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = %[4]s ] && OUT=/dev/${p##*/}
done
cd /tmp
%[2]s/guest.test %[5]s >$OUT 2>&1
code=$?
echo $code > %[2]s/%[6]s
sync
echo %[7]s$code
poweroff -f
`, guestEnv, guestShare, ci, outPortName, strings.Join(quoted, " "), exitCodeFile, markerExit)
	return os.WriteFile(filepath.Join(share, "run.sh"), []byte(script), 0o644)
}

// guestTimeout is the guest binary's -test.timeout: short enough that a
// hung guest test panics with its goroutine dump (streamed to the host)
// before the host gives up on the whole VM, boot included.
func guestTimeout(vm time.Duration) time.Duration {
	if d := vm - 45*time.Second; d > 30*time.Second {
		return d
	}
	return vm * 2 / 3
}

// recordGuestSources opens every file of the main module's packages that
// the guest binary and Commands are built from. go test caches a passing
// result keyed on the files the test opened, and the guest side is built
// by a child process, so without this a changed *_vm_test.go would be
// answered from the cache.
func recordGuestSources(ctx context.Context, pkgs []string) error {
	args := append([]string{"list", "-deps", "-test", "-tags", "vmguest", "-f",
		"{{if and (not .Standard) .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}"}, pkgs...)
	out, err := exec.CommandContext(ctx, goTool(), args...).Output()
	if err != nil {
		return fmt.Errorf("vmtest: go list %s: %v", strings.Join(pkgs, " "), err)
	}
	seen := map[string]bool{}
	for _, dir := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
					f.Close()
				}
			}
		}
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// goTool returns the go command: the one on PATH (go test puts its own
// GOROOT/bin first), else the one of the GOROOT this binary was built with.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// cpioLibNames lists the shared-library paths an initramfs holds.
func cpioLibNames(initrd string) (map[string]bool, error) {
	f, err := os.Open(initrd)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := readCPIONames(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("vmtest: read %s: %w", initrd, err)
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m, nil
}

// hostHardware carries out the guest's requests with QMP.
type hostHardware struct {
	qmp   *qmpClient
	share string
	mu    sync.Mutex
	devs  map[string]string // device id -> bus
}

var validID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,23}$`)

func (h *hostHardware) serve(ctx context.Context, conn net.Conn) {
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		var req ctlRequest
		resp := ctlResponse{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = fmt.Sprintf("vmtest host: bad request %q: %v", sc.Text(), err)
		} else {
			resp.Seq = req.Seq
			serial, err := h.handle(ctx, req)
			if err != nil {
				resp.Error = err.Error()
			}
			resp.Serial = serial
		}
		b, _ := json.Marshal(resp)
		if _, err := conn.Write(append(b, '\n')); err != nil {
			return
		}
	}
}

func (h *hostHardware) handle(ctx context.Context, req ctlRequest) (serial string, err error) {
	if err := h.handleReq(ctx, req, &serial); err != nil {
		return "", err
	}
	return serial, nil
}

func (h *hostHardware) handleReq(ctx context.Context, req ctlRequest, serial *string) error {
	if !validID.MatchString(req.ID) {
		return fmt.Errorf("invalid device id %q: use 1-24 letters, digits, '-', '_' or '.', starting with a letter", req.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node := "n-" + req.ID
	switch req.Op {
	case "attach":
		img := filepath.Join(h.share, filepath.FromSlash(req.Image))
		if rel, err := filepath.Rel(h.share, img); err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("image %q is outside the shared directory", req.Image)
		}
		if _, err := os.Stat(img); err != nil {
			return fmt.Errorf("image: %v", err)
		}
		h.mu.Lock()
		_, busy := h.devs[req.ID]
		h.mu.Unlock()
		if busy {
			return fmt.Errorf("device id %q is already attached", req.ID)
		}
		var dev map[string]any
		switch req.Bus {
		case "usb":
			dev = map[string]any{"driver": "usb-storage", "bus": "xhci.0", "removable": true}
		case "scsi":
			dev = map[string]any{"driver": "scsi-hd", "bus": "scsi.0"}
		case "ide":
			slot, err := h.attachIDE(ctx, req, img)
			*serial = ideSlotSerial(slot)
			return err
		default:
			return fmt.Errorf("unknown bus %q", req.Bus)
		}
		if _, err := h.qmp.execute(ctx, "blockdev-add", map[string]any{
			"driver": "raw", "node-name": node,
			"file": map[string]any{"driver": "file", "filename": img},
		}); err != nil {
			return err
		}
		dev["drive"] = node
		dev["id"] = req.ID
		dev["serial"] = req.Serial
		if _, err := h.qmp.execute(ctx, "device_add", dev); err != nil {
			h.qmp.execute(ctx, "blockdev-del", map[string]any{"node-name": node})
			return err
		}
		h.mu.Lock()
		h.devs[req.ID] = req.Bus
		h.mu.Unlock()
		*serial = req.Serial
		return nil
	case "detach":
		h.mu.Lock()
		bus, ok := h.devs[req.ID]
		h.mu.Unlock()
		if !ok {
			return fmt.Errorf("device id %q is not attached", req.ID)
		}
		if strings.HasPrefix(bus, "ide") {
			return h.detachIDE(ctx, req.ID)
		}
		if err := h.qmp.deviceDel(ctx, req.ID); err != nil {
			return err
		}
		if _, err := h.qmp.execute(ctx, "blockdev-del", map[string]any{"node-name": node}); err != nil {
			return err
		}
		h.mu.Lock()
		delete(h.devs, req.ID)
		h.mu.Unlock()
		return nil
	}
	return fmt.Errorf("unknown request %q", req.Op)
}

// dispatcher routes the guest's test output to one queue per top-level test.
type dispatcher struct {
	starts chan string
	mu     sync.Mutex
	queues map[string]*eventQueue
	pkg    []string // output outside any test
	reason string
	done   bool
}

func newDispatcher() *dispatcher {
	return &dispatcher{starts: make(chan string, 1024), queues: map[string]*eventQueue{}}
}

func (d *dispatcher) queue(name string) *eventQueue {
	d.mu.Lock()
	defer d.mu.Unlock()
	q, ok := d.queues[name]
	if !ok {
		q = &eventQueue{}
		q.cond = sync.NewCond(&q.mu)
		d.queues[name] = q
	}
	return q
}

func (d *dispatcher) feed(conn net.Conn) {
	var p testParser
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		ev := p.parse(sc.Text())
		if ev.Test == "" {
			d.mu.Lock()
			d.pkg = append(d.pkg, ev.Line)
			d.mu.Unlock()
			continue
		}
		q := d.queue(ev.Test)
		if ev.Kind == evRun {
			d.mu.Lock()
			if !d.done {
				d.starts <- ev.Test
			}
			d.mu.Unlock()
		}
		q.push(ev)
	}
	d.abort("vmtest: the guest's test output ended before this test finished (guest panic, crash or poweroff)")
}

// abort ends every unfinished queue with reason; the first reason wins.
func (d *dispatcher) abort(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	d.done = true
	d.reason = reason
	close(d.starts)
	for _, q := range d.queues {
		q.close(reason)
	}
}

func (d *dispatcher) packageOutput() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.pkg...)
}

// eventQueue is an unbounded FIFO: the reader must never block on a test
// the host has not started reporting yet.
type eventQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []event
	closed bool
	reason string
}

func (q *eventQueue) push(ev event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *eventQueue) close(reason string) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		q.reason = reason
	}
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *eventQueue) next() (event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return event{}, false
	}
	ev := q.items[0]
	q.items = q.items[1:]
	return ev, true
}

func (q *eventQueue) abortReason() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reason
}
