//go:build !unix

package rotate

import "os/exec"

func setProcessGroup(c *exec.Cmd) {}

func killProcessGroup(c *exec.Cmd) error {
	if c.Process == nil {
		return nil
	}
	return c.Process.Kill()
}
