// Package rotate runs the off-site rotation job: when one of the
// configured drives is plugged in, it decides whether that drive is due,
// unlocks and mounts it, copies the sources onto it, records the result,
// locks it again and says so on the LED and to the monitoring service.
//
// The pieces are usable on their own: Decide and NextDrive are the pure
// schedule (time is always passed in), History is the run record kept
// both on the host and on each drive so that either rebuilds the other,
// RunLog is a size-bounded per-run log with rotation, Pinger speaks the
// healthchecks.io protocol, and Report answers "where is each drive and
// which one is due next" for extdrive status.
//
// Wall-clock time is used only for the schedule and for what is shown to
// people; how long things take is measured on the monotonic clock, so a
// Raspberry Pi setting its clock from NTP in the middle of a copy neither
// breaks timeouts nor records a negative duration. When the wall clock is
// before the last recorded run (no RTC, NTP not synced yet), the schedule
// stops trusting ages and decides by turn only.
package rotate
