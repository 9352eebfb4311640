package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

func newRotateCmd(a *app) *cobra.Command {
	var force, allowEmpty bool
	c := &cobra.Command{
		Use:   "rotate [DRIVE]",
		Short: "Copy the sources to a backup drive if it is due, then lock it",
		Long: `Run the rotation job for DRIVE (a configured name or LUKS UUID), or for the
first configured drive that is plugged in. The udev rule runs this on
insertion. Steps: take the drive's lock (a second job exits 0), check the
drive is due, unlock and mount, pre hook, copy under the wrapper, record
the run, post hook, sync, unmount, lock, spin down. The LED turns green
only once the drive is locked and safe to unplug.

Exit codes: 0 copied (or already running), 22 not due, 23 a source is
missing or empty, 24 a hook failed or timed out, 25 unknown drive,
26 no configured drive present; 3-14 drive errors (wrong key, ...).`,
		Args: wantArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var drive string
			if len(args) == 1 {
				drive = args[0]
			}
			return runRotate(cmd.Context(), a, drive, force, allowEmpty)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "copy even when the drive is not due")
	c.Flags().BoolVar(&allowEmpty, "allow-empty", false, "copy a source that is empty although its previous copy is not")
	return c
}

func runRotate(ctx context.Context, a *app, drive string, force, allowEmpty bool) error {
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	if drive != "" {
		if _, ok := cfg.Drive(drive); !ok {
			return fmt.Errorf("drive %q: %w %s", drive, rotate.ErrUnknownDrive, a.configPath)
		}
	}
	if cfg.PrivateMount && !rotate.InPrivateNamespace() {
		return reexecPrivate(ctx, a)
	}
	res, err := rotate.Run(ctx, cfg, &rotate.Options{
		Drive:      drive,
		Force:      force,
		AllowEmpty: allowEmpty,
		Logger:     a.log,
		Invocation: os.Getenv("INVOCATION_ID"), // set by systemd
		Passphrase: func(ctx context.Context, d *config.Drive) ([]byte, error) { return askPassphrase(a, d) },
	})
	if errors.Is(err, rotate.ErrAlreadyRunning) {
		fmt.Fprintf(a.stdout, "%s: already running\n", res.Drive)
		return nil
	}
	if err != nil {
		return err
	}
	r := res.Record
	fmt.Fprintf(a.stdout, "%s: copied %d files (%s written) in %v", r.Drive, r.Files, config.Size(r.Bytes).Human(), r.Duration.Round(time.Second))
	if r.Snapshot != "" {
		fmt.Fprintf(a.stdout, ", snapshot %s", r.Snapshot)
	}
	fmt.Fprintln(a.stdout, "; the drive is locked and safe to unplug")
	return nil
}

// reexecPrivate runs this same command line again in a private mount
// namespace and passes its exit status on.
func reexecPrivate(ctx context.Context, a *app) error {
	c, err := rotate.PrivateNamespaceCommand(ctx, os.Args[1:]...)
	if err != nil {
		return err
	}
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		// The child already printed its one-line error.
		return exitStatus(ee.ExitCode())
	}
	return err
}

// askPassphrase reads a passphrase from the terminal. The returned slice
// is owned by the rotation job, which wipes it.
func askPassphrase(a *app, d *config.Drive) ([]byte, error) {
	if !isTerminalIn(a) {
		return nil, fmt.Errorf("drive %s: key is \"prompt\" but stdin is not a terminal; run extdrive rotate %s by hand", d.Name, d.Name)
	}
	return readPassphrase(a, fmt.Sprintf("Passphrase for %s (%s): ", d.Name, d.UUID))
}

// exitStatus is the exit code of the re-executed job, passed on as ours.
type exitStatus int

func (e exitStatus) Error() string {
	return fmt.Sprintf("the job in its private mount namespace failed with exit code %d (reason above)", int(e))
}

func (e exitStatus) ExitCode() int { return int(e) }

// wantArgs makes a cobra argument-count check a usage error (exit 2).
func wantArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usagef("%v; see %s --help", err, cmd.CommandPath())
		}
		return nil
	}
}
