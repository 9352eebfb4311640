package luksdrive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Drive is one encrypted backup drive: where to find it, how to unlock it
// and where to mount it. The extdrive command builds one from its
// arguments or from a named drive in the configuration file.
type Drive struct {
	// Name is a human name for logs ("offsite-A"); may be empty.
	Name string
	// Device is a spec of the LUKS device (see ParseSpec).
	Device string
	// Key unlocks it. Ownership of Key.Passphrase stays with the caller.
	Key Key
	// Header is a detached LUKS header file; "" when the header is on the
	// device.
	Header string
	// MappingName is the device-mapper name; "" means DefaultMappingName
	// of the LUKS UUID.
	MappingName string
	// MountPoint is where the unlocked filesystem goes; "" unlocks only.
	MountPoint string
	// Policy for the mount; nodev,nosuid,noexec are always added.
	Policy MountPolicy
	// ReadOnly maps and mounts read-only.
	ReadOnly bool
}

// label names the drive in logs and errors.
func (d *Drive) label() string {
	if d.Name != "" {
		return d.Name
	}
	return d.Device
}

// EnsureOptions tunes Ensure. A nil *EnsureOptions means defaults.
type EnsureOptions struct {
	// FindTimeout is how long to wait for the drive to appear; 0 looks once.
	FindTimeout time.Duration
	// CreateMountPoint creates a missing mount point.
	CreateMountPoint bool
	// Test only verifies the key (no mapping, no mount).
	Test bool
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
}

// State is what Ensure found or did.
type State struct {
	Device     string   // the LUKS device node (or image path)
	Mapping    *Mapping // the open mapping; nil in Test mode
	MountPoint string   // "" when the drive was only unlocked
	Unlocked   bool     // this call created the mapping
	Mounted    bool     // this call mounted the filesystem
}

// ReleaseOptions tunes Release. A nil *ReleaseOptions means defaults.
type ReleaseOptions struct {
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
}

// Release syncs and unmounts the drive's filesystem and closes its
// mapping. Each part that is already undone is skipped, so Release can be
// repeated and works after the drive was pulled: the mapping is found
// through the mount point when the device itself is gone. Without a
// MountPoint, every mount of the mapping is unmounted. A busy mount fails
// with ErrBusy naming its holders and leaves the mapping open.
//
// A Drive with only MappingName set (no Device) names an open mapping
// directly.
func Release(ctx context.Context, d *Drive, opts *ReleaseOptions) error {
	var log = discard
	if opts != nil {
		log = logOrDiscard(opts.Logger)
	}
	name := d.MappingName
	if d.MountPoint != "" {
		src, err := mountedMapping(d.MountPoint)
		switch {
		case errors.Is(err, ErrNotMounted):
		case err != nil:
			return opErr("release", d.label(), err)
		default:
			if name == "" {
				name = src
			}
			if err := Unmount(ctx, d.MountPoint, &UnmountOptions{Logger: log}); err != nil {
				return err
			}
		}
	}
	if name == "" {
		if d.Device == "" {
			return opErr("release", "", fmt.Errorf("%w: the drive has neither a device spec nor a mapping name", ErrBadSpec))
		}
		n, err := openMappingName(ctx, d, log)
		if err != nil {
			return err
		}
		if n == "" {
			return nil
		}
		name = n
	}
	// Mounts elsewhere (by hand, by a desktop automounter) would make the
	// lock fail with a bare "busy"; unmount them the same careful way.
	for _, mp := range MountPoints("/dev/mapper/" + name) {
		if err := Unmount(ctx, mp, &UnmountOptions{Logger: log}); err != nil {
			return err
		}
	}
	log.Info("locking", "drive", d.label(), "mapping", name)
	if err := Lock(ctx, name); err != nil {
		if errors.Is(err, ErrNoDevice) {
			log.Info("already locked", "drive", d.label(), "mapping", name)
			return nil
		}
		return err
	}
	return nil
}

// openMappingName finds the name of the drive's open mapping, or "" when
// it has none.
func openMappingName(ctx context.Context, d *Drive, log *slog.Logger) (string, error) {
	dev, err := Find(ctx, d.Device, &FindOptions{Logger: log})
	if errors.Is(err, ErrNoDevice) {
		// A pulled drive named by its LUKS UUID may still have its
		// mapping (and mounts) under the default name.
		if sp, perr := ParseSpec(d.Device); perr == nil && sp.Kind == SpecUUID {
			if n := DefaultMappingName(sp.Value); mappingExists(n) {
				return n, nil
			}
		}
		log.Info("drive absent and no open mapping known; nothing to lock", "drive", d.label())
		return "", nil
	}
	if err != nil {
		return "", err
	}
	m, err := OpenMappingFor(dev)
	if err != nil {
		return "", err
	}
	if m == nil {
		log.Info("already locked", "drive", d.label(), "device", dev)
		return "", nil
	}
	return m.Name, nil
}
