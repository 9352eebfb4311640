package spindown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive"
)

// SetStandbyTimer sets the drive's own standby timer, as hdparm -S does:
// ATA IDLE with the timer in COUNT. The drive then spins itself down
// after that long without commands; many USB bridges reject or swallow
// it, which is what Watch is for.
func (d Disk) SetStandbyTimer(ctx context.Context, t Timer, opts *Options) error {
	err := d.withNode(ctx, opts, func(f *os.File, log *slog.Logger) error {
		_, _, err := d.ata(f, newTaskfile(ataIdle, byte(t)), opts, log)
		return err
	})
	return opErr("set standby timer", d.Path, err)
}

// StandbyNow spins the drive down at once: ATA STANDBY IMMEDIATE as hdparm
// -y sends it, and if the bridge rejects ATA pass-through, SCSI START STOP
// UNIT (stop), which USB bridges translate themselves. It returns the
// method that worked. The kernel spins the drive up again on the next I/O.
func (d Disk) StandbyNow(ctx context.Context, opts *Options) (Method, error) {
	var m Method
	err := d.withNode(ctx, opts, func(f *os.File, log *slog.Logger) error {
		var err error
		var regs *ATARegisters
		m, regs, err = d.ata(f, newTaskfile(ataStandbyImmediate, 0), opts, log)
		var ae *ataError
		if errors.As(err, &ae) {
			// hdparm retries a refused STANDBY IMMEDIATE with its pre-ATA-4 opcode.
			log.Debug("retrying with the pre-ATA-4 opcode", "disk", d.Path, "err", err)
			m, regs, err = d.ata(f, newTaskfile(ataStandbyImmediateOld, 0), opts, log)
		}
		switch {
		case err == nil && regs != nil:
			return nil
		case err == nil:
			// Some bridges answer GOOD to any pass-through without running
			// it; with no registers back there is no telling, and a stop
			// to a stopped drive is harmless.
			log.Debug("no ATA registers came back, sending SCSI START STOP UNIT as well", "disk", d.Path)
		case errors.Is(err, ErrPassThroughRejected):
			log.Debug("ATA pass-through rejected, sending SCSI START STOP UNIT", "disk", d.Path, "err", err)
		default:
			return err
		}
		rejected := err
		r, err := sgExec(f, startStopUnitStop(), opts.timeout())
		if err == nil {
			_, err = checkResult(opStartStopUnit, r)
		}
		switch {
		case err != nil && rejected == nil:
			// The pass-through went through; the stop was only a second try.
			log.Debug("START STOP UNIT after the pass-through failed", "disk", d.Path, "err", err)
			return nil
		case errors.Is(err, ErrPassThroughRejected):
			return fmt.Errorf("%w; START STOP UNIT rejected as well: this bridge takes no power command", rejected)
		}
		m = MethodStartStopUnit
		return err
	})
	if err != nil {
		return MethodNone, opErr("standby", d.Path, err)
	}
	return m, nil
}

// CheckPower asks the drive for its power mode (ATA CHECK POWER MODE, as
// hdparm -C does) without spinning it up. A bridge that answers without
// the ATA registers gives PowerUnknown and no error, as hdparm prints
// "unknown"; a bridge that rejects ATA pass-through is an error wrapping
// ErrPassThroughRejected, since SCSI has no query that does not wake
// some drives.
func (d Disk) CheckPower(ctx context.Context, opts *Options) (PowerMode, error) {
	var pm PowerMode
	err := d.withNode(ctx, opts, func(f *os.File, log *slog.Logger) error {
		_, regs, err := d.ata(f, newTaskfile(ataCheckPowerMode, 0), opts, log)
		var ae *ataError
		if errors.As(err, &ae) {
			log.Debug("retrying with the pre-ATA-4 opcode", "disk", d.Path, "err", err)
			_, regs, err = d.ata(f, newTaskfile(ataCheckPowerModeOld, 0), opts, log)
		}
		if err != nil {
			return err
		}
		if regs == nil {
			log.Warn("drive answered without ATA registers; power mode unknown", "disk", d.Path)
			pm = PowerUnknown
			return nil
		}
		pm = powerModeFromCount(regs.Count)
		return nil
	})
	if err != nil {
		return PowerUnknown, opErr("check power mode", d.Path, err)
	}
	return pm, nil
}

// withNode opens the disk node after checking that the disk can take
// these commands at all and that the node still is that disk.
func (d Disk) withNode(ctx context.Context, opts *Options, fn func(*os.File, *slog.Logger) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	switch d.Transport {
	case "ata", "usb", "scsi":
	case "nvme":
		return fmt.Errorf("%w: %s is an NVMe disk, which manages its own power states (APST); it takes no ATA or SCSI standby", ErrNoPowerCommands, d.Name)
	default:
		return fmt.Errorf("%w: %s is a %s disk", ErrNoPowerCommands, d.Name, d.Transport)
	}
	// O_NONBLOCK as hdparm opens: no waiting for removable media.
	f, err := os.OpenFile(d.Path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: opening %s needs root", luksdrive.ErrPermission, d.Path)
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %v", luksdrive.ErrNoDevice, err)
	case err != nil:
		return err
	}
	defer f.Close()
	if err := d.checkNode(f); err != nil {
		return err
	}
	return fn(f, opts.logger())
}

// ata sends one non-data ATA command, in the 16-byte CDB first and, when
// a bridge refuses that opcode, in the 12-byte one. It returns the
// registers when the device sent them back.
func (d Disk) ata(f *os.File, tf taskfile, opts *Options, log *slog.Logger) (Method, *ATARegisters, error) {
	cdb := ata16(tf)
	log.Debug("SG_IO", "disk", d.Path, "cdb", fmt.Sprintf("% x", cdb))
	r, err := sgExec(f, cdb, opts.timeout())
	if err != nil {
		return MethodNone, nil, err
	}
	s, err := checkResult(opATA16, r)
	m := MethodATA16
	if errors.Is(err, ErrPassThroughRejected) && s.ASC == ascInvalidOpcode {
		cdb = ata12(tf)
		log.Debug("ATA PASS-THROUGH(16) unknown to the device, trying (12)", "disk", d.Path, "cdb", fmt.Sprintf("% x", cdb))
		if r, err = sgExec(f, cdb, opts.timeout()); err != nil {
			return MethodNone, nil, err
		}
		s, err = checkResult(opATA12, r)
		m = MethodATA12
	}
	if err != nil {
		return MethodNone, nil, err
	}
	if s.ATA != nil && s.ATA.Status&(ataStatusErr|ataStatusDRQ) != 0 {
		return MethodNone, s.ATA, &ataError{command: tf.command, status: s.ATA.Status, errReg: s.ATA.Error}
	}
	log.Debug("SG_IO done", "disk", d.Path, "sense", fmt.Sprintf("% x", r.sense))
	return m, s.ATA, nil
}
