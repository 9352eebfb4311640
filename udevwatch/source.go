package udevwatch

import (
	"errors"
	"fmt"
)

// Netlink multicast groups of NETLINK_KOBJECT_UEVENT, as libudev names them.
const (
	groupKernel = 1
	groupUdev   = 2
)

// errOverrun: the kernel dropped messages because the socket's receive
// buffer was full (ENOBUFS). The watcher's view of the devices is stale.
var errOverrun = errors.New("netlink receive buffer overrun, uevents were lost")

// sender is what the kernel tells us about who sent a datagram.
type sender struct {
	pid     uint32 // netlink port id; 0 for the kernel
	groups  uint32 // multicast group the message went to; 0 for unicast
	hasCred bool
	uid     uint32 // from SCM_CREDENTIALS
}

// source is the one seam between the watcher and the kernel: it yields raw
// datagrams and who sent them. Tests feed recorded messages through it.
type source interface {
	recv() ([]byte, sender, error)
	// interrupt makes a blocked or later recv return promptly with an error.
	interrupt()
	Close() error
}

// trusted applies libudev's rules for whom to believe: only multicast, in
// kernel mode only from the kernel itself (port id 0), and always with
// root credentials. Anyone may send to a netlink multicast group, so
// without these checks any local process could fake a drive insertion.
func trusted(s sender, group uint32) error {
	switch {
	case s.groups == 0:
		return fmt.Errorf("unicast message from port %d", s.pid)
	case s.groups != group:
		return fmt.Errorf("message for group %d on a group %d listener", s.groups, group)
	case group == groupKernel && s.pid != 0:
		return fmt.Errorf("kernel-group message from user-space port %d", s.pid)
	case !s.hasCred:
		return fmt.Errorf("message from port %d without credentials", s.pid)
	case s.uid != 0:
		return fmt.Errorf("message from port %d sent by uid %d, not root", s.pid, s.uid)
	}
	return nil
}
