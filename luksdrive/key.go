package luksdrive

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// AnySlot as Key.Slot lets Unlock choose the keyslot (token hint, then
// LUKS2 priority and order).
const AnySlot = -1

// MaxKeyFileSize is the largest key file Unlock reads, the same 8 MiB
// ceiling cryptsetup applies (--keyfile-size beyond it is refused).
const MaxKeyFileSize = 8 << 20

// DefaultKeyDeviceTimeout is how long Unlock waits for the device named by
// Key.FileDevice when Key.DeviceTimeout is zero.
const DefaultKeyDeviceTimeout = 30 * time.Second

// Key says where the key for a LUKS volume comes from. Exactly one of
// Passphrase and File is set.
//
// Ownership: Passphrase belongs to the caller. Unlock reads it, never keeps
// or modifies it; the caller wipes it (clear(k.Passphrase)) when done. Key
// material Unlock reads from a file is owned by Unlock, which wipes it
// before returning.
type Key struct {
	// Passphrase is the key itself (a typed passphrase, or key file bytes
	// the caller already holds). A trailing newline is part of the key, as
	// with cryptsetup --key-file; strip it before if it is not.
	Passphrase []byte
	// File is a key file path. With FileDevice set, the path is relative to
	// that device's filesystem root.
	File string
	// FileDevice names the device holding File (crypttab's "path:UUID=…"
	// form): a spec as accepted by Find. Unlock waits up to DeviceTimeout
	// for it, mounts it read-only with nodev,nosuid,noexec in a private
	// temporary directory, reads the key and unmounts at once.
	FileDevice string
	// Offset and Size select part of the key file, like cryptsetup's
	// --keyfile-offset and --keyfile-size. Size 0 reads to the end of the
	// file (at most MaxKeyFileSize bytes).
	Offset, Size int64
	// DeviceTimeout bounds the wait for FileDevice; 0 means
	// DefaultKeyDeviceTimeout.
	DeviceTimeout time.Duration
	// Slot is the keyslot to try, or AnySlot (-1). Note that the zero
	// value, 0, means keyslot 0: set AnySlot unless the slot is known.
	Slot int
}

// ParseKeyFileSpec parses a key file argument in crypttab's form: "PATH" or
// "PATH:SPEC" where SPEC names the device holding PATH (UUID=…, LABEL=…,
// PARTUUID=… or /dev/…). The result has Slot set to AnySlot.
func ParseKeyFileSpec(s string) (Key, error) {
	k := Key{Slot: AnySlot}
	if s == "" {
		return k, errors.New("empty key file: give a path, or PATH:UUID=… for a key on another device")
	}
	path, dev, found := strings.Cut(s, ":")
	if found {
		if dev == "" {
			return k, fmt.Errorf("key file %q: nothing after ':'; give PATH:UUID=… or PATH:LABEL=…", s)
		}
		if path == "" {
			return k, fmt.Errorf("key file %q: no path before ':'; give PATH:UUID=…", s)
		}
		if !strings.HasPrefix(dev, "/") && !strings.Contains(dev, "=") {
			return k, fmt.Errorf("key file %q: %q is not a device; give UUID=…, LABEL=…, PARTUUID=… or /dev/…", s, dev)
		}
		k.FileDevice = dev
	}
	if strings.ContainsRune(path, 0) {
		return k, fmt.Errorf("key file %q: path contains a NUL byte", s)
	}
	k.File = path
	return k, nil
}

// validate reports a Key whose fields contradict each other.
func (k *Key) validate() error {
	switch {
	case k.Passphrase != nil && k.File != "":
		return errors.New("both a passphrase and a key file given; use one")
	case k.Passphrase == nil && k.File == "":
		return errors.New("no key given: set a passphrase or a key file")
	case k.FileDevice != "" && k.File == "":
		return errors.New("key device given without a key file path")
	case k.Offset < 0 || k.Size < 0:
		return errors.New("negative key file offset or size")
	case k.Size > MaxKeyFileSize:
		return fmt.Errorf("key file size %d exceeds the %d byte maximum", k.Size, MaxKeyFileSize)
	case k.Slot < AnySlot:
		return fmt.Errorf("keyslot %d out of range; use -1 for any", k.Slot)
	case k.Passphrase != nil && (k.Offset != 0 || k.Size != 0):
		return errors.New("key file offset/size given with a passphrase")
	}
	return nil
}

// readKeyFile reads the key from a regular, owner-only file. The caller
// owns the returned buffer and wipes it.
func readKeyFile(path string, offset, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("key file %s does not exist: %w", path, ErrNoKeyDevice)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("key file %s: %w (run as root or as the file's owner)", path, ErrPermission)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file: %w", path, ErrUnsafeKeyFile)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, readable or writable by others: %w; run chmod 600 %s", path, fi.Mode().Perm(), ErrUnsafeKeyFile, path)
	}
	return readKeyBytes(f, fi.Size(), offset, size, path)
}

// readKeyBytes applies cryptsetup's keyfile-offset/keyfile-size rules to
// r. The returned buffer is owned by the caller.
func readKeyBytes(r io.ReaderAt, fileSize, offset, size int64, name string) ([]byte, error) {
	if offset >= fileSize && fileSize > 0 || offset > 0 && fileSize == 0 {
		return nil, fmt.Errorf("key file %s is %d bytes, offset %d is past its end", name, fileSize, offset)
	}
	want := size
	if want == 0 {
		want = fileSize - offset
		if want > MaxKeyFileSize {
			return nil, fmt.Errorf("key file %s is larger than %d bytes; give a key file size", name, MaxKeyFileSize)
		}
	}
	if offset+want > fileSize {
		return nil, fmt.Errorf("key file %s is %d bytes, too short for %d bytes at offset %d", name, fileSize, want, offset)
	}
	if want == 0 {
		return nil, fmt.Errorf("key file %s is empty", name)
	}
	buf := make([]byte, want)
	n, err := r.ReadAt(buf, offset)
	if n != len(buf) {
		wipe(buf)
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read key file %s: %w", name, err)
	}
	return buf, nil
}
