//go:build !linux

package rotate

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
)

// PrivateNamespaceEnv marks a process already re-executed into its own
// mount namespace by PrivateNamespaceCommand.
const PrivateNamespaceEnv = "EXTDRIVE_PRIVATE_NS"

// InPrivateNamespace reports whether this process was started by
// PrivateNamespaceCommand.
func InPrivateNamespace() bool { return false }

// PrivateNamespaceCommand needs Linux mount namespaces.
func PrivateNamespaceCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	return nil, fmt.Errorf("private mount namespaces are not supported on %s", runtime.GOOS)
}
