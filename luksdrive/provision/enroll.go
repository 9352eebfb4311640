package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/probe"
)

// EnrollOptions configures Enroll. Key and exactly one of NewPassphrase
// and NewKeyFile are required.
type EnrollOptions struct {
	// Key is a key the drive already accepts: a passphrase, a host key
	// file, or a key file on a stick (FileDevice). The caller owns
	// Key.Passphrase and wipes it.
	Key luksdrive.Key
	// NewPassphrase is added to a keyslot of its own. The caller owns it
	// and wipes it.
	NewPassphrase []byte
	// NewKeyFile is a key file to generate (KeyFileSize random bytes, mode
	// 0400) and enroll with an extdrive-keyfile token: a path from the
	// root of KeyStick, or an absolute host path when KeyStick is empty.
	NewKeyFile string
	KeyStick   string
	// StickTimeout bounds the wait for sticks; 0 means 10 s.
	StickTimeout time.Duration
	KDF          KDF
	OnCommand    func(argv []string)
	Logger       *slog.Logger
}

// Enrolled is the keyslot Enroll filled.
type Enrolled struct {
	Slot int
	// Token is set for a key file; Key is its config form
	// ("PATH:UUID=…" or a host path).
	Token *luksdrive.KeyfileToken
	Key   string
}

const defaultStickTimeout = 10 * time.Second

