package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const qemuBinary = "qemu-system-x86_64"

// vmSlot takes one of EXTDRIVE_VM_JOBS host-wide slots (flock on a file in
// the cache), so parallel `go test` runs of many packages don't start more
// VMs than the two shared cores can carry. Waiters queue first come, first
// served: each holds a locked ticket file, and only the oldest live tickets
// may take a free slot, so no run starves while others keep polling. logf
// reports waiting.
func vmSlot(ctx context.Context, cache string, logf func(string, ...any)) (release func(), err error) {
	jobs := 1
	if v, err := strconv.Atoi(os.Getenv("EXTDRIVE_VM_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	qdir := filepath.Join(cache, "queue")
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return nil, err
	}
	// The ticket is locked before it gets its queue name, so no other
	// waiter can mistake it for the leftover of a dead process.
	tmp, err := os.CreateTemp(qdir, ".new-")
	if err != nil {
		return nil, err
	}
	defer tmp.Close()
	if err := unix.Flock(int(tmp.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	ticket := fmt.Sprintf("%020d-%d", time.Now().UnixNano(), os.Getpid())
	if err := os.Rename(tmp.Name(), filepath.Join(qdir, ticket)); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	defer os.Remove(filepath.Join(qdir, ticket))

	start := time.Now()
	lastAhead := -1
	for {
		ahead := liveTicketsBefore(qdir, ticket)
		if ahead < jobs {
			for i := 0; i < jobs; i++ {
				f, err := os.OpenFile(filepath.Join(cache, fmt.Sprintf("vm-slot-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o644)
				if err != nil {
					return nil, err
				}
				if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
					if lastAhead >= 0 {
						logf("vmtest: got a VM slot after waiting %v", time.Since(start).Round(time.Second))
					}
					return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
				}
				f.Close()
			}
		}
		if lastAhead < 0 {
			logf("vmtest: waiting for a VM slot (EXTDRIVE_VM_JOBS=%d; %d run(s) queued ahead of this one; queue in %s)", jobs, ahead, qdir)
		}
		lastAhead = ahead
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vmtest: waited %v for a VM slot (%d run(s) still ahead; raise go test -timeout or EXTDRIVE_VM_JOBS): %w",
				time.Since(start).Round(time.Second), ahead, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// liveTicketsBefore counts the queue tickets older than ticket whose owner
// still holds their lock, deleting those of dead owners.
func liveTicketsBefore(qdir, ticket string) int {
	entries, _ := os.ReadDir(qdir)
	n := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".new-") {
			// A ticket being created is locked; an unlocked one was left
			// by a process that died in between.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
				if f, err := os.Open(filepath.Join(qdir, name)); err == nil {
					if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
						os.Remove(filepath.Join(qdir, name))
					}
					f.Close()
				}
			}
			continue
		}
		if name >= ticket {
			continue
		}
		f, err := os.Open(filepath.Join(qdir, name))
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(filepath.Join(qdir, name))
		} else {
			n++
		}
		f.Close()
	}
	return n
}

// accel decides between KVM and TCG. /dev/kvm can exist and still hang
// (nested virtualisation), so KVM is used only after a probe boot reached
// userspace within a short timeout; the verdict is cached per kernel, QEMU
// binary and host kernel.
func accel(ctx context.Context, cache, kernel, initrd string, logf func(string, ...any)) string {
	switch v := os.Getenv("EXTDRIVE_VM_ACCEL"); v {
	case "kvm", "tcg":
		return v
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		return "tcg"
	} else {
		f.Close()
	}
	qemu, err := exec.LookPath(qemuBinary)
	if err != nil {
		return "tcg"
	}
	h, sum := newKey()
	h.str(harnessVersion)
	h.str(KernelVersion)
	if err := h.file(qemu); err != nil {
		return "tcg"
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	h.str(unix.ByteSliceToString(uts.Release[:]))
	verdictFile := filepath.Join(cache, "kvm-"+sum()+".verdict")
	if b, err := os.ReadFile(verdictFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	verdict := "tcg"
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, qemu, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-display", "none",
		"-no-reboot", "-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 vmtest.probe")
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.Output()
	if strings.Contains(string(out), markerProbe) {
		verdict = "kvm"
	}
	logf("vmtest: KVM probe: using %s (verdict cached in %s)", verdict, verdictFile)
	os.WriteFile(verdictFile, []byte(verdict+"\n"), 0o644)
	return verdict
}

// vm is one running QEMU.
type vm struct {
	cmd     *exec.Cmd
	qmp     *qmpClient
	out     net.Conn // guest test output (virtio-serial port)
	ctl     net.Conn // guest requests (virtio-serial port)
	console *consoleLog
	sockDir string
	started time.Time
	exited  chan struct{}
	waitErr error
}

// vmConfig is what bootVM needs.
type vmConfig struct {
	kernel, initrd, share string
	accel                 string
	memoryMB, cpus        int
	logConsole            func(string) // nil: keep only the tail
}

func bootVM(ctx context.Context, c vmConfig) (*vm, error) {
	qemu, err := exec.LookPath(qemuBinary)
	if err != nil {
		return nil, fmt.Errorf("%w: %s not found (apt-get install qemu-system-x86)", errUnavailable, qemuBinary)
	}
	// Unix socket paths are limited to 108 bytes: keep them short.
	sockDir, err := os.MkdirTemp("", "vmt")
	if err != nil {
		return nil, err
	}
	v := &vm{sockDir: sockDir, exited: make(chan struct{}), console: newConsoleLog(consoleTailLen, c.logConsole)}
	fail := func(err error) (*vm, error) {
		v.close()
		return nil, err
	}
	// The host listens and QEMU connects, so nothing the guest writes
	// before the host is ready can be lost.
	outL, err := net.Listen("unix", filepath.Join(sockDir, "out"))
	if err != nil {
		return fail(err)
	}
	defer outL.Close()
	ctlL, err := net.Listen("unix", filepath.Join(sockDir, "ctl"))
	if err != nil {
		return fail(err)
	}
	defer ctlL.Close()
	cpu := "max"
	if c.accel == "kvm" {
		cpu = "host"
	}
	args := []string{
		"-accel", c.accel, "-cpu", cpu, "-m", strconv.Itoa(c.memoryMB), "-smp", strconv.Itoa(c.cpus),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-kernel", c.kernel, "-initrd", c.initrd,
		// The crypto self-tests (Debian enables them) cost seconds of
		// emulated CPU at every boot and test the kernel, not our code.
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic cryptomgr.notests=1",
		"-qmp", "unix:" + filepath.Join(sockDir, "qmp") + ",server=on,wait=off",
		"-device", "virtio-rng-pci",
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "socket,id=out,path=" + filepath.Join(sockDir, "out"),
		"-device", "virtserialport,bus=vser.0,chardev=out,name=" + outPortName,
		"-chardev", "socket,id=ctl,path=" + filepath.Join(sockDir, "ctl"),
		"-device", "virtserialport,bus=vser.0,chardev=ctl,name=" + ctlPortName,
		"-fsdev", "local,id=share,path=" + c.share + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=share,mount_tag=" + shareTag,
		"-device", "qemu-xhci,id=xhci",
		"-device", "ahci,id=ahci",
		"-device", "virtio-scsi-pci,id=scsi",
	}
	args = append(args, ideSlotArgs(sockDir)...)
	v.cmd = exec.Command(qemu, args...)
	// If the test binary dies (go test -timeout, ^C), QEMU must not live
	// on burning the shared cores after its slot lock is gone.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	stderr := v.console.writer("qemu: ")
	v.cmd.Stderr = stderr
	v.started = time.Now()
	// Pdeathsig fires when the starting thread exits; keep this goroutine
	// on one thread while starting so it is an ordinary runtime thread.
	runtime.LockOSThread()
	err = v.cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fail(fmt.Errorf("vmtest: start %s: %w", qemu, err))
	}
	go func() {
		v.console.consume(stdout)
		v.waitErr = v.cmd.Wait()
		stderr.Close()
		close(v.exited)
	}()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v.out, err = acceptCtx(actx, outL, v.exited); err != nil {
		return fail(fmt.Errorf("vmtest: QEMU did not connect its output port: %w", err))
	}
	if v.ctl, err = acceptCtx(actx, ctlL, v.exited); err != nil {
		return fail(fmt.Errorf("vmtest: QEMU did not connect its control port: %w", err))
	}
	if v.qmp, err = dialQMP(actx, filepath.Join(sockDir, "qmp")); err != nil {
		return fail(err)
	}
	return v, nil
}

func acceptCtx(ctx context.Context, l net.Listener, exited <-chan struct{}) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-exited:
		l.Close()
		return nil, fmt.Errorf("QEMU exited")
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	}
}

