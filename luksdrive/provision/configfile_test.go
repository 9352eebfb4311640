package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func TestAddToConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	a := config.Drive{Name: "A", UUID: "aaaaaaaa-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/extdrive/A.key:UUID=1234-ABCD"}
	b := config.Drive{Name: "B", UUID: "bbbbbbbb-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "prompt"}

	// Dry run on a missing file: fine, nothing created.
	if need, err := AddToConfig(path, []config.Drive{a}, true); err != nil || !need {
		t.Fatalf("dry run: %v, needSource %v", err, need)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("dry run created the file")
	}
	// Two drives into a new file: it still needs a source.
	if need, err := AddToConfig(path, []config.Drive{a, b}, false); err != nil || !need {
		t.Fatalf("new file: %v, needSource %v", err, need)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "[[drive]]") != 2 || strings.Count(string(data), "# extdrive configuration") != 1 {
		t.Errorf("file:\n%s", data)
	}
	os.WriteFile(path, append([]byte("[[source]]\npath = \"/srv\"\n\n"), data...), 0o640)
	os.Chmod(path, 0o640)
	cfg, err := config.Load(path)
	if err != nil || len(cfg.Drives) != 2 {
		t.Fatalf("load: %v", err)
	}
	// Duplicates are refused and nothing is written.
	before, _ := os.ReadFile(path)
	a2 := a
	a2.UUID = "cccccccc-1b3d-4f5a-9c7e-0d2f4a6b8c1e"
	if _, err := AddToConfig(path, []config.Drive{a2}, false); !errors.Is(err, config.ErrDuplicate) {
		t.Errorf("duplicate name: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("file changed after a refused add")
	}
	// A complete file: needSource false, mode kept.
	c := config.Drive{Name: "C", UUID: "dddddddd-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/root/c.key"}
	if need, err := AddToConfig(path, []config.Drive{c}, false); err != nil || need {
		t.Errorf("complete file: %v, needSource %v", err, need)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	// A broken file is not touched.
	os.WriteFile(path, []byte("[[source]\n"), 0o600)
	if _, err := AddToConfig(path, []config.Drive{c}, false); err == nil {
		t.Error("broken file accepted")
	}
}
