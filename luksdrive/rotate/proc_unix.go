//go:build unix

package rotate

import (
	"os/exec"
	"syscall"
	"time"
)

// setProcessGroup runs c in its own process group; for a command made by
// exec.CommandContext, cancelling kills the whole group.
func setProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.Cancel != nil {
		c.Cancel = func() error { return killProcessGroup(c) }
	}
	// A killed shell's grandchildren may hold the output pipe open.
	c.WaitDelay = 5 * time.Second
}

func killProcessGroup(c *exec.Cmd) error {
	if c.Process == nil {
		return nil
	}
	return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
}
