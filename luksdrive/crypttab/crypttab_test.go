package crypttab

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/extdrive/extdrive/luksdrive/config"
)

const fixtures = "../../testdata/crypttab"

func TestParseCrypttab(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []CrypttabEntry
		errs []string // SyntaxError texts, in order
	}{
		{
			name: "seed 003 as printed",
			in:   "# <target name> <source device> <key file> <options>\nsecurebackup /dev/disk/by-uuid/{your-usb-key-uuid} /media/key/file luks\n",
			want: []CrypttabEntry{{Line: 2, Name: "securebackup", Device: "/dev/disk/by-uuid/{your-usb-key-uuid}", KeyFile: "/media/key/file", Options: Options{{Name: "luks"}}}},
		},
		{
			name: "tabs, missing fields, none and dash",
			in:   "a\tUUID=x\n\n   # indented comment\nb UUID=y none\nc UUID=z -  luks,noauto\n",
			want: []CrypttabEntry{
				{Line: 1, Name: "a", Device: "UUID=x"},
				{Line: 4, Name: "b", Device: "UUID=y"},
				{Line: 5, Name: "c", Device: "UUID=z", Options: Options{{Name: "luks"}, {Name: "noauto"}}},
			},
		},
		{
			name: "octal escapes and option values",
			in:   `d UUID=x /keys/my\040key\134x.bin:LABEL=KEY\040STICK keyfile-size=4096,keyfile-offset=,tries=3` + "\r\n",
			want: []CrypttabEntry{{Line: 1, Name: "d", Device: "UUID=x", KeyFile: `/keys/my key\x.bin:LABEL=KEY STICK`, Options: Options{
				{Name: "keyfile-size", Value: "4096", HasValue: true},
				{Name: "keyfile-offset", HasValue: true},
				{Name: "tries", Value: "3", HasValue: true},
			}}},
		},
		{
			name: "not an escape",
			in:   `e /dev/x\9 /k\04 luks`,
			want: []CrypttabEntry{{Line: 1, Name: "e", Device: `/dev/x\9`, KeyFile: `/k\04`, Options: Options{{Name: "luks"}}}},
		},
		{
			name: "bad lines do not hide good ones",
			in:   "lonely\nok UUID=x\na b c d e\nx/y UUID=x\nq UUID=x none =v\nlast UUID=x none \"a,b",
			want: []CrypttabEntry{{Line: 2, Name: "ok", Device: "UUID=x"}},
			errs: []string{
				`crypttab:1: only a name: want "name device [key-file [options]]"`,
				`crypttab:3: 5 fields, want at most 4 (name device key-file options); write a space inside a field as \040`,
				`crypttab:4: name "x/y" cannot be a /dev/mapper name`,
				`crypttab:5: option "=v" has no name before '='`,
				`crypttab:6: unterminated quote in options`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCrypttab("crypttab", strings.NewReader(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, errTexts(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFstab(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []FstabEntry
		errs []string
	}{
		{
			name: "seed 000 line",
			in:   "UUID=e613b4f3-7fb8-463a-a65d-42a14148ea65\t/media\text4\tsync,noexec,nodev,noatime,nodiratime\t0\t0\n",
			want: []FstabEntry{{Line: 1, Spec: "UUID=e613b4f3-7fb8-463a-a65d-42a14148ea65", File: "/media", Type: "ext4",
				Options: Options{{Name: "sync"}, {Name: "noexec"}, {Name: "nodev"}, {Name: "noatime"}, {Name: "nodiratime"}}}},
		},
		{
			name: "missing options, freq and passno",
			in:   "LABEL=extbackup /extbackup ext4\n/dev/mapper/x /mnt/a\\040b ext4 noauto 1\n",
			want: []FstabEntry{
				{Line: 1, Spec: "LABEL=extbackup", File: "/extbackup", Type: "ext4", Options: Options{{Name: "defaults"}}},
				{Line: 2, Spec: "/dev/mapper/x", File: "/mnt/a b", Type: "ext4", Options: Options{{Name: "noauto"}}, Freq: 1},
			},
		},
		{
			name: "quoted option with comma",
			in:   `/dev/sda1 /srv ext4 context="system_u:object_r:tmp_t:s0:c127,c456",noexec 0 2`,
			want: []FstabEntry{{Line: 1, Spec: "/dev/sda1", File: "/srv", Type: "ext4", PassNo: 2,
				Options: Options{{Name: "context", Value: `"system_u:object_r:tmp_t:s0:c127,c456"`, HasValue: true}, {Name: "noexec"}}}},
		},
		{
			name: "broken",
			in:   "/dev/sda1 /mnt\n/dev/sda1 /mnt ext4 defaults 0 0 extra\n/dev/sda1 /mnt ext4 defaults zero\n/dev/sda1 /mnt ext4 defaults 0 -1\n",
			errs: []string{
				"fstab:1: 2 fields, want at least 3 (device mount-point type [options [dump [pass]]])",
				`fstab:2: 7 fields, want at most 6; write a space inside a field as \040`,
				`fstab:3: dump field "zero" is not a number (use 0)`,
				`fstab:4: pass field "-1" is not a number (use 0)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFstab("fstab", strings.NewReader(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, errTexts(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	in := "a UUID=x " + strings.Repeat("k", maxLine+10) + "\nb UUID=y\n"
	got, err := ParseCrypttab("crypttab", strings.NewReader(in))
	if diff := cmp.Diff([]CrypttabEntry{{Line: 2, Name: "b", Device: "UUID=y"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"crypttab:1: line longer than 64 KiB"}, errTexts(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func errTexts(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *SyntaxError
		if !errors.As(e, &se) || !errors.Is(e, ErrSyntax) {
			t.Fatalf("error %v is not a *SyntaxError", e)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestTimespan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "10s": 10 * time.Second, "5min": 5 * time.Minute,
		"1h30min": 90 * time.Minute, "1min 30s": 90 * time.Second, "250ms": 250 * time.Millisecond,
	} {
		got, err := ParseTimespan(in)
		if err != nil || got != want {
			t.Errorf("ParseTimespan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "5 parsecs", "-1s", "10s!", "400d"} {
		if got, err := ParseTimespan(in); err == nil {
			t.Errorf("ParseTimespan(%q) = %v, want an error", in, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestImportFixtures maps the seed users' crypttab/fstab pairs and the
// broken lines in testdata/crypttab.
func TestImportFixtures(t *testing.T) {
	keyStick := "key file /media/key/file is on the device fstab line 1 mounts at /media/key; extdrive mounts UUID=4c7f2e19-0b3d-4a6e-9c58-e1f2a3b4c5d6 read-only only while it reads the key, so that fstab line can go"
	tests := []struct {
		name string
		want []Result
	}{
		{"seed-000", []Result{
			{File: "/etc/fstab", Line: 3, Status: Skipped, Reason: "not on a crypttab mapping"},
			{File: "/etc/fstab", Line: 4, Status: Skipped, Reason: "system filesystem /boot"},
			{File: "/etc/fstab", Line: 5, Status: Skipped, Reason: "system filesystem /"},
			{File: "/etc/fstab", Line: 6, Status: Skipped, Reason: "not on a crypttab mapping"},
		}},
		{"seed-002", []Result{
			{File: "/etc/crypttab", Line: 4, Status: Skipped, Reason: "md0_crypt: system volume mounted at /"},
			{File: "/etc/crypttab", Line: 5, Status: Mapped, FstabLine: 4, Drive: &config.Drive{
				Name: "extbackup", UUID: "9b2e4f71-6c3d-4a8e-b5f0-1d7c3e9a2b64", Key: "/root/exthdd.key",
				Mapping: "extbackup", MountPoint: "/extbackup", Label: "extbackup"}},
			{File: "/etc/crypttab", Line: 6, Status: Mapped, Drive: &config.Drive{
				Name: "extbackup2", UUID: "5d8a1c3e-7f2b-4e96-a0d4-6b9c2e1f8a37", Key: "/root/exthdd.key",
				KeyTimeout: config.Duration(10 * time.Second), Mapping: "extbackup2"},
				Notes: []string{"no fstab line mounts /dev/mapper/extbackup2; mount point defaults to /run/extdrive/extbackup2"}},
			{File: "/etc/crypttab", Line: 7, Status: Skipped, Reason: "swap: not a LUKS drive (option swap)"},
			{File: "/etc/fstab", Line: 3, Status: Skipped, Reason: "system filesystem /"},
			{File: "/etc/fstab", Line: 4, Status: Mapped, Reason: `mount point /extbackup of drive "extbackup"`},
			{File: "/etc/fstab", Line: 5, Status: Skipped, Reason: "swap"},
		}},
		{"seed-003", []Result{
			{File: "/etc/crypttab", Line: 4, Status: Unmappable, Reason: `securebackup: device /dev/disk/by-uuid/{your-usb-key-uuid}: "{your-usb-key-uuid}" is not a UUID (a placeholder left from a guide?); use the UUID cryptsetup luksUUID prints`},
			{File: "/etc/fstab", Line: 1, Status: Skipped, Reason: "not on a crypttab mapping"},
		}},
		{"seed-003-filled", []Result{
			{File: "/etc/crypttab", Line: 3, Status: Mapped, FstabLine: 2, Notes: []string{keyStick}, Drive: &config.Drive{
				Name: "securebackup", UUID: "0e5c6a2b-94d1-4f3a-8b7e-2c1d9f0a6e58",
				Key: "/file:UUID=4c7f2e19-0b3d-4a6e-9c58-e1f2a3b4c5d6", Mapping: "securebackup", MountPoint: "/media/secure"}},
			{File: "/etc/fstab", Line: 1, Status: Skipped, Reason: "not on a crypttab mapping"},
			{File: "/etc/fstab", Line: 2, Status: Mapped, Reason: `mount point /media/secure of drive "securebackup"`},
		}},
		{"broken", []Result{
			{File: "/etc/crypttab", Line: 2, Status: Invalid, Text: "lonely", Reason: `only a name: want "name device [key-file [options]]"`},
			{File: "/etc/crypttab", Line: 3, Status: Invalid, Text: "too many fields here luks extra", Reason: `6 fields, want at most 4 (name device key-file options); write a space inside a field as \040`},
			{File: "/etc/crypttab", Line: 4, Status: Mapped, FstabLine: 5, Drive: &config.Drive{
				Name: "spaced", UUID: "2a4c6e80-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/keys/my key.bin",
				KeyOffset: 512, KeySize: 4096, KeySlot: ptr(2), KeyTimeout: config.Duration(90 * time.Second),
				Mapping: "spaced", MountPoint: "/mnt/back up", Sync: true, NoAtime: ptr(true)}},
			{File: "/etc/crypttab", Line: 5, Status: Unmappable, Reason: `relkey: key file "keys/relative.key" is not an absolute path`},
			{File: "/etc/crypttab", Line: 6, Status: Unmappable, Reason: `badslot: option key-slot=40: "40" is not a keyslot (0-31)`},
			{File: "/etc/crypttab", Line: 7, Status: Unmappable, Reason: `badtimeout: option keyfile-timeout=soon: time span "soon": want e.g. 30s, 5min or 1h30min`},
			{File: "/etc/crypttab", Line: 8, Status: Unmappable, Reason: "detached: detached header (header=/root/hdr.img) is not supported; re-attach it with cryptsetup luksHeaderRestore first"},
			{File: "/etc/crypttab", Line: 9, Status: Unmappable, Reason: "bypath: device /dev/sdb1 is not named by UUID; write UUID=… in crypttab (see: cryptsetup luksUUID /dev/sdb1)"},
			{File: "/etc/crypttab", Line: 10, Status: Skipped, Reason: "plainvol: not a LUKS drive (option plain)"},
			{File: "/etc/crypttab", Line: 11, Status: Mapped, Drive: &config.Drive{
				Name: "stick", UUID: "ab5e7f9a-b13d-4f6e-8a82-5d7e9f1a3b4c", Key: "/k.key:LABEL=KEYS", Mapping: "stick"},
				Notes: []string{
					"option discard dropped: extdrive does not pass discards through to the drive",
					"option tries=3 dropped: extdrive asks once per run",
					"option x-systemd.device-timeout=0 dropped: systemd boot-time setting",
					"no fstab line mounts /dev/mapper/stick; mount point defaults to /run/extdrive/stick",
				}},
			{File: "/etc/crypttab", Line: 12, Status: Unmappable, Reason: `badkeydev: key device "sdb1": want UUID=…, LABEL=…, PARTUUID=… or /dev/…`},
			{File: "/etc/crypttab", Line: 13, Status: Invalid, Text: `unquoted UUID=cd7a9b1c-d35f-4b8a-8ca4-7f9a1b3c5d6e none opt="a,b`, Reason: "unterminated quote in options"},
			{File: "/etc/fstab", Line: 2, Status: Invalid, Text: "/dev/sda1 /mnt", Reason: "2 fields, want at least 3 (device mount-point type [options [dump [pass]]])"},
			{File: "/etc/fstab", Line: 3, Status: Invalid, Text: "/dev/sda1 /mnt ext4 defaults 0 0 extra", Reason: `7 fields, want at most 6; write a space inside a field as \040`},
			{File: "/etc/fstab", Line: 4, Status: Invalid, Text: "/dev/sda1 /mnt ext4 defaults zero 0", Reason: `dump field "zero" is not a number (use 0)`},
			{File: "/etc/fstab", Line: 5, Status: Mapped, Reason: `mount point /mnt/back up of drive "spaced"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Import(open(t, tt.name+".crypttab"), open(t, tt.name+".fstab"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Every mapped drive must be accepted by the config package.
			for _, r := range got {
				cfg := filepath.Join(t.TempDir(), "config.toml")
				if r.Drive != nil {
					if err := config.AddDrive(cfg, *r.Drive); err != nil {
						t.Errorf("line %d: AddDrive: %v", r.Line, err)
					}
				}
			}
		})
	}
}

// open returns the fixture, or nil (no such file) so Import skips it.
func open(t *testing.T, name string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}

func TestImportResolve(t *testing.T) {
	ct := "bypath /dev/sdb1 /root/k.key luks\ngone PARTUUID=0a0b0c0d-01 none\n"
	got, err := Import(strings.NewReader(ct), nil, &ImportOptions{
		CrypttabName: "ct",
		ResolveUUID: func(dev string) (string, error) {
			if dev == "/dev/sdb1" {
				return "AAAAAAAA-1B3D-4F5A-9C7E-0D2F4A6B8C1E", nil
			}
			return "", errors.New("not plugged in")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{File: "ct", Line: 1, Status: Mapped, Drive: &config.Drive{Name: "bypath", UUID: "aaaaaaaa-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "/root/k.key", Mapping: "bypath"},
			Notes: []string{"no fstab line mounts /dev/mapper/bypath; mount point defaults to /run/extdrive/bypath"}},
		{File: "ct", Line: 2, Status: Unmappable, Reason: "gone: device PARTUUID=0a0b0c0d-01: not plugged in; plug it in or write UUID=… in crypttab (see: cryptsetup luksUUID PARTUUID=0a0b0c0d-01)"},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a b\tc\nd", `back\slash`, "#hash", `\040 literal`, "\r"} {
		if got := Unescape(Escape(s)); got != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, got)
		}
		if strings.ContainsAny(Escape(s), " \t\n") {
			t.Errorf("Escape(%q) = %q still has a blank", s, Escape(s))
		}
	}
}

// BenchmarkImport maps every crypttab/fstab fixture pair once per op.
func BenchmarkImport(b *testing.B) {
	type pair struct{ ct, fs []byte }
	var pairs []pair
	for _, n := range []string{"seed-002", "seed-003-filled", "broken"} {
		ct, _ := os.ReadFile(filepath.Join(fixtures, n+".crypttab"))
		fs, _ := os.ReadFile(filepath.Join(fixtures, n+".fstab"))
		pairs = append(pairs, pair{ct, fs})
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pairs {
			if _, err := Import(bytes.NewReader(p.ct), bytes.NewReader(p.fs), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
