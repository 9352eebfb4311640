package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// AddToConfig appends drives to the config file at path in one atomic
// write, keeping the rest of the file byte for byte. Unlike
// config.AddDrive it accepts a file that does not load yet only because
// it has no [[drive]] or no [[source]] — the state of a config before the
// first drive is prepared or imported. Each block is rendered by
// config.AddDrive (into a scratch file), and the result must load once a
// source is present; no source is invented in the real file.
// needSource reports that the user still has to add one.
//
// With dryRun nothing is written: Prepare uses it to check the config
// before it erases a disk.
func AddToConfig(path string, drives []config.Drive, dryRun bool) (needSource bool, err error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	// Duplicates get config.ErrDuplicate, as from config.AddDrive; the
	// file's own validation would only call them invalid.
	var cur struct {
		Drive []struct{ Name, UUID string }
	}
	if _, err := toml.Decode(string(old), &cur); err == nil {
		for _, d := range drives {
			for _, c := range cur.Drive {
				if c.Name == d.Name {
					return false, fmt.Errorf("%w: drive name %q is already used in %s (UUID %s)", config.ErrDuplicate, d.Name, path, c.UUID)
				}
				if d.UUID != "" && strings.EqualFold(c.UUID, d.UUID) {
					return false, fmt.Errorf("%w: UUID %s is already drive %q in %s", config.ErrDuplicate, d.UUID, c.Name, path)
				}
			}
		}
	}
	scratch, err := os.MkdirTemp("", "extdrive-config-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	var b strings.Builder
	b.Write(old)
	for i, d := range drives {
		p := filepath.Join(scratch, fmt.Sprint(i))
		if err := config.AddDrive(p, d); err != nil {
			return false, err
		}
		blk, err := os.ReadFile(p)
		if err != nil {
			return false, err
		}
		text := string(blk)
		if b.Len() > 0 {
			// Only a new file keeps AddDrive's header comment.
			if i := strings.Index(text, "[[drive]]"); i >= 0 {
				text = text[i:]
			}
			if !strings.HasSuffix(b.String(), "\n") {
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
		b.WriteString(text)
	}
	next := b.String()
	if _, err := config.Parse(path, []byte(next)); err != nil {
		probe := next + "\n[[source]]\npath = \"/srv/extdrive-config-check\"\n"
		if _, err2 := config.Parse(path, []byte(probe)); err2 != nil {
			return false, fmt.Errorf("adding drive(s) to %s: %w", path, err)
		}
		needSource = true
	}
	if dryRun {
		return needSource, nil
	}
	return needSource, config.WriteFileAtomic(path, []byte(next), mode)
}
