package luksdrive

import (
	"context"
)

// Ensure brings the drive to "unlocked and mounted with its policy",
// doing only what is missing, and logs one line per step:
//
//   - drive found (waiting up to FindTimeout);
//   - mapping already open → reuse it, else Unlock with d.Key;
//   - already mounted at d.MountPoint with the policy → done, else Mount.
//
// Calling it again changes nothing. If the mount fails after this call
// unlocked the drive, the mapping is closed again, so a failed Ensure
// leaves the system as it found it.
func Ensure(ctx context.Context, d *Drive, opts *EnsureOptions) (*State, error) {
	if opts == nil {
		opts = &EnsureOptions{}
	}
	log := logOrDiscard(opts.Logger)
	dev, err := Find(ctx, d.Device, &FindOptions{Timeout: opts.FindTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("found drive", "drive", d.label(), "device", dev)
	st := &State{Device: dev}

	uo := &UnlockOptions{Key: d.Key, Name: d.MappingName, Header: d.Header, ReadOnly: d.ReadOnly, Test: opts.Test, Logger: log}
	if opts.Test {
		if _, err := Unlock(ctx, dev, uo); err != nil {
			return nil, err
		}
		log.Info("key verified", "drive", d.label())
		return st, nil
	}

	m, err := OpenMappingFor(dev)
	if err != nil {
		return nil, err
	}
	if m != nil {
		log.Info("mapping already open", "drive", d.label(), "mapping", m.Name)
	} else {
		if m, err = Unlock(ctx, dev, uo); err != nil {
			return nil, err
		}
		st.Unlocked = m.Slot >= 0
		log.Info("unlocked", "drive", d.label(), "mapping", m.Name, "slot", m.Slot)
	}
	st.Mapping = m
	if d.MountPoint == "" {
		return st, nil
	}

	if CheckMount(d.MountPoint, d.Policy) == nil && sameMount(m.Path, d.MountPoint) {
		log.Info("already mounted", "drive", d.label(), "target", d.MountPoint)
		st.MountPoint = d.MountPoint
		return st, nil
	}
	err = Mount(ctx, m.Path, d.MountPoint, &MountOptions{Policy: d.Policy, ReadOnly: d.ReadOnly, Create: opts.CreateMountPoint, Logger: log})
	if err != nil {
		if st.Unlocked {
			if lerr := Lock(context.WithoutCancel(ctx), m.Name); lerr != nil {
				log.Warn("closing the mapping after the failed mount failed", "mapping", m.Name, "err", lerr)
			}
		}
		return nil, err
	}
	log.Info("mounted", "drive", d.label(), "target", d.MountPoint)
	st.MountPoint = d.MountPoint
	st.Mounted = true
	return st, nil
}
