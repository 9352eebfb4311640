package rotate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// runCommand runs a hook or the failure command with a hard timeout. On
// timeout the whole process group is killed: a hook is often a shell
// script whose children would otherwise keep the drive busy.
func runCommand(ctx context.Context, what string, cmd config.Command, timeout time.Duration, env []string, stdin io.Reader, out io.Writer) error {
	if len(cmd) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Stdin = stdin
	c.Stdout, c.Stderr = out, out
	setProcessGroup(c)
	start := time.Now()
	err := c.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s %s did not finish within %v and was killed", ErrHook, what, cmd, timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s: %w", what, cmd, ctx.Err())
	}
	return fmt.Errorf("%w: %s %s failed after %v: %v", ErrHook, what, cmd, time.Since(start).Round(time.Millisecond), err)
}

// readyLine is what the holder process prints once the wrapper has run it,
// i.e. once the wrapper holds its lock.
const readyLine = "extdrive-wrapper-ready"

// holder is a running wrapper command holding its lock for the copy.
type holder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed when the wrapper has exited; err is then set
	err    error
}

// startWrapper runs wrapper + [sh -c "echo ready; cat"], waits until
// the shell prints the ready line (so the wrapper holds its lock), and
// returns. The in-process copy then runs while the wrapper is held; the
// lock is released by closing the shell's stdin. If the wrapper dies
// first, h.exited is closed so the copy can be stopped.
func startWrapper(ctx context.Context, wrapper config.Command, timeout time.Duration, out io.Writer) (h *holder, err error) {
	args := append(append([]string{}, wrapper[1:]...), "/bin/sh", "-c", "echo "+readyLine+"; exec cat >/dev/null")
	c := exec.Command(wrapper[0], args...)
	c.Stderr = out
	setProcessGroup(c)
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("%w: wrapper %s: %v", ErrHook, wrapper, err)
	}
	h = &holder{cmd: c, stdin: stdin, exited: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			line := sc.Text()
			if !ok && strings.TrimSpace(line) == readyLine {
				ok = true
				ready <- true
				continue
			}
			fmt.Fprintln(out, line)
		}
		if !ok {
			ready <- false
		}
		h.err = c.Wait()
		close(h.exited)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ok := <-ready:
		if ok {
			return h, nil
		}
		<-h.exited
		err := h.err
		return nil, fmt.Errorf("%w: wrapper %s exited before running the copy: %v", ErrHook, wrapper, err)
	case <-t.C:
		h.kill()
		return nil, fmt.Errorf("%w: wrapper %s did not start the copy within %v (is its lock held by another job?)", ErrHook, wrapper, timeout)
	case <-ctx.Done():
		h.kill()
		return nil, ctx.Err()
	}
}

// release lets the holder shell exit and waits for the wrapper.
func (h *holder) release(timeout time.Duration) error {
	h.stdin.Close()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-h.exited:
		if h.err != nil {
			return fmt.Errorf("%w: wrapper %s: %v", ErrHook, h.cmd.Args, h.err)
		}
		return nil
	case <-t.C:
		h.kill()
		return fmt.Errorf("%w: wrapper %s did not exit within %v after the copy", ErrHook, h.cmd.Args, timeout)
	}
}

func (h *holder) kill() {
	killProcessGroup(h.cmd)
	<-h.exited
}