// Enroll adds a passphrase or a new key file to the LUKS2 device, in the
// lowest free keyslot. A key file gets an extdrive-keyfile token naming
// that slot and the stick's UUID, so Unlock tries that slot first.
func Enroll(ctx context.Context, device string, opts *EnrollOptions) (*Enrolled, error) {
	if opts == nil || (opts.NewPassphrase == nil) == (opts.NewKeyFile == "") {
		return nil, &luksdrive.OpError{Op: "enroll", Device: device, Err: errors.New("give exactly one of a new passphrase and a new key file")}
	}
	o := *opts
	if o.StickTimeout == 0 {
		o.StickTimeout = defaultStickTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := newRunner(o.OnCommand, log)
	if err := requireLUKS2(device); err != nil {
		return nil, err
	}
	// The new key's stick is mounted first (read-write, only for this
	// call) so that an existing key on the same stick is read through
	// that one mount: a second, read-only mount of it would be refused.
	var stick mountedStick
	if o.NewKeyFile != "" && o.KeyStick != "" {
		dev, uuid, err := findStick(ctx, o.KeyStick, o.StickTimeout, log)
		if err != nil {
			return nil, &luksdrive.OpError{Op: "enroll", Device: o.KeyStick, Err: err}
		}
		dir, unmount, err := mountStick(ctx, dev, false, log)
		if err != nil {
			return nil, &luksdrive.OpError{Op: "enroll", Device: dev, Err: err}
		}
		defer unmount()
		stick = mountedStick{dev: dev, dir: dir, uuid: uuid}
	}
	auth, authStdin, cleanup, err := existingKey(ctx, o.Key, o.StickTimeout, log, stick)
	if err != nil {
		return nil, &luksdrive.OpError{Op: "enroll", Device: device, Err: err}
	}
	defer cleanup()

	si, err := r.slots(ctx, "read keyslots", device)
	if err != nil {
		return nil, err
	}
	slot, err := si.freeSlot()
	if err != nil {
		return nil, &luksdrive.OpError{Op: "enroll", Device: device, Err: err}
	}

	if o.NewPassphrase != nil {
		if len(o.NewPassphrase) == 0 {
			return nil, &luksdrive.OpError{Op: "enroll", Device: device, Err: errors.New("the new passphrase is empty")}
		}
		if authStdin != nil {
			// Both keys on stdin is not possible; the new one goes through
			// a pipe file descriptor cryptsetup reads as a key file.
			return nil, &luksdrive.OpError{Op: "enroll", Device: device, Err: errors.New("authorize a new passphrase with a key file (--key-file), not another passphrase")}
		}
		args := append([]string{"cryptsetup", "luksAddKey", "--batch-mode", "--new-key-slot", strconv.Itoa(slot)}, o.KDF.args()...)
		args = append(append(args, auth...), device, "-")
		if _, err := r.run(ctx, "enroll passphrase", o.NewPassphrase, args...); err != nil {
			return nil, err
		}
		return &Enrolled{Slot: slot}, nil
	}

	key, err := newKey()
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var path, spec, keyDevice string
	if stick.dev != "" {
		if path, err = keyPathIn(stick.dir, o.NewKeyFile); err != nil {
			return nil, &luksdrive.OpError{Op: "enroll", Device: stick.dev, Err: err}
		}
		keyDevice = "UUID=" + stick.uuid
		spec = filepath.Clean(o.NewKeyFile) + ":" + keyDevice
	} else {
		if !filepath.IsAbs(o.NewKeyFile) {
			return nil, &luksdrive.OpError{Op: "enroll", Device: o.NewKeyFile, Err: errors.New("a key file on the host needs an absolute path")}
		}
		path, spec = filepath.Clean(o.NewKeyFile), filepath.Clean(o.NewKeyFile)
	}
	if err := writeKeyFile(path, key); err != nil {
		return nil, &luksdrive.OpError{Op: "enroll", Device: path, Err: err}
	}
	tok := luksdrive.KeyfileToken{Keyslot: slot, KeyFile: filepath.Clean(o.NewKeyFile), KeyDevice: keyDevice}
	if err := addKeyFile(ctx, r, device, slot, auth, authStdin, path, tok, o.KDF); err != nil {
		os.Remove(path) // enrolled nowhere: a stray key file only misleads
		return nil, err
	}
	return &Enrolled{Slot: slot, Token: &tok, Key: spec}, nil
}

// addKeyFile enrolls the key file at path in slot, authorized by auth,
// and writes its token.
func addKeyFile(ctx context.Context, r *runner, device string, slot int, auth []string, authStdin []byte, path string, tok luksdrive.KeyfileToken, kdf KDF) error {
	args := append([]string{"cryptsetup", "luksAddKey", "--batch-mode", "--new-key-slot", strconv.Itoa(slot)}, kdf.args()...)
	args = append(append(args, auth...), device, path)
	if _, err := r.run(ctx, "enroll key file", authStdin, args...); err != nil {
		return err
	}
	return importToken(ctx, r, device, tok)
}

// importToken writes tok with `cryptsetup token import`, in the JSON form
// luksdrive.KeyfileToken defines.
func importToken(ctx context.Context, r *runner, device string, tok luksdrive.KeyfileToken) error {
	js, err := tok.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = r.run(ctx, "token", js, "cryptsetup", "token", "import", device)
	return err
}

// existingKey turns a key the drive accepts into cryptsetup arguments (and
// stdin for a passphrase). A key on a stick is read from the stick
// mounted read-only until cleanup.
func existingKey(ctx context.Context, k luksdrive.Key, timeout time.Duration, log *slog.Logger, mounted mountedStick) (args []string, stdin []byte, cleanup func(), err error) {
	cleanup = func() {}
	var extra []string
	if k.Offset > 0 {
		extra = append(extra, "--keyfile-offset", strconv.FormatInt(k.Offset, 10))
	}
	if k.Size > 0 {
		extra = append(extra, "--keyfile-size", strconv.FormatInt(k.Size, 10))
	}
	switch {
	case k.Passphrase != nil && k.File != "":
		return nil, nil, cleanup, errors.New("the existing key is both a passphrase and a key file")
	case k.Passphrase != nil:
		return []string{"--key-file", "-"}, k.Passphrase, cleanup, nil
	case k.File == "":
		return nil, nil, cleanup, errors.New("no existing key: give the drive's passphrase or a key file it accepts")
	case k.FileDevice == "":
		return append([]string{"--key-file", k.File}, extra...), nil, cleanup, nil
	}
	if timeout <= 0 {
		timeout = k.DeviceTimeout
	}
	dev, err := luksdrive.Find(ctx, k.FileDevice, &luksdrive.FindOptions{Timeout: timeout, Logger: log})
	if err != nil {
		return nil, nil, cleanup, fmt.Errorf("key stick %s: %w", k.FileDevice, errors.Join(luksdrive.ErrNoKeyDevice, err))
	}
	if dev == mounted.dev {
		p, err := keyPathIn(mounted.dir, k.File)
		if err != nil {
			return nil, nil, cleanup, err
		}
		return append([]string{"--key-file", p}, extra...), nil, cleanup, nil
	}
	dir, unmount, err := mountStick(ctx, dev, true, log)
	if err != nil {
		return nil, nil, cleanup, err
	}
	p, err := keyPathIn(dir, k.File)
	if err != nil {
		unmount()
		return nil, nil, cleanup, err
	}
	return append([]string{"--key-file", p}, extra...), nil, func() { unmount() }, nil
}

// mountedStick is a key stick Enroll has mounted; zero when none.
type mountedStick struct{ dev, dir, uuid string }

// findStick waits for the key stick and returns its node and its
// filesystem UUID, which the token and the config name it by.
func findStick(ctx context.Context, spec string, timeout time.Duration, log *slog.Logger) (string, string, error) {
	dev, err := luksdrive.Find(ctx, spec, &luksdrive.FindOptions{Timeout: timeout, Logger: log})
	if err != nil {
		return "", "", errors.Join(luksdrive.ErrNoKeyDevice, err)
	}
	res, err := probe.Device(dev)
	if err != nil {
		return "", "", fmt.Errorf("key stick %s: no filesystem found (%v); format it first, e.g. mkfs.ext4 -L KEYS %s", dev, err, dev)
	}
	switch res.Type {
	case "ext2", "ext3", "ext4", "vfat", "exfat", "btrfs", "xfs":
	default:
		return "", "", fmt.Errorf("key stick %s holds %q, not a filesystem to keep a key file on", dev, res.Type)
	}
	if res.UUID == "" {
		return "", "", fmt.Errorf("key stick %s: its filesystem has no UUID", dev)
	}
	return dev, res.UUID, nil
}

func requireLUKS2(device string) error {
	res, err := probe.Device(device)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &luksdrive.OpError{Op: "enroll", Device: device, Err: luksdrive.ErrNoDevice}
		}
		if errors.Is(err, probe.ErrUnknown) {
			return &luksdrive.OpError{Op: "enroll", Device: device, Err: luksdrive.ErrNotLUKS}
		}
		return &luksdrive.OpError{Op: "enroll", Device: device, Err: err}
	}
	if res.Type != "crypto_LUKS" {
		return &luksdrive.OpError{Op: "enroll", Device: device, Err: fmt.Errorf("%w: it holds %s", luksdrive.ErrNotLUKS, res.Type)}
	}
	if res.Version != "2" {
		return &luksdrive.OpError{Op: "enroll", Device: device, Err: fmt.Errorf("%w: LUKS%s has no tokens; convert it with cryptsetup convert --type luks2", luksdrive.ErrUnsupported, res.Version)}
	}
	return nil
}

