package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testdata = "../../testdata/config"

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join(testdata, "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := c.Drive("C3D4E5F6-A7B8-4C9D-8E0F-1A2B3C4D5E6F")
	if !ok || d.Name != "offsite-2" {
		t.Fatalf("Drive(upper-case UUID) = %v, %v; want offsite-2", d, ok)
	}
	if _, ok := c.Drive("offsite-3"); ok {
		t.Error("Drive(offsite-3) found a drive that is not configured")
	}
	got := struct {
		Period              Period
		Wrapper, Pre        Command
		Sources             []Source
		PreTimeout          time.Duration
		NoAtime, NoDirAtime bool
		MountPoint          string
	}{c.Schedule.Period, c.Hooks.Wrapper, c.Hooks.Pre, c.Sources, time.Duration(c.Hooks.PreTimeout),
		*d.NoAtime, *d.NoDirAtime, d.MountPoint}
	want := struct {
		Period              Period
		Wrapper, Pre        Command
		Sources             []Source
		PreTimeout          time.Duration
		NoAtime, NoDirAtime bool
		MountPoint          string
	}{Monthly, Command{"borg", "with-lock", "/backup/borg"}, Command{"/bin/sh", "-c", "systemctl stop borgmatic.timer"},
		[]Source{
			{Path: "/backup/borg", Name: "borg", Exclude: []string{"lock.exclusive", "lock.roster"}},
			{Path: "/srv/photos", Name: "photos", Exclude: []string{"*.tmp", ".thumbnails/"}},
		}, 5 * time.Minute, true, true, "/extbackup"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // "line:key" of every error, in order
	}{
		{"typo.toml", []string{"7:notify.on_failur"}},
		{"values.toml", []string{"1:state_dir", "7:schedule.order", "10:copy.mode", "18:drive[1].name", "19:drive[1].uuid", "20:drive[1].key"}},
		{"period.toml", []string{"5:schedule.period"}},
		{"type.toml", []string{"5:copy.keep"}},
		{"syntax.toml", []string{"4:source.exclude"}},
		{"empty.toml", []string{"0:source", "0:drive"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(testdata, "broken", tc.file)
			_, err := Load(path)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, want ErrInvalid", err)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load error %T is not Errors", err)
			}
			var got []string
			for _, e := range es {
				if e.File != path || e.Msg == "" || strings.Contains(e.Msg, "\n") {
					t.Errorf("error %q: want file %s and a one-line message", e, path)
				}
				got = append(got, strconv.Itoa(e.Line)+":"+e.Key)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nfull: %v", diff, err)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, ErrNoConfig) {
		t.Fatalf("Load(missing) = %v, want ErrNoConfig", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, err := Load(filepath.Join(testdata, "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, c); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("encoded", buf.Bytes())
	if err != nil {
		t.Fatalf("Encode output does not load: %v\n%s", err, buf.Bytes())
	}
	c2.Path = c.Path
	if diff := cmp.Diff(c, c2); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestAddDriveKeepsComments(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testdata, "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	slot := 1
	d := Drive{Name: "offsite-3", UUID: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: "/file:LABEL=KEYS", KeySlot: &slot, KeyOffset: 1024, KeySize: 4096}
	if err := AddDrive(path, d); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.HasPrefix(got, orig) {
		t.Error("AddDrive changed the existing text")
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	nd, ok := c.Drive("offsite-3")
	if !ok || *nd.KeySlot != 1 || nd.KeyOffset != 1024 || nd.KeySize != 4096 || nd.Key != d.Key {
		t.Errorf("added drive read back as %+v", nd)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the original 0640 kept", fi.Mode().Perm())
	}

	// Duplicates and invalid drives leave the file alone.
	before, _ := os.ReadFile(path)
	for _, tc := range []struct {
		d    Drive
		want error
	}{
		{Drive{Name: "offsite-1", UUID: "11111111-2222-4333-8444-555555555555", Key: "/k"}, ErrDuplicate},
		{Drive{Name: "other", UUID: "5B8F3A2E-1C4D-4E6F-9A0B-7C2D1E3F4A5B", Key: "/k"}, ErrDuplicate},
		{Drive{Name: "other", UUID: "not-a-uuid", Key: "/k"}, ErrInvalid},
		{Drive{Name: "other", UUID: "11111111-2222-4333-8444-555555555555", Key: "relative.key"}, ErrInvalid},
		{Drive{Name: "other", UUID: "11111111-2222-4333-8444-555555555555", Key: "/k", Mapping: "extbackup1"}, ErrInvalid},
	} {
		if err := AddDrive(path, tc.d); !errors.Is(err, tc.want) {
			t.Errorf("AddDrive(%+v) = %v, want %v", tc.d, err, tc.want)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a refused AddDrive changed the file")
	}
}

func TestAddDriveNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	d := Drive{Name: "a", UUID: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}
	if err := AddDrive(path, d); err != nil {
		t.Fatal(err)
	}
	// The new file lacks a source, so it does not load yet, but only for that.
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Key != "source" {
		t.Fatalf("Load(new file) = %v, want only the missing source", err)
	}
}

func TestPeriod(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want Period
		err  bool
	}{
		{"monthly", Period{Months: 1}, false},
		{"Weekly", Period{Dur: 7 * day}, false},
		{"P2M", Period{Months: 2}, false},
		{"p3w", Period{Dur: 21 * day}, false},
		{"P10D", Period{Dur: 10 * day}, false},
		{"14d", Period{Dur: 14 * day}, false},
		{"720h", Period{Dur: 720 * time.Hour}, false},
		{"30m", Period{}, true},
		{"P0M", Period{}, true},
		{"P1Y", Period{}, true},
		{"-5d", Period{}, true},
		{"", Period{}, true},
	} {
		got, err := ParsePeriod(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParsePeriod(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParsePeriod(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	utc := time.UTC
	for _, tc := range []struct{ from, want time.Time }{
		{time.Date(2026, 1, 31, 3, 0, 0, 0, utc), time.Date(2026, 2, 28, 3, 0, 0, 0, utc)},
		{time.Date(2028, 1, 31, 3, 0, 0, 0, utc), time.Date(2028, 2, 29, 3, 0, 0, 0, utc)},
		{time.Date(2026, 12, 15, 3, 0, 0, 0, utc), time.Date(2027, 1, 15, 3, 0, 0, 0, utc)},
	} {
		if got := Monthly.AddTo(tc.from); !got.Equal(tc.want) {
			t.Errorf("Monthly.AddTo(%v) = %v, want %v", tc.from, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"example.toml", "broken/typo.toml", "broken/values.toml", "broken/syntax.toml", "broken/period.toml"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Whatever loads must survive Encode and load to the same thing.
		var buf bytes.Buffer
		if err := Encode(&buf, c); err != nil {
			t.Fatal(err)
		}
		c2, err := Parse("fuzz.toml", buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded config does not load: %v\n%s", err, buf.Bytes())
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// TestAddDrivesIncompleteFile: prepare and import run on a new box whose
// file has no source yet; several drives, one after the other or at
// once, must still go in, and duplicates among them are refused.
func TestAddDrivesIncompleteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	a := Drive{Name: "a", UUID: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}
	b := Drive{Name: "b", UUID: "1f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}
	c := Drive{Name: "c", UUID: "2f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}
	if need, err := AddDrives(path, []Drive{a}, &AddOptions{DryRun: true}); err != nil || !need {
		t.Fatalf("dry run = %v, %v; want needSource and no error", need, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a dry run wrote %s", path)
	}
	if err := AddDrive(path, a); err != nil {
		t.Fatal(err)
	}
	if need, err := AddDrives(path, []Drive{b, c}, nil); err != nil || !need {
		t.Fatalf("second add = %v, %v; want needSource and no error", need, err)
	}
	before, _ := os.ReadFile(path)
	for _, dup := range [][]Drive{{{Name: "a", UUID: "3f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}},
		{{Name: "d", UUID: strings.ToUpper(b.UUID), Key: KeyPrompt}},
		{{Name: "e", UUID: "4f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}, {Name: "e", UUID: "5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt}}} {
		if _, err := AddDrives(path, dup, nil); !errors.Is(err, ErrDuplicate) {
			t.Errorf("AddDrives(%+v) = %v, want ErrDuplicate", dup, err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a refused AddDrives changed the file")
	}
	// With a source the file loads, with all three drives.
	src := append(after, []byte("\n[[source]]\npath = \"/srv/data\"\n")...)
	cfg, err := Parse(path, src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range cfg.Drives {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, names); diff != "" {
		t.Errorf("drives (-want +got):\n%s", diff)
	}
	if need, err := AddDrives(path+".full", nil, nil); err != nil || !need {
		t.Errorf("AddDrives on a new file with no drives = %v, %v", need, err)
	}
}

// TestAddDrivesKeepsModeAndHeader: a new file gets the header once for
// several drives; an existing file keeps its mode; a broken one is refused.
func TestAddDrivesKeepsModeAndHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	a := Drive{Name: "A", UUID: "aaaaaaaa-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/extdrive/A.key:UUID=1234-ABCD"}
	b := Drive{Name: "B", UUID: "bbbbbbbb-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "prompt"}

	// Dry run on a missing file: fine, nothing created.
	if need, err := AddDrives(path, []Drive{a}, &AddOptions{DryRun: true}); err != nil || !need {
		t.Fatalf("dry run: %v, needSource %v", err, need)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("dry run created the file")
	}
	// Two drives into a new file: it still needs a source.
	if need, err := AddDrives(path, []Drive{a, b}, nil); err != nil || !need {
		t.Fatalf("new file: %v, needSource %v", err, need)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "[[drive]]") != 2 || strings.Count(string(data), "# extdrive configuration") != 1 {
		t.Errorf("file:\n%s", data)
	}
	os.WriteFile(path, append([]byte("[[source]]\npath = \"/srv\"\n\n"), data...), 0o640)
	os.Chmod(path, 0o640)
	cfg, err := Load(path)
	if err != nil || len(cfg.Drives) != 2 {
		t.Fatalf("load: %v", err)
	}
	// Duplicates are refused and nothing is written.
	before, _ := os.ReadFile(path)
	a2 := a
	a2.UUID = "cccccccc-1b3d-4f5a-9c7e-0d2f4a6b8c1e"
	if _, err := AddDrives(path, []Drive{a2}, nil); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate name: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("file changed after a refused add")
	}
	// A complete file: needSource false, mode kept.
	c := Drive{Name: "C", UUID: "dddddddd-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/root/c.key"}
	if need, err := AddDrives(path, []Drive{c}, nil); err != nil || need {
		t.Errorf("complete file: %v, needSource %v", err, need)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	// A broken file is not touched.
	os.WriteFile(path, []byte("[[source]\n"), 0o600)
	if _, err := AddDrives(path, []Drive{c}, nil); err == nil {
		t.Error("broken file accepted")
	}
}

func TestSizeHuman(t *testing.T) {
	for n, want := range map[Size]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 30: "5.0 GiB", 1536 << 20: "1.5 GiB", 3 << 60: "3.0 EiB"} {
		if got := n.Human(); got != want {
			t.Errorf("Size(%d).Human() = %q, want %q", int64(n), got, want)
		}
	}
}
