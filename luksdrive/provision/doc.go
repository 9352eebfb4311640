// Package provision turns a blank disk into a managed backup drive and
// maintains its keys: Prepare (GPT partition, LUKS2 with a recovery
// passphrase, a random key file on a key stick enrolled in its own
// keyslot with an extdrive-keyfile token, ext4, header backup, config
// entry), Enroll and RemoveKey for keyslots, and BackupHeader and
// VerifyHeaderBackup for LUKS header copies.
//
// LUKS headers are written by the cryptsetup command, never by this
// package: cryptsetup is the tool users and their rescue disks trust, and
// luks.go only reads headers. Every external command goes through the
// OnCommand callback before it runs, so the caller can show it; a failed
// command stops the whole operation with a *StepError naming the step.
//
// Prepare refuses disks that are mounted (or have a mounted partition),
// that hold the running system, that are part of an active mapping, or
// that are smaller than a sanity floor, and asks the caller's Confirm
// callback before it writes anything.
package provision
