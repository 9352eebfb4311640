// Package luksdrive finds, unlocks, mounts and locks LUKS-encrypted
// removable backup drives.
//
// A drive is named by a Spec (LUKS or filesystem UUID, LABEL=, PARTUUID= or
// a path). Keys come from a passphrase, a key file, or a key file on another
// device (crypttab's "path:UUID=…" form); the package owns every key buffer
// it reads and wipes it after use. Unlocking uses github.com/anatol/luks.go,
// with this package filling the gaps (old LUKS1 cbc-essiv volumes, keyslot
// hints). Mounts are made with an enforced policy (nodev, nosuid, noexec)
// and read back through github.com/moby/sys/mountinfo.
//
// The package never prints and never exits: it logs through an optional
// *slog.Logger and returns errors that wrap the sentinels in errors.go.
package luksdrive