// RemoveOptions configures RemoveKey.
type RemoveOptions struct {
	// Slot is the keyslot to wipe.
	Slot      int
	OnCommand func(argv []string)
	Logger    *slog.Logger
}

// RemoveKey wipes one keyslot of the LUKS2 device and the
// extdrive-keyfile tokens that pointed at it. It refuses the last active
// keyslot: without one the data is gone for good.
func RemoveKey(ctx context.Context, device string, opts *RemoveOptions) error {
	if opts == nil {
		return &luksdrive.OpError{Op: "remove key", Device: device, Err: errors.New("no keyslot given")}
	}
	if err := requireLUKS2(device); err != nil {
		return err
	}
	r := newRunner(opts.OnCommand, opts.Logger)
	si, err := r.slots(ctx, "read keyslots", device)
	if err != nil {
		return err
	}
	if !slices.Contains(si.Keyslots, opts.Slot) {
		return &luksdrive.OpError{Op: "remove key", Device: device, Err: fmt.Errorf("%w: keyslot %d is not in use (active: %v)", ErrKeyslot, opts.Slot, si.Keyslots)}
	}
	if len(si.Keyslots) == 1 {
		return &luksdrive.OpError{Op: "remove key", Device: device, Err: fmt.Errorf("%w: keyslot %d is the last one; removing it would lock the data away for good; enroll another key first", ErrKeyslot, opts.Slot)}
	}
	if _, err := r.run(ctx, "remove key", nil, "cryptsetup", "luksKillSlot", "--batch-mode", device, strconv.Itoa(opts.Slot)); err != nil {
		return err
	}
	for _, t := range si.Tokens {
		if t.Type == luksdrive.KeyfileTokenType && slices.Contains(t.Keyslots, opts.Slot) {
			if _, err := r.run(ctx, "remove token", nil, "cryptsetup", "token", "remove", "--token-id", strconv.Itoa(t.ID), device); err != nil {
				return err
			}
		}
	}
	return nil
}
