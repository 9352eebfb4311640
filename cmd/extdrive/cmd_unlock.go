package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

type unlockFlags struct {
	keyFile        string
	passphraseFile string
	offset, size   int64
	slot           int
	name           string
	header         string
	mount          string
	test           bool
	readOnly       bool
	create         bool
	timeout        time.Duration
	keyTimeout     time.Duration
	policy         policyFlags
}

func newUnlockCmd(a *app) *cobra.Command {
	f := &unlockFlags{}
	cmd := &cobra.Command{
		Use:   "unlock [flags] DEVICE|UUID=…|LABEL=…|PARTUUID=…|IMAGE|DRIVE",
		Short: "Unlock a LUKS drive (and mount it), idempotently",
		Long: `Unlock finds the drive, opens its LUKS volume and, with --mount or a
configured mount point, mounts it with nodev,nosuid,noexec. What is already
done is skipped, so running it twice is harmless.

The key comes from --key-file (a path, or PATH:UUID=… for a key file on a
USB stick), --passphrase-file, or a passphrase typed on the terminal (read
from stdin when stdin is not a terminal). DRIVE is a drive name from the
configuration file.`,
		Example: `  extdrive unlock --key-file /root/offsite.key UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18
  extdrive unlock --key-file /keys/offsite.key:LABEL=KEYS --mount /srv/backup LABEL=offsite-A
  extdrive unlock --test backup.img < passphrase.txt`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnlock(cmd.Context(), a, f, cmd.Flags(), args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.keyFile, "key-file", "", "key file, or `PATH:SPEC` for a key file on another device (crypttab form)")
	fl.StringVar(&f.passphraseFile, "passphrase-file", "", "read the passphrase from this file (one trailing newline dropped)")
	fl.Int64Var(&f.offset, "keyfile-offset", 0, "skip this many bytes at the start of the key file")
	fl.Int64Var(&f.size, "keyfile-size", 0, "read only this many bytes of the key file (0: all)")
	fl.IntVar(&f.slot, "key-slot", luksdrive.AnySlot, "try only this keyslot (-1: any)")
	fl.StringVar(&f.name, "name", "", "device-mapper name (default luks-<UUID>)")
	fl.StringVar(&f.header, "header", "", "detached LUKS header file")
	fl.StringVar(&f.mount, "mount", "", "mount the unlocked filesystem at this directory")
	fl.BoolVar(&f.test, "test", false, "only check the key; create no mapping (works on image files without device-mapper)")
	fl.BoolVar(&f.readOnly, "read-only", false, "map and mount read-only")
	fl.BoolVar(&f.create, "create", false, "create the mount point if it does not exist")
	fl.DurationVar(&f.timeout, "timeout", 0, "wait this long for the drive to appear")
	fl.DurationVar(&f.keyTimeout, "key-timeout", luksdrive.DefaultKeyDeviceTimeout, "wait this long for the key device of PATH:SPEC")
	f.policy.add(fl)
	return cmd
}

func runUnlock(ctx context.Context, a *app, f *unlockFlags, fl *pflag.FlagSet, arg string) error {
	if f.keyFile != "" && f.passphraseFile != "" {
		return usagef("give either --key-file or --passphrase-file, not both")
	}
	if f.test && f.mount != "" {
		return usagef("--test only checks the key; it cannot --mount")
	}
	d, cd, err := resolveDrive(a, arg)
	if err != nil {
		return err
	}
	prompt := cd == nil
	if cd != nil {
		k, p, err := cd.UnlockKey()
		if err != nil {
			return err
		}
		d.Key, prompt = k, p
	}
	switch {
	case f.keyFile != "":
		k, err := luksdrive.ParseKeyFileSpec(f.keyFile)
		if err != nil {
			return err
		}
		d.Key, prompt = k, false
	case f.passphraseFile != "":
		p, err := readPassphraseFile(f.passphraseFile)
		if err != nil {
			return err
		}
		defer clear(p)
		d.Key, prompt = luksdrive.Key{Passphrase: p, Slot: luksdrive.AnySlot}, false
	}
	if prompt {
		p, err := readPassphrase(a, fmt.Sprintf("Passphrase for %s: ", arg))
		if err != nil {
			return err
		}
		// The command owns the typed passphrase and wipes it here;
		// luksdrive only reads it.
		defer clear(p)
		d.Key = luksdrive.Key{Passphrase: p, Slot: luksdrive.AnySlot}
	}
	if fl.Changed("keyfile-offset") {
		d.Key.Offset = f.offset
	}
	if fl.Changed("keyfile-size") {
		d.Key.Size = f.size
	}
	if fl.Changed("key-slot") || cd == nil {
		d.Key.Slot = f.slot
	}
	if fl.Changed("key-timeout") || d.Key.DeviceTimeout == 0 {
		d.Key.DeviceTimeout = f.keyTimeout
	}
	if f.name != "" {
		d.MappingName = f.name
	}
	if f.header != "" {
		d.Header = f.header
	}
	if f.mount != "" {
		d.MountPoint = f.mount
	}
	if f.readOnly {
		d.ReadOnly = true
	}
	if err := f.policy.apply(fl, &d.Policy); err != nil {
		return err
	}

	led := interactiveLED(ctx, a)
	defer led.Close()
	st, err := luksdrive.Ensure(ctx, d, &luksdrive.EnsureOptions{
		FindTimeout: f.timeout, CreateMountPoint: f.create, Test: f.test, Logger: a.log,
	})
	if err != nil {
		led.Set(ctx, blinkstick.Failed)
		return err
	}
	if f.test {
		led.Set(ctx, blinkstick.Idle)
		fmt.Fprintf(a.stdout, "key accepted for %s\n", st.Device)
		return nil
	}
	// The drive stays in use (blue) until extdrive lock turns it green.
	verb := "unlocked"
	if !st.Unlocked {
		verb = "already unlocked"
	}
	fmt.Fprintf(a.stdout, "%s %s as %s\n", verb, st.Device, st.Mapping.Path)
	if st.MountPoint != "" {
		verb = "mounted"
		if !st.Mounted {
			verb = "already mounted"
		}
		fmt.Fprintf(a.stdout, "%s at %s\n", verb, st.MountPoint)
	}
	return nil
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d; see extdrive %s --help", cmd.Name(), n, len(args), cmd.Name())
		}
		return nil
	}
}

