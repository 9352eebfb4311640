package spindown

import "fmt"

// Sense is the decoded part of SCSI sense data that this package acts on.
type Sense struct {
	Key       byte // sense key, 0-15
	ASC, ASCQ byte
	// ATA holds the registers from an ATA Status Return descriptor
	// (descriptor format) or from the INFORMATION fields of fixed-format
	// sense with ASC/ASCQ 00/1D; nil when the sense carries none.
	ATA *ATARegisters
}

// ATARegisters are the registers an ATA PASS-THROUGH command returns.
type ATARegisters struct {
	Error, Count, LBALow, LBAMid, LBAHigh, Device, Status byte
}

const (
	senseKeyNoSense        = 0x0
	senseKeyRecoveredError = 0x1
	senseKeyNotReady       = 0x2
	senseKeyIllegalRequest = 0x5
	senseKeyAbortedCommand = 0xb

	ascInvalidOpcode     = 0x20
	ascInvalidFieldInCDB = 0x24
)

// ParseSense decodes sense data in either format. Descriptor format
// (0x72/0x73) is what libata and SAT-compliant bridges return for
// CK_COND; some bridges answer in fixed format (0x70/0x71), where SAT puts
// the registers into the INFORMATION and COMMAND-SPECIFIC fields.
func ParseSense(sb []byte) (Sense, error) {
	if len(sb) < 1 {
		return Sense{}, fmt.Errorf("empty sense data")
	}
	switch code := sb[0] & 0x7f; code {
	case 0x72, 0x73:
		if len(sb) < 8 {
			return Sense{}, fmt.Errorf("descriptor sense data truncated at %d bytes", len(sb))
		}
		s := Sense{Key: sb[1] & 0x0f, ASC: sb[2], ASCQ: sb[3]}
		end := min(8+int(sb[7]), len(sb))
		for d := 8; d+2 <= end; {
			typ, n := sb[d], int(sb[d+1])
			if d+2+n > end {
				break
			}
			// ATA Status Return: type 9, additional length 12 (hdparm
			// checks desc[0] == 9 && desc[1] >= 12 the same way).
			if typ == 0x09 && n >= 12 {
				desc := sb[d : d+14]
				s.ATA = &ATARegisters{
					Error:   desc[3],
					Count:   desc[5],
					LBALow:  desc[7],
					LBAMid:  desc[9],
					LBAHigh: desc[11],
					Device:  desc[12],
					Status:  desc[13],
				}
			}
			d += 2 + n
		}
		return s, nil
	case 0x70, 0x71:
		if len(sb) < 14 {
			return Sense{}, fmt.Errorf("fixed sense data truncated at %d bytes", len(sb))
		}
		s := Sense{Key: sb[2] & 0x0f, ASC: sb[12], ASCQ: sb[13]}
		if s.ASC == 0x00 && s.ASCQ == 0x1d { // ATA PASS-THROUGH INFORMATION AVAILABLE
			s.ATA = &ATARegisters{
				Error:   sb[3],
				Status:  sb[4],
				Device:  sb[5],
				Count:   sb[6],
				LBALow:  sb[9],
				LBAMid:  sb[10],
				LBAHigh: sb[11],
			}
		}
		return s, nil
	default:
		return Sense{}, fmt.Errorf("unknown sense response code 0x%02x", sb[0])
	}
}

// rejectsCommand reports whether the sense says the device does not know
// or will not take the CDB at all: what a USB bridge without SAT support
// answers to ATA PASS-THROUGH.
func (s Sense) rejectsCommand() bool {
	return s.Key == senseKeyIllegalRequest && (s.ASC == ascInvalidOpcode || s.ASC == ascInvalidFieldInCDB)
}

func senseKeyName(k byte) string {
	names := [...]string{"no sense", "recovered error", "not ready", "medium error",
		"hardware error", "illegal request", "unit attention", "data protect",
		"blank check", "vendor specific", "copy aborted", "aborted command",
		"equal", "volume overflow", "miscompare", "completed"}
	return names[k&0x0f]
}