// kill stops QEMU (if still running) and waits for it.
func (v *vm) kill() {
	if v.cmd != nil && v.cmd.Process != nil {
		select {
		case <-v.exited:
		default:
			v.cmd.Process.Kill()
			<-v.exited
		}
	}
}

func (v *vm) close() {
	v.kill()
	for _, c := range []io.Closer{v.out, v.ctl} {
		if c != nil && c != (net.Conn)(nil) {
			c.Close()
		}
	}
	if v.qmp != nil {
		v.qmp.Close()
	}
	if v.sockDir != "" {
		os.RemoveAll(v.sockDir)
	}
}

// consoleLog keeps the last lines of the guest console (kernel messages,
// init's markers, QEMU's own errors) for failure messages, and notes the
// markers init prints.
type consoleLog struct {
	mu      sync.Mutex
	n       int
	lines   []string
	logLine func(string)
	begin   time.Time // when init printed markerBegin
	exit    string    // what init printed after markerExit
}

func newConsoleLog(n int, logLine func(string)) *consoleLog {
	return &consoleLog{n: n, logLine: logLine}
}

func (c *consoleLog) add(line string) {
	line = strings.TrimRight(line, "\r")
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Contains(line, markerBegin) && c.begin.IsZero() {
		c.begin = time.Now()
	}
	if _, after, ok := strings.Cut(line, markerExit); ok {
		c.exit = strings.TrimSpace(after)
	}
	c.lines = append(c.lines, line)
	if len(c.lines) > c.n {
		c.lines = c.lines[len(c.lines)-c.n:]
	}
	if c.logLine != nil {
		c.logLine(line)
	}
}

func (c *consoleLog) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c.add(sc.Text())
	}
}

// writer returns an io.Writer whose lines go to the log with a prefix.
func (c *consoleLog) writer(prefix string) io.WriteCloser {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.add(prefix + sc.Text())
		}
	}()
	return pw
}

func (c *consoleLog) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return "(the guest console printed nothing)"
	}
	return "last guest console lines:\n\t" + strings.Join(c.lines, "\n\t")
}

func (c *consoleLog) markers() (begin time.Time, exit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.begin, c.exit
}
