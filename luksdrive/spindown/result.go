package spindown

import (
	"fmt"

	"github.com/extdrive/extdrive/luksdrive"
)

const (
	scsiStatusGood           = 0x00
	scsiStatusCheckCondition = 0x02

	didNoConnect = 0x01 // host_status: the device went away
)

// sgResult is what one SG_IO round trip returned.
type sgResult struct {
	status     byte
	hostStatus uint16
	sense      []byte
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
