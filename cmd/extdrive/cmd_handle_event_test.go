package main

import (
	"strings"
	"testing"
)

func TestHandleEventCommand(t *testing.T) {
	cfg := watchConfig(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		log  string
	}{
		{"configured drive", map[string]string{
			"ACTION": "add", "DEVPATH": "/devices/pci0000:00/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sdb",
			"SUBSYSTEM": "block", "DEVNAME": "/dev/sdb", "DEVTYPE": "disk", "ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": watchUUIDA,
		}, nil, exitOK, "configured drive added"},
		{"removed", map[string]string{
			"ACTION": "remove", "DEVPATH": "/devices/x/block/sdb", "SUBSYSTEM": "block", "DEVNAME": "/dev/sdb",
			"ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": strings.ToUpper(watchUUIDB),
		}, nil, exitOK, "drive=offsite-b"},
		{"unconfigured", map[string]string{
			"ACTION": "add", "DEVPATH": "/devices/x/block/sdc", "SUBSYSTEM": "block", "DEVNAME": "/dev/sdc", "ID_FS_TYPE": "vfat",
		}, nil, exitOK, "not a configured drive"},
		{"no udev environment", map[string]string{}, nil, exitBadUevent, "run it from a udev rule"},
		{"hostile DEVPATH", map[string]string{
			"ACTION": "add", "DEVPATH": "/devices/../../etc", "SUBSYSTEM": "block", "DEVNAME": "/dev/sdb",
		}, nil, exitBadUevent, "DEVPATH"},
		{"not a block device", map[string]string{
			"ACTION": "add", "DEVPATH": "/devices/x/usb2", "SUBSYSTEM": "usb",
		}, nil, exitBadUevent, "not a block device"},
		{"job failed", map[string]string{}, []string{"--job-failed", "offsite-a"}, exitOK, "backup job failed"},
		{"job failed, unknown drive", map[string]string{}, []string{"--job-failed", "nope"}, exitUsage, "no such drive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"ACTION", "DEVPATH", "SUBSYSTEM", "DEVNAME", "DEVTYPE", "ID_FS_TYPE", "ID_FS_UUID"} {
				t.Setenv(k, tc.env[k])
			}
			args := append([]string{"--config", cfg, "-v", "handle-event"}, tc.args...)
			code, _, errs := runCmd(t, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errs)
			}
			if !strings.Contains(errs, tc.log) {
				t.Errorf("stderr lacks %q:\n%s", tc.log, errs)
			}
		})
	}
}
