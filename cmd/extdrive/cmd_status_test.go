package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive"
)

func devConfig(t *testing.T) string {
	path, _ := testConfig(t, `[[drive]]
name = "offsite-A"
uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
key = "/etc/extdrive/a.key"
mount_point = "{dir}/mnt"
`)
	return path
}

func TestStatusCommand(t *testing.T) {
	f := newLUKSFixture(t)
	cfg := devConfig(t)

	code, out, errOut := runCLI(t, "", "status", f.img)
	if want := f.img + ": present " + f.img + ", locked\n"; code != exitOK || out != want {
		t.Errorf("status IMAGE: exit %d, stdout %q (stderr %s), want %q", code, out, errOut, want)
	}

	plain := filepath.Join(f.dir, "plain.img")
	devFile(t, plain, nil, 0o600)
	os.Truncate(plain, 1<<20)
	devSh(t, "mkfs.vfat", plain)
	code, out, _ = runCLI(t, "", "status", plain)
	if want := plain + ": present " + plain + ", not LUKS, not mounted\n"; code != exitOK || out != want {
		t.Errorf("status of a plain FAT image: exit %d, %q, want %q", code, out, want)
	}

	code, out, _ = runCLI(t, "", "status", "--json", f.img, "UUID="+fixtureUUID)
	var got statusJSON
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	want := []*luksdrive.Status{
		{Spec: f.img, Present: true, Device: f.img, LUKSUUID: fixtureUUID},
		// The image is not a block device: a UUID lookup cannot see it.
		{Spec: "UUID=" + fixtureUUID},
	}
	if diff := cmp.Diff(want, got.Drives); diff != "" || got.Rotation != nil {
		t.Errorf("status --json (-want +got):\n%s\nrotation: %+v (want none for named drives)", diff, got.Rotation)
	}

	// No drive named: every configured drive.
	// No drive named: every configured drive, then the rotation.
	code, out, _ = runCLI(t, "", "--config", cfg, "status")
	lines := strings.Split(out, "\n")
	if code != exitOK || len(lines) < 4 || lines[0] != "offsite-A (UUID=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9): absent" ||
		lines[1] != "" || !strings.HasPrefix(lines[2], "DRIVE ") || !strings.HasPrefix(lines[3], "offsite-A ") {
		t.Errorf("status from config: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, "", "--config", cfg, "status", "--json")
	got = statusJSON{}
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || got.Rotation == nil ||
		len(got.Rotation.Drives) != 1 || got.Rotation.Drives[0].Name != "offsite-A" || got.Rotation.Next != "offsite-A" {
		t.Errorf("status --json from config: exit %d, %v, %q", code, err, out)
	}
	code, out, _ = runCLI(t, "", "--config", cfg, "status", "offsite-A")
	if code != exitOK || !strings.HasPrefix(out, "offsite-A") {
		t.Errorf("status DRIVE: exit %d, %q", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no config", []string{"status"}, exitNoConfig, "configuration file not found"},
		{"unknown drive", []string{"--config", cfg, "status", "offsite-Z"}, exitUnknownDrive, "not in the configuration"},
		{"bad spec", []string{"status", "LABEL="}, exitBadSpec, "needs a value"},
		{"bad config", []string{"--config", f.key, "status"}, exitConfig, ""},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", tc.name, code, errOut, tc.code, tc.msg)
		}
	}
}