// resolveDrive turns a command-line argument into a Drive: a device spec
// or path as given, or a bare name looked up in the configuration file.
// The config drive is returned too (nil for a spec), for its key settings.
func resolveDrive(a *app, arg string) (*luksdrive.Drive, *config.Drive, error) {
	sp, err := luksdrive.ParseSpec(arg)
	if err != nil {
		return nil, nil, err
	}
	if sp.Kind != luksdrive.SpecPath || strings.ContainsRune(arg, '/') {
		return &luksdrive.Drive{Device: arg}, nil, nil
	}
	if _, err := os.Stat(arg); err == nil {
		return &luksdrive.Drive{Device: arg}, nil, nil
	}
	cfg, err := config.Load(a.configPath)
	if err != nil {
		if errors.Is(err, config.ErrNoConfig) {
			return nil, nil, fmt.Errorf("%q is not a device, an image file or UUID=/LABEL=; and %w", arg, err)
		}
		return nil, nil, err
	}
	cd, ok := cfg.Drive(arg)
	if !ok {
		return nil, nil, fmt.Errorf("%q is not a device, an image file, UUID=/LABEL=, or a %w %s", arg, rotate.ErrUnknownDrive, a.configPath)
	}
	d, err := cd.LuksDrive()
	if err != nil {
		return nil, nil, err
	}
	return d, cd, nil
}

// policyFlags are the mount policy options shared by unlock and mount.
type policyFlags struct {
	sync, noatime, nodiratime bool
	owner, mode               string
}

func (p *policyFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&p.sync, "sync", false, "mount with sync (writes reach the drive at once)")
	fl.BoolVar(&p.noatime, "noatime", false, "mount with noatime")
	fl.BoolVar(&p.nodiratime, "nodiratime", false, "mount with nodiratime")
	fl.StringVar(&p.owner, "owner", "", "owner of the mount root, `USER:GROUP` (names or numbers)")
	fl.StringVar(&p.mode, "mode", "", "permissions of the mount root, octal (e.g. 0750)")
}

// apply sets the flags the user gave onto pol; unset flags keep the
// configured values.
func (p *policyFlags) apply(fl *pflag.FlagSet, pol *luksdrive.MountPolicy) error {
	if fl.Changed("sync") {
		pol.Sync = p.sync
	}
	if fl.Changed("noatime") {
		pol.NoAtime = p.noatime
	}
	if fl.Changed("nodiratime") {
		pol.NoDirAtime = p.nodiratime
	}
	if p.owner == "" && p.mode == "" {
		return nil
	}
	o := &luksdrive.Owner{UID: os.Getuid(), GID: os.Getgid()}
	if p.owner != "" {
		u, g, ok := strings.Cut(p.owner, ":")
		if !ok {
			return usagef("--owner %q: want USER:GROUP", p.owner)
		}
		var err error
		if o.UID, err = lookupID(u, true); err != nil {
			return err
		}
		if o.GID, err = lookupID(g, false); err != nil {
			return err
		}
	}
	if p.mode != "" {
		m, err := strconv.ParseUint(p.mode, 8, 32)
		if err != nil || m > 0o777 {
			return usagef("--mode %q: want octal permissions such as 0750", p.mode)
		}
		o.Mode = os.FileMode(m)
	}
	pol.Owner = o
	return nil
}

func lookupID(s string, isUser bool) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	var id string
	if isUser {
		u, err := user.Lookup(s)
		if err != nil {
			return 0, usagef("--owner: no user %q", s)
		}
		id = u.Uid
	} else {
		g, err := user.LookupGroup(s)
		if err != nil {
			return 0, usagef("--owner: no group %q", s)
		}
		id = g.Gid
	}
	return strconv.Atoi(id)
}
