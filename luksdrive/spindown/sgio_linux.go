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

	scsiStatusGood           = 0x00
	scsiStatusCheckCondition = 0x02

	didNoConnect = 0x01 // host_status: the device went away

	ioctlSGIO = 0x2285 // SG_IO from <scsi/sg.h>; x/sys/unix does not export it
)

// sgResult is what one SG_IO round trip returned.
type sgResult struct {
	status     byte
	hostStatus uint16
	sense      []byte
}

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

// checkResult classifies a completed command. It returns the sense (which
// may carry ATA registers) when the command succeeded.
func checkResult(opcode byte, r sgResult) (Sense, error) {
	if r.hostStatus != 0 {
		if r.hostStatus == didNoConnect {
			return Sense{}, fmt.Errorf("%w: device disconnected (host status 0x%02x)", luksdrive.ErrNoDevice, r.hostStatus)
		}
		return Sense{}, fmt.Errorf("transport error: host status 0x%02x", r.hostStatus)
	}
	switch r.status {
	case scsiStatusGood:
		// Bridges that ignore CK_COND answer GOOD with no registers.
		if len(r.sense) == 0 {
			return Sense{}, nil
		}
		s, err := ParseSense(r.sense)
		if err != nil {
			return Sense{}, nil
		}
		return s, nil
	case scsiStatusCheckCondition:
		s, err := ParseSense(r.sense)
		if err != nil {
			return Sense{}, fmt.Errorf("%w: CHECK CONDITION with unusable sense data (%v)", ErrCommandAborted, err)
		}
		switch {
		case s.rejectsCommand():
			return s, &senseError{sentinel: ErrPassThroughRejected, opcode: opcode, sense: s}
		case s.Key == senseKeyNoSense, s.Key == senseKeyRecoveredError:
			return s, nil // CK_COND's "ATA PASS-THROUGH INFORMATION AVAILABLE"
		}
		if s.ATA != nil && s.ATA.Status&(ataStatusErr|ataStatusDRQ) != 0 {
			return s, nil // the caller reports the ATA error with its registers
		}
		return s, &senseError{sentinel: ErrCommandAborted, opcode: opcode, sense: s}
	}
	return Sense{}, fmt.Errorf("%w: SCSI status 0x%02x", ErrCommandAborted, r.status)
}
