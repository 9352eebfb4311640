package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/udevwatch"
)

func newWatchCmd(a *app) *cobra.Command {
	var mode, exe string
	c := &cobra.Command{
		Use:   "watch",
		Short: "Run the job whenever a configured drive is plugged in (without systemd)",
		Long: `Listen for block devices coming and going and, when a configured drive
appears, run "extdrive rotate" for it: one job per drive at a time, later
events for a busy drive are dropped. When a drive is pulled, its job is
stopped (SIGTERM) and a stale mount and mapping are cleaned up; a drive
plugged back in meanwhile gets its job once that is done. Drives already
plugged in when watch starts are handled too.

For systems without systemd; with systemd, use "extdrive install".
--mode udev reads udev's events (needs systemd-udevd), --mode kernel the
kernel's, probing each device itself; auto picks udev when it runs.

Exit codes: 64 netlink uevents unavailable, 66 unusable drive list;
20-21 configuration errors.`,
		Args: noArgsUsage,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, ok := map[string]udevwatch.Mode{"auto": udevwatch.ModeAuto, "udev": udevwatch.ModeUdev, "kernel": udevwatch.ModeKernel}[mode]
			if !ok {
				return usagef("--mode %q: use auto, udev or kernel", mode)
			}
			return runWatch(cmd.Context(), a, m, exe)
		},
	}
	c.Flags().StringVar(&mode, "mode", "auto", "event source: auto, udev or kernel")
	c.Flags().StringVar(&exe, "exec", "", "extdrive binary to run jobs with (default: this one)")
	return c
}

func runWatch(ctx context.Context, a *app, mode udevwatch.Mode, exe string) error {
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	cfgPath, err := filepath.Abs(a.configPath)
	if err != nil {
		return err
	}
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("cannot find the extdrive binary to run jobs with (%v); pass --exec PATH", err)
		}
	}
	var targets []udevwatch.Target
	for _, d := range cfg.Drives {
		targets = append(targets, udevwatch.Target{Name: d.Name, Match: udevwatch.Matcher{LUKSUUID: d.UUID}})
	}
	d, err := udevwatch.NewDispatcher(&udevwatch.DispatcherOptions{
		Targets: targets,
		Logger:  a.log,
		// The job is a child "extdrive rotate", exactly what the systemd
		// unit runs: the same private namespace, locking and exit codes,
		// and a crashing job cannot take the daemon with it.
		OnInsert: func(ctx context.Context, drive string, ev udevwatch.Event) error {
			job := exec.CommandContext(ctx, exe, "--config", cfgPath, "rotate", drive)
			job.Stdout, job.Stderr = a.stderr, a.stderr
			// Pulled drive or daemon stopping: let the job sync and lock.
			job.Cancel = func() error { return job.Process.Signal(syscall.SIGTERM) }
			job.WaitDelay = 2 * time.Minute
			err := job.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == exitNotDue {
				a.log.Info("drive is not due, nothing copied", "drive", drive)
				return nil
			}
			if err != nil {
				return fmt.Errorf("extdrive rotate %s: %w", drive, err)
			}
			return nil
		},
		OnRemove: func(ctx context.Context, drive string, ev udevwatch.Event) error {
			cd, _ := cfg.Drive(drive)
			err := luksdrive.Release(ctx, &luksdrive.Drive{
				Name: cd.Name, Device: cd.Spec(), MappingName: cd.MappingName(), MountPoint: cd.MountPoint,
			}, &luksdrive.ReleaseOptions{Logger: a.log})
			if err == nil {
				a.log.Info("drive removed; no mount or mapping left behind", "drive", drive, "dev", ev.DevNode)
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	w, err := udevwatch.New(&udevwatch.Options{Mode: mode, Match: d.Matchers(), Logger: a.log})
	if err != nil {
		return err
	}
	defer w.Close()
	a.log.Info("watching for configured drives", "drives", len(targets), "mode", w.Mode())
	err = w.Run(ctx, func(ev udevwatch.Event) { d.Handle(ctx, ev) })
	d.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// noArgsUsage rejects positional arguments as a usage error (exit 2).
func noArgsUsage(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}
