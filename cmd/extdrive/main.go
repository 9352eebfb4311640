// Command extdrive manages encrypted removable backup drives: it unlocks,
// mounts, copies onto, rotates, spins down and locks them, and drives a
// BlinkStick LED to show what it is doing.
//
// Each subcommand lives in its own cmd_*.go file, parses its flags and calls
// into the library packages; no policy lives here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// app carries what every subcommand shares: the global flags and the
// process's standard streams (replaced in tests).
type app struct {
	configPath string
	verbose    bool
	quiet      bool

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	log *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// A job re-executed in its private mount namespace has printed its
	// own one-line error; a second line would only repeat it.
	var child exitStatus
	if !errors.As(err, &child) {
		fmt.Fprintf(stderr, "extdrive: %s\n", oneLine(err))
	}
	return exitCode(err)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "extdrive",
		Short:         "Manage encrypted removable backup drives",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.log = newLogger(a.stderr, a.verbose, a.quiet)
			return nil
		},
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", defaultConfigPath, "configuration file")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log debug messages")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "log warnings and errors only")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	// One line per subcommand; each constructor lives in its cmd_*.go file.
	root.AddCommand(
		newVersionCmd(a),
		newUnlockCmd(a), newMountCmd(a), newUmountCmd(a), newLockCmd(a), newStatusCmd(a),
		newConfigCmd(a), newRotateCmd(a), newLogCmd(a),
		newLEDCmd(a),
		newSpindownCmd(a),
		newSyncCmd(a),
		newWatchCmd(a), newInstallCmd(a), newUninstallCmd(a), newHandleEventCmd(a),
		newPrepareCmd(a), newEnrollCmd(a), newHeaderBackupCmd(a), newImportCmd(a),
		newDemoCmd(a),
	)
	return root
}

const defaultConfigPath = "/etc/extdrive/config.toml"

func newLogger(w io.Writer, verbose, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case verbose:
		level = slog.LevelDebug
	case quiet:
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// oneLine keeps a user-facing error to a single line, whatever the
// wrapped errors contain.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// usageError marks a bad command line: wrong flags, arguments or their values.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error; commands use it for bad arguments.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}
