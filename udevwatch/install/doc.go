// Package install writes, and removes again, the udev rule and systemd
// units that start extdrive's job when a configured drive is plugged in.
//
// The udev rule matches each drive by its LUKS UUID and asks systemd for
// extdrive@<escaped UUID>.service through ENV{SYSTEMD_WANTS}: udev kills
// RUN+= programs after a short timeout, and a backup takes hours. The
// template unit is bound to the drive's device unit (BindsTo=, After=), so
// pulling the drive stops the job. Unit names are escaped here exactly as
// systemd-escape does.
//
// Install records what it wrote, with checksums, in a manifest; Uninstall
// removes exactly those files, and both refuse to touch a file they did
// not write or that was edited since.
package install
