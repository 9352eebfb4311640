package spindown

// CDB construction. Every byte here is laid out as hdparm 9.65 lays it out
// (sgio.c: tf_init and sg16), so a drive sees exactly what "hdparm -S",
// "hdparm -y" and "hdparm -C" would send it; cdb_test.go holds the bytes
// captured from hdparm itself.

// SCSI operation codes and ATA commands used here.
const (
	opATA16         = 0x85 // ATA PASS-THROUGH(16), SAT
	opATA12         = 0xa1 // ATA PASS-THROUGH(12), SAT
	opStartStopUnit = 0x1b // SBC START STOP UNIT

	ataIdle             = 0xe3 // IDLE, COUNT = standby timer
	ataStandbyImmediate = 0xe0 // STANDBY IMMEDIATE
	ataCheckPowerMode   = 0xe5 // CHECK POWER MODE
	// Pre-ATA-4 opcodes; hdparm retries with these when the first fails.
	ataStandbyImmediateOld = 0x94
	ataCheckPowerModeOld   = 0x98

	protoNonData = 3 << 1 // PROTOCOL field, byte 1
	ckCond       = 0x20   // byte 2: return the ATA registers as sense data
	devUsingLBA  = 1 << 6 // DEVICE register, set by hdparm's tf_init

	ataStatusErr = 1 << 0
	ataStatusDRQ = 1 << 3
)

// taskfile is the part of an LBA28 ATA taskfile the non-data power
// commands use.
type taskfile struct {
	feature, count, lbaLow, lbaMid, lbaHigh, device, command byte
}

// newTaskfile is hdparm's tf_init(tf, op, 0, 0) followed by nsect = count,
// which is how do_drive_cmd builds every command this package sends.
func newTaskfile(command, count byte) taskfile {
	return taskfile{command: command, count: count, device: devUsingLBA}
}

// ata16 builds an ATA PASS-THROUGH(16) CDB for a non-data command with
// CK_COND set, so the drive's registers come back in the sense data (the
// COUNT register is CHECK POWER MODE's answer).
func ata16(tf taskfile) []byte {
	cdb := make([]byte, 16)
	cdb[0] = opATA16
	cdb[1] = protoNonData
	cdb[2] = ckCond
	cdb[4] = tf.feature
	cdb[6] = tf.count
	cdb[8] = tf.lbaLow
	cdb[10] = tf.lbaMid
	cdb[12] = tf.lbaHigh
	cdb[13] = tf.device
	cdb[14] = tf.command
	return cdb
}

// ata12 builds the same command as ATA PASS-THROUGH(12), which some older
// USB bridges know while rejecting the 16-byte form (hdparm --prefer-ata12).
func ata12(tf taskfile) []byte {
	cdb := make([]byte, 12)
	cdb[0] = opATA12
	cdb[1] = protoNonData
	cdb[2] = ckCond
	cdb[3] = tf.feature
	cdb[4] = tf.count
	cdb[5] = tf.lbaLow
	cdb[6] = tf.lbaMid
	cdb[7] = tf.lbaHigh
	cdb[8] = tf.device
	cdb[9] = tf.command
	return cdb
}

// startStopUnitStop is START STOP UNIT with START=0 and no power
// condition: plain "stop", the form USB–SATA bridges translate into
// STANDBY IMMEDIATE (what hd-idle -c scsi and sg_start --stop send).
// IMMED stays 0 so the command returns once the drive has stopped.
func startStopUnitStop() []byte {
	return []byte{opStartStopUnit, 0, 0, 0, 0, 0}
}
