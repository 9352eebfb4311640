package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/provision"
)

type enrollFlags struct {
	newKeyFile     string
	keyStick       string
	newPassphrase  bool
	newPassFile    string
	keyFile        string
	passphraseFile string
	remove         bool
	slot           int
	timeout        time.Duration
	kdf            kdfFlags
}

func newEnrollCmd(a *app) *cobra.Command {
	f := &enrollFlags{}
	cmd := &cobra.Command{
		Use:   "enroll [flags] DRIVE|DEVICE",
		Short: "Add a key file or passphrase to a drive, or remove one keyslot",
		Long: `Enroll adds a key to a LUKS2 drive (a configured drive name, or a device
spec) in the lowest free keyslot:

  --new-key-file PATH [--key-stick SPEC]   a new random 4 KiB key file (mode
      0400) on the key stick, or at an absolute host path, with a LUKS2
      token naming its keyslot and the stick;
  --new-passphrase                         a passphrase, typed twice (or one
      line on stdin), or --new-passphrase-file.

A key the drive already accepts authorizes the change: --key-file (PATH or
PATH:UUID=…), --passphrase-file, the configured drive's key, or a typed
passphrase. --remove --slot N wipes keyslot N and its token instead; the
last keyslot is never removed.`,
		Example: `  extdrive enroll --new-key-file /extdrive/offsite-A.key --key-stick LABEL=SPARE offsite-A
  extdrive enroll --new-passphrase --key-file /root/offsite-A.key offsite-A
  extdrive enroll --remove --slot 2 offsite-A`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnroll(cmd.Context(), a, f, cmd, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.newKeyFile, "new-key-file", "", "key file to create and enroll")
	fl.StringVar(&f.keyStick, "key-stick", "", "stick for --new-key-file: UUID=…, LABEL=… or /dev/…")
	fl.BoolVar(&f.newPassphrase, "new-passphrase", false, "enroll a new passphrase")
	fl.StringVar(&f.newPassFile, "new-passphrase-file", "", "read the new passphrase from this file")
	fl.StringVar(&f.keyFile, "key-file", "", "an existing key file (PATH or PATH:SPEC) that opens the drive")
	fl.StringVar(&f.passphraseFile, "passphrase-file", "", "an existing passphrase, read from this file")
	fl.BoolVar(&f.remove, "remove", false, "remove keyslot --slot instead of adding a key")
	fl.IntVar(&f.slot, "slot", -1, "keyslot to remove (with --remove)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "wait this long for the drive and sticks")
	f.kdf.add(cmd)
	return cmd
}

func runEnroll(ctx context.Context, a *app, f *enrollFlags, cmd *cobra.Command, arg string) error {
	adds := 0
	for _, set := range []bool{f.newKeyFile != "", f.newPassphrase, f.newPassFile != ""} {
		if set {
			adds++
		}
	}
	switch {
	case f.remove && adds > 0:
		return usagef("--remove takes no new key; give only --slot")
	case f.remove && (f.slot < 0 || f.slot > 31):
		return usagef("--remove needs --slot N (0-31); see cryptsetup luksDump for the slots in use")
	case !f.remove && f.slot != -1:
		return usagef("--slot is only for --remove")
	case !f.remove && adds != 1:
		return usagef("give exactly one of --new-key-file, --new-passphrase and --new-passphrase-file, or --remove --slot N")
	case f.keyStick != "" && f.newKeyFile == "":
		return usagef("--key-stick goes with --new-key-file")
	case f.keyFile != "" && f.passphraseFile != "":
		return usagef("give either --key-file or --passphrase-file, not both")
	}
	kdf, err := f.kdf.kdf()
	if err != nil {
		return err
	}
	d, cd, err := resolveDrive(a, arg)
	if err != nil {
		return err
	}
	dev, err := luksdrive.Find(ctx, d.Device, &luksdrive.FindOptions{Timeout: f.timeout, Logger: a.log})
	if err != nil {
		return err
	}
	show := func(argv []string) { fmt.Fprintf(a.stdout, "+ %s\n", strings.Join(argv, " ")) }

	if f.remove {
		if err := provision.RemoveKey(ctx, dev, &provision.RemoveOptions{Slot: f.slot, OnCommand: show, Logger: a.log}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Removed keyslot %d from %s. Take a new header backup (extdrive header-backup): old ones still open it.\n", f.slot, arg)
		return nil
	}

	// The existing key that authorizes the change.
	var key luksdrive.Key
	prompt := true
	if cd != nil {
		if key, prompt, err = cd.UnlockKey(); err != nil {
			return err
		}
	}
	switch {
	case f.keyFile != "":
		if key, err = luksdrive.ParseKeyFileSpec(f.keyFile); err != nil {
			return usagef("--key-file: %v", err)
		}
		prompt = false
	case f.passphraseFile != "":
		p, err := readPassphraseFile(f.passphraseFile)
		if err != nil {
			return err
		}
		defer clear(p)
		key, prompt = luksdrive.Key{Passphrase: p, Slot: luksdrive.AnySlot}, false
	}
	if prompt {
		p, err := readPassphraseLine(a, fmt.Sprintf("Existing passphrase for %s: ", arg))
		if err != nil {
			return err
		}
		// The command owns the passphrase and wipes it; provision only reads it.
		defer clear(p)
		key = luksdrive.Key{Passphrase: p, Slot: luksdrive.AnySlot}
	}
	if key.DeviceTimeout == 0 {
		key.DeviceTimeout = f.timeout
	}

	opts := &provision.EnrollOptions{Key: key, KeyStick: f.keyStick, NewKeyFile: f.newKeyFile, StickTimeout: f.timeout, KDF: kdf, OnCommand: show, Logger: a.log}
	switch {
	case f.newPassFile != "":
		p, err := readPassphraseFile(f.newPassFile)
		if err != nil {
			return err
		}
		defer clear(p)
		opts.NewPassphrase = p
	case f.newPassphrase:
		p, err := readNewPassphrase(a, "New passphrase for "+arg)
		if err != nil {
			return err
		}
		defer clear(p)
		opts.NewPassphrase = p
	}
	e, err := provision.Enroll(ctx, dev, opts)
	if err != nil {
		return err
	}
	if e.Token != nil {
		fmt.Fprintf(a.stdout, "Enrolled key file %s in keyslot %d of %s (token written).\n", e.Key, e.Slot, arg)
		if cd != nil {
			fmt.Fprintf(a.stdout, "To use it, set key = %q for drive %q in %s.\n", e.Key, cd.Name, a.configPath)
		}
	} else {
		fmt.Fprintf(a.stdout, "Enrolled the new passphrase in keyslot %d of %s.\n", e.Slot, arg)
	}
	fmt.Fprintln(a.stdout, "Take a new header backup (extdrive header-backup DIR).")
	return nil
}

// readPassphraseLine is readPassphrase, with readNewPassphrase's message
// for an empty line from a pipe.
func readPassphraseLine(a *app, prompt string) ([]byte, error) {
	if isTerminalIn(a) {
		return readPassphrase(a, prompt)
	}
	return readNewPassphrase(a, prompt)
}
