package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/spindown"
)

type spindownFlags struct {
	timer   time.Duration
	value   int
	now     bool
	check   bool
	watch   bool
	after   time.Duration
	timeout time.Duration
}

func newSpindownCmd(a *app) *cobra.Command {
	var f spindownFlags
	cmd := &cobra.Command{
		Use:   "spindown [--timer 10m | -S N] [--now] [--check] [--watch --after 10m] DEVICE|UUID=…|LABEL=…|MAPPING|MOUNTPOINT",
		Short: "Spin an idle backup disk down: set its standby timer, stop it now, or watch it",
		Long: `Spin down the physical disk under a device, partition, dm-crypt mapping
or mounted filesystem.

  --timer 10m / -S 120   set the drive's own standby timer (hdparm -S)
  --now                  stop the disk now (hdparm -y; START STOP UNIT
                         for USB bridges without ATA pass-through)
  --check                print the power mode (hdparm -C); the default
  --watch --after 10m    stop the disk after 10 minutes without I/O and
                         log spin-ups, until interrupted (hd-idle)

Many USB bridges ignore the drive's timer; --watch works with all of them.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("spindown takes one device, UUID=…, LABEL=…, mapping name or mount point; got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("timer") && cmd.Flags().Changed("standby") {
				return usagef("--timer and -S set the same thing; give one")
			}
			if cmd.Flags().Changed("after") && !f.watch {
				return usagef("--after only applies to --watch")
			}
			var timer *spindown.Timer
			switch {
			case cmd.Flags().Changed("timer"):
				t, err := spindown.TimerFromDuration(f.timer)
				if err != nil {
					return usagef("--timer %v: %v", f.timer, err)
				}
				timer = &t
			case cmd.Flags().Changed("standby"):
				if f.value < 0 || f.value > 255 {
					return usagef("-S %d: the standby value is 0-255 (1-240: ×5 s, 241-251: ×30 min, 0: off)", f.value)
				}
				if f.value == 253 || f.value == 254 {
					return usagef("-S %d: %d is %s; give a value with a defined meaning", f.value, f.value, spindown.Timer(f.value))
				}
				t := spindown.Timer(f.value)
				timer = &t
			}
			if f.watch && f.after <= 0 {
				return usagef("--after %v: the idle time must be positive", f.after)
			}
			if timer == nil && !f.now && !f.watch {
				f.check = true
			}
			return runSpindown(cmd.Context(), a, f, timer, args[0])
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.timer, "timer", 0, "set the drive's standby timer to this idle time (rounded up to what ATA can encode; 0 turns it off)")
	fl.IntVarP(&f.value, "standby", "S", 0, "set the drive's standby timer to this raw hdparm -S value")
	fl.BoolVar(&f.now, "now", false, "stop the disk now")
	fl.BoolVar(&f.check, "check", false, "print the disk's power mode")
	fl.BoolVar(&f.watch, "watch", false, "watch the disk and stop it after --after without I/O")
	fl.DurationVar(&f.after, "after", 10*time.Minute, "idle time before --watch stops the disk")
	fl.DurationVar(&f.timeout, "timeout", 0, "per-command timeout (default 15s, as hdparm)")
	return cmd
}

func runSpindown(ctx context.Context, a *app, f spindownFlags, timer *spindown.Timer, target string) error {
	dev, err := spindownTarget(ctx, a, target)
	if err != nil {
		return err
	}
	disks, err := spindown.Resolve(dev)
	if err != nil {
		return err
	}
	opts := &spindown.Options{Timeout: f.timeout, Logger: a.log}
	for _, d := range disks {
		if len(d.Via) > 0 {
			a.log.Debug("resolved", "target", target, "disk", d.Path, "via", strings.Join(d.Via, " → "))
		}
		if timer != nil {
			err := d.SetStandbyTimer(ctx, *timer, opts)
			switch {
			case err == nil:
				fmt.Fprintf(a.stdout, "%s: standby timer set to %d (%s)\n", d.Path, *timer, *timer)
			case errors.Is(err, spindown.ErrPassThroughRejected) && f.watch:
				// Said once; the monitor below does the job instead.
				a.log.Warn("the drive's own timer cannot be set through this bridge; the monitor will stop it instead", "disk", d.Path, "err", err)
			case errors.Is(err, spindown.ErrPassThroughRejected):
				return fmt.Errorf("%w; the drive's timer cannot be set through this bridge: use 'extdrive spindown --watch --after DURATION %s' instead", err, target)
			default:
				return err
			}
		}
		if f.check {
			pm, err := d.CheckPower(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: drive state is: %s\n", d.Path, pm)
		}
		if f.now {
			m, err := d.StandbyNow(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: stopped (%s)\n", d.Path, m)
		}
	}
	if !f.watch {
		return nil
	}
	return spindown.Watch(ctx, disks, &spindown.WatchOptions{After: f.after, Power: opts, Logger: a.log})
}

// spindownTarget turns the argument into a path Resolve takes: a spec
// (UUID=, LABEL=, a bare UUID) is looked up, a bare name that is a
// device-mapper mapping becomes /dev/mapper/NAME, anything else is a path.
func spindownTarget(ctx context.Context, a *app, arg string) (string, error) {
	sp, err := luksdrive.ParseSpec(arg)
	if err != nil {
		return "", usageError{err}
	}
	if sp.Kind != luksdrive.SpecPath {
		return luksdrive.Find(ctx, arg, &luksdrive.FindOptions{Logger: a.log})
	}
	if !strings.Contains(arg, "/") {
		m := filepath.Join("/dev/mapper", arg)
		if _, err := os.Stat(m); err == nil {
			return m, nil
		}
		return "", fmt.Errorf("%w: %q is neither a path nor a mapping in /dev/mapper; give /dev/sdX, UUID=…, LABEL=…, a mapping name or a mount point", luksdrive.ErrNoDevice, arg)
	}
	return arg, nil
}
