package udevwatch

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

type netlinkConn struct {
	f   *os.File
	buf []byte
	oob []byte
}

func openNetlink(group uint32, rcvbuf int) (source, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	fail := func(op string, err error) (source, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink %s: %w", op, err)
	}
	// SO_PASSCRED makes the kernel attach the sender's credentials, which
	// is how a udev-mode listener tells systemd-udevd from any process
	// that can multicast to group 2.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fail("SO_PASSCRED", err)
	}
	// A plug-in burst is dozens of messages; a big buffer makes overruns
	// rare. FORCE needs CAP_NET_ADMIN, so fall back to the capped option.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: group}); err != nil {
		return fail("bind", err)
	}
	// A non-blocking fd handed to os.NewFile joins Go's poller, so reads
	// park the goroutine and deadlines can interrupt them.
	return &netlinkConn{
		f:   os.NewFile(uintptr(fd), "netlink-uevent"),
		buf: make([]byte, maxMessageSize+1),
		oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)),
	}, nil
}

func (c *netlinkConn) recv() ([]byte, sender, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, sender{}, err
	}
	var (
		n, oobn, flags int
		from           unix.Sockaddr
		rerr           error
	)
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, from, rerr = unix.Recvmsg(int(fd), c.buf, c.oob, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return nil, sender{}, err
	}
	if errors.Is(rerr, unix.ENOBUFS) {
		return nil, sender{}, errOverrun
	}
	if rerr != nil {
		return nil, sender{}, fmt.Errorf("netlink recvmsg: %w", rerr)
	}
	var s sender
	if nl, ok := from.(*unix.SockaddrNetlink); ok {
		s.pid, s.groups = nl.Pid, nl.Groups
	}
	if cmsgs, err := unix.ParseSocketControlMessage(c.oob[:oobn]); err == nil {
		for i := range cmsgs {
			if cred, err := unix.ParseUnixCredentials(&cmsgs[i]); err == nil {
				s.hasCred, s.uid = true, cred.Uid
			}
		}
	}
	if flags&unix.MSG_TRUNC != 0 {
		return nil, s, malformed("message from port %d longer than %d bytes", s.pid, len(c.buf))
	}
	if flags&unix.MSG_CTRUNC != 0 {
		s.hasCred = false // a cut-off control message proves nothing
	}
	return append([]byte(nil), c.buf[:n]...), s, nil
}

func (c *netlinkConn) interrupt() { c.f.SetReadDeadline(time.Unix(1, 0)) }

func (c *netlinkConn) Close() error { return c.f.Close() }
