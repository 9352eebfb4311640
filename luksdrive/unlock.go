package luksdrive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/extdrive/extdrive/luksdrive/internal/argon2"
)

// UnlockOptions configures Unlock. The zero value is not useful: a Key is
// required.
type UnlockOptions struct {
	// Key is where the key comes from; see Key for who owns what.
	Key Key
	// Name is the device-mapper name; "" means DefaultMappingName of the
	// volume's LUKS UUID.
	Name string
	// Test verifies the key without creating a mapping, like
	// cryptsetup open --test-passphrase. It needs no device-mapper and
	// works on a plain image file.
	Test bool
	// Header is a detached LUKS header file (crypttab's header=); the
	// device then holds only the encrypted data.
	Header string
	// ReadOnly creates a read-only mapping.
	ReadOnly bool
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
	// OnKeyslot, if set, is called before each keyslot's key derivation
	// (the slow part, a second or more each), e.g. to show progress.
	OnKeyslot func(slot int)
}

// Mapping is an open (or, in Test mode, verified) LUKS volume.
type Mapping struct {
	Name   string // device-mapper name; "" in Test mode
	Path   string // /dev/mapper/Name; "" in Test mode
	Device string // the LUKS device (or image) it maps
	UUID   string // LUKS UUID
	Slot   int    // keyslot that opened it; -1 if it was already open
}

