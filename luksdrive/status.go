package luksdrive

import (
	"context"
	"errors"
)

// Status is a drive's current state, as GetStatus sees it.
type Status struct {
	Name       string   `json:"name,omitempty"`
	Spec       string   `json:"spec"`
	Present    bool     `json:"present"`
	Device     string   `json:"device,omitempty"`
	LUKSUUID   string   `json:"luks_uuid,omitempty"`
	Unlocked   bool     `json:"unlocked"`
	Mapping    string   `json:"mapping,omitempty"`
	Mounted    bool     `json:"mounted"`
	MountPoint string   `json:"mount_point,omitempty"`
	FSType     string   `json:"fstype,omitempty"`
	Options    []string `json:"options,omitempty"`
	// PolicyOK is false when the live mount lacks an option the drive's
	// policy (or the always-enforced nodev,nosuid,noexec) requires;
	// PolicyProblem then says what.
	PolicyOK      bool   `json:"policy_ok"`
	PolicyProblem string `json:"policy_problem,omitempty"`
	TotalBytes    uint64 `json:"total_bytes,omitempty"`
	FreeBytes     uint64 `json:"free_bytes,omitempty"` // available to unprivileged users
}

// GetStatus reports whether the drive is present, unlocked and mounted
// (with which options) and how much space is left. It reads only sysfs,
// mountinfo and the superblock, never the key; an absent drive is a
// Status with Present false, not an error.
func GetStatus(ctx context.Context, d *Drive) (*Status, error) {
	s := &Status{Name: d.Name, Spec: d.Device}
	dev, err := Find(ctx, d.Device, nil)
	switch {
	case errors.Is(err, ErrNoDevice):
	case err != nil:
		return nil, err
	default:
		s.Present, s.Device = true, dev
	}
	if s.Present {
		m, err := OpenMappingFor(dev)
		if err != nil {
			return nil, err
		}
		if m != nil {
			s.Unlocked, s.Mapping, s.LUKSUUID = true, m.Name, m.UUID
		}
	}
	if !s.Present {
		// A pulled drive leaves its mapping behind until it is locked.
		name := d.MappingName
		if sp, err := ParseSpec(d.Device); name == "" && err == nil && sp.Kind == SpecUUID {
			name = DefaultMappingName(sp.Value)
		}
		if name != "" && mappingExists(name) {
			s.Unlocked, s.Mapping = true, name
		}
	}
	if err := mountStatus(d, s); err != nil {
		return nil, opErr("status", d.label(), err)
	}
	return s, nil
}
