package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHeaderBackupHost(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte(`[[source]]
path = "/srv"
[[drive]]
name = "gone"
uuid = "0b0e2a77-1111-4222-8333-944455556666"
key = "prompt"
`), 0o600)
	out := filepath.Join(dir, "headers")
	code, stdout, errOut := runCLI(t, "", "--config", cfg, "header-backup", out)
	if code != exitNoDevice || !strings.Contains(stdout, "gone: not plugged in, skipped") || !strings.Contains(errOut, "1 of 1 drives not plugged in (gone)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	if code, _, errOut = runCLI(t, "", "--config", cfg, "header-backup", out, "nope"); code != exitUnknownDrive {
		t.Errorf("unknown drive: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ = runCLI(t, "", "--config", filepath.Join(dir, "missing.toml"), "header-backup", out); code != exitNoConfig {
		t.Errorf("no config: exit %d", code)
	}
	if code, _, _ = runCLI(t, "", "--config", cfg, "header-backup"); code != exitUsage {
		t.Errorf("no dir: exit %d", code)
	}
}