// DefaultMappingName is the mapping name used when none is configured:
// "luks-<UUID>", the name systemd-cryptsetup and udisks give, so a drive
// unlocked by either is recognised as the same mapping.
func DefaultMappingName(luksUUID string) string {
	return "luks-" + luksUUID
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Unlock opens the LUKS volume on device (a block device node, or an
// image file) and creates its dm-crypt mapping.
//
// It is idempotent: if a mapping of the same device is already open,
// Unlock returns it (Slot -1) without reading the key or paying the KDF.
// A mapping name held by another device is ErrBusy.
//
// Keyslots are tried in the order described at slotOrder: an explicit
// Key.Slot, then the slot an extdrive-keyfile token names for this key
// file, then LUKS2 priority. Errors wrap ErrWrongKey, ErrNotLUKS,
// ErrCorruptHeader, ErrUnsupported, ErrNoDevice, ErrNoKeyDevice,
// ErrUnsafeKeyFile, ErrBusy, ErrNoDeviceMapper or ErrPermission inside an
// *OpError naming the device. On error nothing is left open or mounted.
func Unlock(ctx context.Context, device string, opts *UnlockOptions) (*Mapping, error) {
	if opts == nil {
		return nil, opErr("unlock", device, errors.New("no key given: set UnlockOptions.Key"))
	}
	m, err := unlock(ctx, device, opts, logger(opts.Logger))
	if err != nil {
		return nil, opErr("unlock", device, err)
	}
	return m, nil
}

func unlock(ctx context.Context, device string, opts *UnlockOptions, log *slog.Logger) (*Mapping, error) {
	if err := opts.Key.validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(device)
	if err != nil {
		return nil, openError(err)
	}
	defer f.Close()
	hdrSrc, hdrName := f, device
	if opts.Header != "" {
		hf, err := os.Open(opts.Header)
		if err != nil {
			return nil, fmt.Errorf("detached header: %w", openError(err))
		}
		defer hf.Close()
		hdrSrc, hdrName = hf, opts.Header
	}
	hdrSize, err := deviceSize(hdrSrc)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hdrSrc, hdrSize)
	if err != nil {
		if errors.Is(err, ErrNotLUKS) && opts.Header == "" {
			return nil, fmt.Errorf("%w (check the device, or give the detached header)", err)
		}
		if hdrName != device {
			return nil, fmt.Errorf("header %s: %w", hdrName, err)
		}
		return nil, err
	}
	log.Debug("read LUKS header", "device", device, "version", h.version, "uuid", h.uuid, "keyslots", len(h.keyslots))

	name := opts.Name
	if name == "" {
		name = DefaultMappingName(h.uuid)
	}
	if !opts.Test {
		if err := checkMappingName(name); err != nil {
			return nil, err
		}
		// Before the KDF: without device-mapper its seconds are wasted.
		if err := haveDM(); err != nil {
			return nil, err
		}
		m, err := existingMapping(device, name, h)
		if err != nil || m != nil {
			if m != nil {
				log.Info("mapping already open", "device", device, "name", m.Name)
			}
			return m, err
		}
	}

	order, err := slotOrder(h, &opts.Key)
	if err != nil {
		return nil, err
	}
	pass, release, err := keyMaterial(ctx, &opts.Key, log)
	if err != nil {
		return nil, err
	}
	defer release()

	// One argon2 memory mapping serves every keyslot tried.
	var ws argon2.Workspace
	defer ws.Close()
	var vk []byte
	var lv *luksGoVolume // set instead of vk when luks.go opened the slot
	var slot int
	var slotErr error
	for _, ks := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		log.Debug("trying keyslot", "device", device, "slot", ks.id, "kdf", ks.kdf.typ)
		if opts.OnKeyslot != nil {
			opts.OnKeyslot(ks.id)
		}
		k, err := openKeyslot(ctx, hdrSrc, ks, pass, &ws)
		if err == nil {
			vk, slot = k, ks.id
			break
		}
		if errors.Is(err, ErrUnsupported) && opts.Header == "" {
			// luks.go knows hashes and ciphers this package does not.
			if v, lerr := unsealLuksGo(device, ks.id, pass); lerr == nil {
				log.Debug("keyslot opened by luks.go", "slot", ks.id, "why", err)
				lv, slot = v, ks.id
				break
			} else if errors.Is(lerr, errKeyMismatch) {
				continue
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, errKeyMismatch) {
			// A slot we cannot read (odd cipher, damaged area) must not
			// hide a later slot that opens: remember and go on.
			log.Debug("keyslot unusable", "slot", ks.id, "err", err)
			if slotErr == nil {
				slotErr = fmt.Errorf("keyslot %d: %w", ks.id, err)
			}
		}
	}
	if vk == nil && lv == nil {
		if slotErr != nil && len(order) == 1 {
			return nil, slotErr
		}
		return nil, fmt.Errorf("%w: the passphrase or key file is wrong (tried %d keyslot(s))", ErrWrongKey, len(order))
	}
	defer wipe(vk)
	log.Info("key accepted", "device", device, "slot", slot)

	if opts.Test {
		return &Mapping{Device: device, UUID: h.uuid, Slot: slot}, nil
	}
	if lv != nil && opts.ReadOnly {
		return nil, unsupported("read-only mapping of a volume with cipher %s", h.segment.encryption)
	}
	if err := createMapping(ctx, f, device, name, h, vk, lv, opts.ReadOnly, log); err != nil {
		return nil, err
	}
	log.Info("mapping created", "device", device, "name", name)
	return &Mapping{Name: name, Path: "/dev/mapper/" + name, Device: device, UUID: h.uuid, Slot: slot}, nil
}

// keyMaterial returns the key bytes and a release func that wipes them if
// this package owns them (a passphrase stays the caller's).
func keyMaterial(ctx context.Context, k *Key, log *slog.Logger) ([]byte, func(), error) {
	if k.Passphrase != nil {
		return k.Passphrase, func() {}, nil
	}
	var b []byte
	var err error
	if k.FileDevice != "" {
		b, err = readKeyFromDevice(ctx, k, log)
	} else {
		b, err = readKeyFile(k.File, k.Offset, k.Size)
	}
	if err != nil {
		return nil, nil, err
	}
	return b, func() { wipe(b) }, nil
}

// checkMappingName refuses names device-mapper or /dev/mapper cannot hold.
func checkMappingName(name string) error {
	if name == "" || len(name) >= 128 || name == "." || name == ".." || name == "control" ||
		strings.ContainsAny(name, "/ \t\n") {
		return fmt.Errorf("invalid mapping name %q: use up to 127 characters without '/' or spaces", name)
	}
	return nil
}

// openError turns an open(2) failure into this package's sentinels.
func openError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %v", ErrNoDevice, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %v (run as root)", ErrPermission, err)
	}
	return err
}

// dmControl is device-mapper's control node; without it there is no dm.
const dmControl = "/dev/mapper/control"
