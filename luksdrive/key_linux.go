package luksdrive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/probe"
)

// readKeyFromDevice reads k.File from the filesystem on k.FileDevice. The
// device is mounted read-only, nodev,nosuid,noexec, under a private bind
// of a fresh directory (so the mount never propagates into other mount
// namespaces), and unmounted before this returns, error or not. The
// caller owns the returned key and wipes it.
func readKeyFromDevice(ctx context.Context, k *Key, log *slog.Logger) ([]byte, error) {
	timeout := k.DeviceTimeout
	if timeout == 0 {
		timeout = DefaultKeyDeviceTimeout
	}
	dev, err := Find(ctx, k.FileDevice, &FindOptions{Timeout: timeout, Logger: log})
	if err != nil {
		if errors.Is(err, ErrNoDevice) {
			return nil, fmt.Errorf("%w: key device %s did not appear within %v; plug in the key stick", ErrNoKeyDevice, k.FileDevice, timeout)
		}
		return nil, fmt.Errorf("key device %s: %w", k.FileDevice, err)
	}
	pr, err := probe.Device(dev)
	if err != nil {
		return nil, fmt.Errorf("key device %s: %w", dev, err)
	}
	data := ""
	switch pr.Type {
	case "", "crypto_LUKS":
		return nil, fmt.Errorf("%w: key device %s (%s) holds no readable filesystem", ErrNoKeyDevice, dev, k.FileDevice)
	case "vfat", "exfat":
		// FAT has no permission bits; make files owner-only so the mode
		// check below does not refuse every key on a FAT stick.
		// iocharset=utf8 as udisks does: the kernel's default charset
		// module (often nls_ascii) may be missing, utf8 rarely is.
		data = "fmask=0177,dmask=0077,iocharset=utf8"
	// A read-only mount still replays a dirty journal onto the device;
	// reading a key must not write to the stick.
	case "ext3", "ext4":
		data = "noload"
	case "xfs":
		data = "norecovery"
	case "btrfs":
		data = "nologreplay"
	}

	base := "/run"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = ""
	}
	dir, err := os.MkdirTemp(base, "extdrive-key-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return nil, mountErr(dev, err)
	}
	defer unmountQuiet(dir, log)
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return nil, mountErr(dev, err)
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC)
	if err := unix.Mount(dev, dir, pr.Type, flags, data); err != nil {
		return nil, mountErr(dev, err)
	}
	log.Debug("mounted key device", "device", dev, "fstype", pr.Type)
	defer unmountQuiet(dir, log)

	f, err := openInRoot(dir, k.File)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no key file %s on %s (%s)", ErrNoKeyDevice, k.File, k.FileDevice, dev)
		}
		return nil, fmt.Errorf("key file %s on %s: %w", k.File, dev, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	name := k.File + " on " + k.FileDevice
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file: %w", name, ErrUnsafeKeyFile)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: %w; run chmod 600 on it", name, fi.Mode().Perm(), ErrUnsafeKeyFile)
	}
	return readKeyBytes(f, fi.Size(), k.Offset, k.Size, name)
}

// openInRoot opens p as if root were "/": symlinks on the stick resolve
// inside the stick and cannot point at files of the host.
func openInRoot(root, p string) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rfd)
	rel := strings.TrimLeft(filepath.Clean("/"+p), "/")
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func mountErr(dev string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: mount key device %s: %v (run as root)", ErrPermission, dev, err)
	}
	return fmt.Errorf("mount key device %s read-only: %w", dev, err)
}

// unmountQuiet unmounts dir; a busy mount (something scanning it) is
// detached rather than left behind.
func unmountQuiet(dir string, log *slog.Logger) {
	if err := unix.Unmount(dir, 0); err != nil {
		if err2 := unix.Unmount(dir, unix.MNT_DETACH); err2 != nil {
			log.Warn("could not unmount key device", "dir", dir, "err", err)
		}
	}
}
