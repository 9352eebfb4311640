package spindown

import (
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive"
)

// sgIOHdr is struct sg_io_hdr from <scsi/sg.h>. Go's natural alignment
// gives the C layout on both 64-bit and 32-bit ARM (Raspberry Pi).
type sgIOHdr struct {
	interfaceID    int32
	dxferDirection int32
	cmdLen         uint8
	mxSbLen        uint8
	iovecCount     uint16
	dxferLen       uint32
	dxferp         unsafe.Pointer
	cmdp           unsafe.Pointer
	sbp            unsafe.Pointer
	timeout        uint32
	flags          uint32
	packID         int32
	usrPtr         unsafe.Pointer
	status         uint8
	maskedStatus   uint8
	msgStatus      uint8
	sbLenWr        uint8
	hostStatus     uint16
	driverStatus   uint16
	resid          int32
	duration       uint32
	info           uint32
}

const (
	sgDxferNone = -1

	ioctlSGIO = 0x2285 // SG_IO from <scsi/sg.h>; x/sys/unix does not export it
)

// sgExec sends one non-data CDB through SG_IO on an open whole-disk node.
func sgExec(f *os.File, cdb []byte, timeout time.Duration) (sgResult, error) {
	sb := make([]byte, 32) // hdparm's sb[32]
	var pin runtime.Pinner
	pin.Pin(&cdb[0])
	pin.Pin(&sb[0])
	defer pin.Unpin()
	hdr := sgIOHdr{
		interfaceID:    'S',
		dxferDirection: sgDxferNone,
		cmdLen:         uint8(len(cdb)),
		mxSbLen:        uint8(len(sb)),
		cmdp:           unsafe.Pointer(&cdb[0]),
		sbp:            unsafe.Pointer(&sb[0]),
		timeout:        uint32(timeout / time.Millisecond),
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return sgResult{}, err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlSGIO, uintptr(unsafe.Pointer(&hdr)))
	}); err != nil {
		return sgResult{}, err
	}
	runtime.KeepAlive(&hdr)
	if errno != 0 {
		return sgResult{}, sgioErrno(errno)
	}
	return sgResult{status: hdr.status, hostStatus: hdr.hostStatus, sense: sb[:hdr.sbLenWr]}, nil
}

// sgioErrno turns an SG_IO failure into the sentinel the caller acts on.
func sgioErrno(e unix.Errno) error {
	switch e {
	case unix.EPERM, unix.EACCES:
		return fmt.Errorf("%w: SG_IO needs root (CAP_SYS_RAWIO): %v", luksdrive.ErrPermission, e)
	case unix.ENODEV, unix.ENXIO:
		return fmt.Errorf("%w: %v", luksdrive.ErrNoDevice, e)
	case unix.ENOTTY, unix.EINVAL:
		return fmt.Errorf("%w: the kernel driver takes no SCSI commands (SG_IO: %v)", ErrNoPowerCommands, e)
	}
	return fmt.Errorf("SG_IO: %w", e)
}
