package config

import (
	"time"

	"github.com/extdrive/extdrive/luksdrive"
)

// UnlockKey converts the drive's key settings to a luksdrive.Key. For
// Key = "prompt" it returns prompt = true and a Key without File: the
// caller reads the passphrase, sets Key.Passphrase, and owns (and wipes)
// that slice.
func (d *Drive) UnlockKey() (k luksdrive.Key, prompt bool, err error) {
	if d.Key == KeyPrompt {
		k = luksdrive.Key{Slot: luksdrive.AnySlot}
	} else if k, err = luksdrive.ParseKeyFileSpec(d.Key); err != nil {
		return k, false, err
	}
	k.Offset, k.Size = d.KeyOffset, d.KeySize
	k.DeviceTimeout = time.Duration(d.KeyTimeout)
	if d.KeySlot != nil {
		k.Slot = *d.KeySlot
	}
	return k, d.Key == KeyPrompt, nil
}

// MappingName is the /dev/mapper name the drive is unlocked under.
func (d *Drive) MappingName() string {
	if d.Mapping != "" {
		return d.Mapping
	}
	return luksdrive.DefaultMappingName(d.UUID)
}

// Spec is the drive's device spec for luksdrive.Find.
func (d *Drive) Spec() string { return "UUID=" + d.UUID }

// LuksDrive converts d for luksdrive.Ensure, Release and GetStatus. With
// Key = "prompt" the returned Key has no source yet: the caller sets
// Key.Passphrase, and owns and wipes that slice.
func (d *Drive) LuksDrive() (*luksdrive.Drive, error) {
	k, _, err := d.UnlockKey()
	if err != nil {
		return nil, err
	}
	on := func(b *bool) bool { return b == nil || *b } // nil: the documented default, true
	return &luksdrive.Drive{
		Name:        d.Name,
		Device:      d.Spec(),
		Key:         k,
		MappingName: d.MappingName(),
		MountPoint:  d.MountPoint,
		Policy:      luksdrive.MountPolicy{Sync: d.Sync, NoAtime: on(d.NoAtime), NoDirAtime: on(d.NoDirAtime)},
	}, nil
}
