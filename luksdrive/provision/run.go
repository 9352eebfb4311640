package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

// runner runs external commands, announcing each one first.
type runner struct {
	onCommand func(argv []string)
	log       *slog.Logger
}

func newRunner(onCommand func([]string), log *slog.Logger) *runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &runner{onCommand: onCommand, log: log}
}

// run runs argv for step. stdin, when set, is fed through a pipe written
// straight from the slice, so a secret is not copied into buffers this
// package cannot wipe; the caller still owns and wipes it.
func (r *runner) run(ctx context.Context, step string, stdin []byte, argv ...string) ([]byte, error) {
	if r.onCommand != nil {
		r.onCommand(append([]string(nil), argv...))
	}
	r.log.Debug("run", "step", step, "argv", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, &StepError{Step: step, Command: argv, Err: err}
		}
		defer pr.Close()
		// A pipe holds 64 KiB; keys and passphrases are far smaller, so the
		// write completes before the command starts reading.
		if len(stdin) > 60<<10 {
			pw.Close()
			return nil, &StepError{Step: step, Command: argv, Err: fmt.Errorf("stdin of %d bytes is too large", len(stdin))}
		}
		_, err = pw.Write(stdin)
		pw.Close()
		if err != nil {
			return nil, &StepError{Step: step, Command: argv, Err: err}
		}
		cmd.Stdin = pr
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case errors.As(err, &ee):
			// Keep the text only: callers that map errors to their own
			// exit codes must not pick up cryptsetup's through ExitCode.
			err = errors.New(ee.Error())
		}
		return stdout.Bytes(), &StepError{Step: step, Command: argv, Stderr: lastLines(stderr.String(), 3), Err: err}
	}
	return stdout.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// KDF selects the key derivation for new keyslots. The zero value lets
// cryptsetup benchmark the machine (argon2id, about 2 s, up to 1 GiB),
// which is what a drive that travels off-site should have; tests and slow
// boards set Iterations and MemoryKiB.
type KDF struct {
	Type       string // "argon2id", "argon2i" or "pbkdf2"; "" = cryptsetup's default
	Iterations int    // forced iterations (time cost for argon2); 0 = benchmark
	MemoryKiB  int    // argon2 memory cost; 0 = cryptsetup's default
	Parallel   int    // argon2 threads; 0 = cryptsetup's default
}

func (k KDF) args() []string {
	var a []string
	if k.Type != "" {
		a = append(a, "--pbkdf", k.Type)
	}
	if k.Iterations > 0 {
		a = append(a, "--pbkdf-force-iterations", fmt.Sprint(k.Iterations))
	}
	if k.MemoryKiB > 0 {
		a = append(a, "--pbkdf-memory", fmt.Sprint(k.MemoryKiB))
	}
	if k.Parallel > 0 {
		a = append(a, "--pbkdf-parallel", fmt.Sprint(k.Parallel))
	}
	return a
}
