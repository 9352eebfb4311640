package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func TestConfigCheck(t *testing.T) {
	const td = "../../testdata/config/"
	tests := []struct {
		name   string
		file   string
		code   int
		stdout string // substring
		stderr []string
	}{
		{"example", td + "example.toml", exitOK, `wrapper = ["borg", "with-lock", "/backup/borg"]`, nil},
		{"typo", td + "broken/typo.toml", exitConfig, "", []string{"typo.toml:7: notify.on_failur: unknown key"}},
		{"several problems", td + "broken/values.toml", exitConfig, "", []string{
			"values.toml:1: state_dir:", "values.toml:10: copy.mode:", "values.toml:20: drive[1].key:", "6 problems: invalid configuration"}},
		{"syntax", td + "broken/syntax.toml", exitConfig, "", []string{"syntax.toml:4: source.exclude: expected value"}},
		{"missing", td + "none.toml", exitNoConfig, "", []string{"none.toml: configuration file not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"--config", tt.file, "config", "check"}, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out.String())
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
		})
	}
}

// The effective config printed by check is itself a valid config that
// loads to the same thing.
func TestConfigCheckOutputLoads(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--config", "../../testdata/config/example.toml", "config", "check"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	path := filepath.Join(t.TempDir(), "effective.toml")
	os.WriteFile(path, out.Bytes(), 0o600)
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := config.Load("../../testdata/config/example.toml")
	got.Path = want.Path
	var a, b bytes.Buffer
	config.Encode(&a, want)
	config.Encode(&b, got)
	if a.String() != b.String() {
		t.Errorf("effective config does not load back to the same configuration")
	}
}
