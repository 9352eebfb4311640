// Package spindown puts idle backup disks to sleep.
//
// It does three things, each usable on its own:
//
//   - Resolve walks from whatever the caller has (a dm-crypt mapping, a
//     partition, a mounted filesystem) down to the physical whole disk(s)
//     through sysfs, and refuses anything that is not a disk a power
//     command can go to (loop, ram, a dm target with no disk below).
//   - Disk.SetStandbyTimer, Disk.StandbyNow and Disk.CheckPower send what
//     hdparm -S, -y and -C send: ATA IDLE (with timer), STANDBY IMMEDIATE
//     and CHECK POWER MODE inside an ATA PASS-THROUGH(16) CDB over SG_IO.
//     USB bridges that reject ATA pass-through get SCSI START STOP UNIT
//     instead, so "stop now" works on far more enclosures than the drive's
//     own timer does.
//   - Watch is an hd-idle style monitor: it samples /proc/diskstats and
//     stops a disk once it has seen no I/O for the idle time, never while a
//     filesystem on it still has writes pending, and reports spin-ups.
//
// Power commands need root (CAP_SYS_RAWIO); without it the error wraps
// luksdrive.ErrPermission. Every error names the device and wraps one of
// the sentinels below or in package luksdrive. The package never prints:
// it logs through the optional *slog.Logger in its options structs and
// reports monitor events through callbacks.
package spindown
