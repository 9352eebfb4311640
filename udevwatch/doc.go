// Package udevwatch reports block devices as they come and go, from udev
// or kernel uevents read off a netlink socket, and runs per-drive jobs
// when configured drives are plugged in or pulled.
//
// A Watcher listens in one of two modes. In ModeUdev it takes the events
// systemd-udevd multicasts once its rules ran, which carry ID_FS_UUID,
// ID_FS_TYPE, ID_SERIAL and friends, and accepts them only from a root
// sender (SCM_CREDENTIALS), as libudev does. In ModeKernel, for systems
// without udev, it takes the kernel's own events, only from the kernel
// (netlink port 0), and reads each new device's superblock with
// luksdrive/probe. At start, and again after the kernel dropped events
// (ENOBUFS), it scans /sys for the devices present, so none is missed.
//
// The burst of add and change events one insertion produces is reduced to
// one Added event per device, by comparing each message with what the
// device looked like before rather than by timing. Removed events carry
// the metadata the device had, so a handler knows which drive left.
//
// Messages are parsed by ParseMessage, which never panics on hostile
// bytes; a malformed or untrusted message is logged and dropped.
//
// A Dispatcher turns events into jobs, at most one per drive at a time:
// it is what `extdrive watch` runs, and other tools can reuse it. The
// subpackage install writes the udev rule and systemd units that do the
// same on systems with systemd.
package udevwatch
