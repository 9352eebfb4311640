package spindown

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSense(t *testing.T) {
	tests := []struct {
		name string
		sb   []byte
		want Sense
	}{{
		// libata's answer to CHECK POWER MODE with CK_COND on a spinning
		// drive, captured in the guest (Debian 6.1 kernel, QEMU AHCI
		// disk) from TestGuestIDEAcceptsATACommands' debug log:
		// RECOVERED ERROR, 00/1D "ATA PASS-THROUGH INFORMATION
		// AVAILABLE", ATA Status Return descriptor with COUNT 0xff and
		// status 0x50 (layout: SAT-3 12.2.2.6; hdparm sgio.c reads it
		// from desc = sb + 8).
		name: "descriptor, active/idle",
		sb: []byte{0x72, 0x01, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x0e,
			0x09, 0x0c, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x50,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		want: Sense{Key: 1, ASC: 0, ASCQ: 0x1d, ATA: &ATARegisters{Count: 0xff, Device: 0x40, Status: 0x50}},
	}, {
		// Same capture: the answer to IDLE with timer 120 (-S 120).
		name: "descriptor, IDLE -S 120",
		sb: []byte{0x72, 0x01, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x0e,
			0x09, 0x0c, 0x00, 0x00, 0x00, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x40},
		want: Sense{Key: 1, ASC: 0, ASCQ: 0x1d, ATA: &ATARegisters{Count: 0x78, Device: 0x40, Status: 0x40}},
	}, {
		name: "descriptor, standby",
		sb: []byte{0x72, 0x01, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x0e,
			0x09, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x50},
		want: Sense{Key: 1, ASC: 0, ASCQ: 0x1d, ATA: &ATARegisters{Count: 0x00, Device: 0x40, Status: 0x50}},
	}, {
		// Drive aborted the command: status ERR|DRDY, error ABRT.
		name: "descriptor, aborted",
		sb: []byte{0x72, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e,
			0x09, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x51},
		want: Sense{Key: 0xb, ATA: &ATARegisters{Error: 0x04, Device: 0x40, Status: 0x51}},
	}, {
		// From a user's "hdparm -I" behind a USB bridge without SAT
		// ("SG_IO: bad/missing sense data, sb[]: 70 00 05 00 00 00 00 0a
		// 00 00 00 00 24 00 ..."): fixed format, ILLEGAL REQUEST,
		// INVALID FIELD IN CDB.
		name: "fixed, bridge rejects",
		sb: []byte{0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		want: Sense{Key: 5, ASC: 0x24},
	}, {
		// Fixed-format pass-through results (SAT-3 12.2.2.7): ERROR,
		// STATUS, DEVICE, COUNT in INFORMATION, LBA in COMMAND-SPECIFIC.
		name: "fixed, ATA registers",
		sb: []byte{0x70, 0x00, 0x01, 0x00, 0x50, 0x40, 0x80, 0x0a, 0x00, 0x11, 0x22, 0x33, 0x00, 0x1d,
			0, 0, 0, 0},
		want: Sense{Key: 1, ASCQ: 0x1d, ATA: &ATARegisters{Status: 0x50, Device: 0x40, Count: 0x80, LBALow: 0x11, LBAMid: 0x22, LBAHigh: 0x33}},
	}, {
		// QEMU's scsi-hd answer to an unknown opcode: INVALID COMMAND
		// OPERATION CODE in descriptor format would be 72 05 20 00.
		name: "descriptor, invalid opcode, no descriptors",
		sb:   []byte{0x72, 0x05, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00},
		want: Sense{Key: 5, ASC: 0x20},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSense(tt.sb)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSense (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSenseBad(t *testing.T) {
	for _, sb := range [][]byte{nil, {0x72, 1}, {0x70, 0, 5}, {0x7f, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := ParseSense(sb); err == nil {
			t.Errorf("ParseSense(% x) succeeded", sb)
		}
	}
}

func TestCheckResult(t *testing.T) {
	reject := sgResult{status: scsiStatusCheckCondition, sense: []byte{0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00}}
	if _, err := checkResult(opATA16, reject); !errors.Is(err, ErrPassThroughRejected) {
		t.Errorf("bridge rejection: err = %v, want ErrPassThroughRejected", err)
	}
	notReady := sgResult{status: scsiStatusCheckCondition, sense: []byte{0x70, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x04, 0x02}}
	if _, err := checkResult(opStartStopUnit, notReady); !errors.Is(err, ErrCommandAborted) || errors.Is(err, ErrPassThroughRejected) {
		t.Errorf("not ready: err = %v, want ErrCommandAborted only", err)
	}
	ok := sgResult{status: scsiStatusCheckCondition, sense: []byte{0x72, 0x01, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x0e,
		0x09, 0x0c, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x50}}
	s, err := checkResult(opATA16, ok)
	if err != nil || s.ATA == nil || powerModeFromCount(s.ATA.Count) != PowerIdle {
		t.Errorf("CK_COND answer: %+v, %v; want idle registers", s, err)
	}
	if _, err := checkResult(opATA16, sgResult{hostStatus: didNoConnect}); err == nil {
		t.Error("host status DID_NO_CONNECT accepted")
	}
	if s, err := checkResult(opStartStopUnit, sgResult{status: scsiStatusGood}); err != nil || s.ATA != nil {
		t.Errorf("GOOD without sense: %+v, %v", s, err)
	}
}

func FuzzParseSense(f *testing.F) {
	f.Add([]byte{0x72, 0x01, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x0e, 0x09, 0x0c, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x50})
	f.Add([]byte{0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00})
	f.Fuzz(func(t *testing.T, sb []byte) {
		s, err := ParseSense(sb)
		if err != nil {
			return
		}
		if s.Key > 15 {
			t.Fatalf("sense key %d out of range", s.Key)
		}
		if s.ATA != nil && sb[0]&0x7f >= 0x72 && len(sb) < 8+14 {
			t.Fatalf("ATA descriptor decoded from %d bytes", len(sb))
		}
	})
}
