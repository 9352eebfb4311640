package rotate

import (
	"context"
	"os"
	"os/exec"
	"syscall"
)

// PrivateNamespaceEnv marks a process already re-executed into its own
// mount namespace by PrivateNamespaceCommand.
const PrivateNamespaceEnv = "EXTDRIVE_PRIVATE_NS"

// InPrivateNamespace reports whether this process was started by
// PrivateNamespaceCommand.
func InPrivateNamespace() bool { return os.Getenv(PrivateNamespaceEnv) == "1" }

// PrivateNamespaceCommand returns a command that runs this executable
// again with args in a new mount namespace whose mounts do not propagate
// back to the host (Go's runtime makes "/" recursively private in the
// child before exec). Every mount the job makes is then invisible to other
// processes, and vanishes with the job even if it dies.
//
// A re-exec rather than unshare(2) in this process: unshare applies to one
// thread, and the copy engine's goroutines run on many.
func PrivateNamespaceCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, exe, args...)
	c.Env = append(os.Environ(), PrivateNamespaceEnv+"=1")
	c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	// Let the child finish its cleanup (unmount, lock) on SIGTERM rather
	// than being killed with the drive mounted.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	return c, nil
}
