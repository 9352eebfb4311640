package luksdrive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// needTool skips when a tool the test uses to build fixtures is missing
// locally; under CI a missing tool fails the run.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
}

func run(t testing.TB, stdin, name string, args ...string) {
	t.Helper()
	needTool(t, name)
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func makeImage(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// fakeBlock builds a sysfs-like tree whose "device nodes" are image files
// made by the real mkfs tools, so the scan and the real probes run
// unchanged without a kernel that has the devices.
type fakeBlock struct {
	t  *testing.T
	f  *finder
	ns int
}

func newFakeBlock(t *testing.T) *fakeBlock {
	root := t.TempDir()
	f := &finder{dev: filepath.Join(root, "dev"), links: filepath.Join(root, "dev/disk"), sys: filepath.Join(root, "sys/class/block"),
		udevDB: filepath.Join(root, "run/udev/data"), log: discard}
	for _, d := range []string{f.dev, f.sys, f.udevDB, filepath.Join(root, "sys/devices")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeBlock{t: t, f: f}
}

// add creates device name (a partition of parent when parent != "") with
// an image of size bytes, and returns the image path for mkfs.
func (b *fakeBlock) add(name, parent string, partNo int, size int64) string {
	t := b.t
	b.ns++
	var sysdir string
	if parent == "" {
		sysdir = filepath.Join(filepath.Dir(b.f.sys), "..", "devices", name)
	} else {
		real, err := filepath.EvalSymlinks(filepath.Join(b.f.sys, parent))
		if err != nil {
			t.Fatal(err)
		}
		sysdir = filepath.Join(real, name)
		write(t, filepath.Join(sysdir, "partition"), strconv.Itoa(partNo))
	}
	write(t, filepath.Join(sysdir, "size"), strconv.Itoa(int(size/512)))
	write(t, filepath.Join(sysdir, "dev"), "8:"+strconv.Itoa(b.ns))
	if err := os.Symlink(sysdir, filepath.Join(b.f.sys, name)); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(b.f.dev, name)
	makeImage(t, img, size)
	return img
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindScan(t *testing.T) {
	b := newFakeBlock(t)
	key := filepath.Join(t.TempDir(), "key")
	write(t, key, "secret")

	disk := b.add("sda", "", 0, 8<<20)
	run(t, "label: gpt\nstart=2048, size=4096, type=L, uuid=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, name=\"off site\"\nstart=6144, type=L\n", "sfdisk", "-q", disk)
	p1 := b.add("sda1", "sda", 1, 2<<20)
	run(t, "", "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", key,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k",
		"--luks2-keyslots-size", "1m", "--uuid", "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", "--label", "offsite-A", p1)
	p2 := b.add("sda2", "sda", 2, 2<<20)
	run(t, "", "mkfs.ext4", "-q", "-F", "-U", "3b4e28ba-2fa1-11d2-883f-0016d3cca427", "-L", "data", p2)
	k1 := b.add("sdb", "", 0, 1<<20)
	run(t, "", "mkfs.vfat", "-i", "1a2b3c4d", "-n", "KEYS", k1)
	k2 := b.add("sdc", "", 0, 1<<20)
	run(t, "", "mkfs.vfat", "-i", "5e6f7a8b", "-n", "KEYS", k2)
	// An empty loop device: size 0 in sysfs, never probed.
	b.add("loop0", "", 0, 0)
	// A device udev has already probed: its record answers, the node
	// itself (all zeroes) is never read.
	b.add("sdd", "", 0, 1<<20)
	write(t, filepath.Join(b.f.udevDB, "b8:"+strconv.Itoa(b.ns)), "E:ID_FS_TYPE=ext4\nE:ID_FS_UUID_ENC=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\nE:ID_FS_LABEL_ENC=my\\x20drive\nE:ID_FS_LABEL=my_drive")

	dev := func(n string) string { return filepath.Join(b.f.dev, n) }
	for _, tc := range []struct {
		spec    string
		want    string
		wantErr error
	}{
		{"UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", dev("sda1"), nil},
		{"6C1D7A52-3B0E-4F7E-8A91-D4C2E5F60B18", dev("sda1"), nil},
		{"LABEL=offsite-A", dev("sda1"), nil},
		{"UUID=3b4e28ba-2fa1-11d2-883f-0016d3cca427", dev("sda2"), nil},
		{"LABEL=data", dev("sda2"), nil},
		{"PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", dev("sda1"), nil},
		{"PARTLABEL=off site", dev("sda1"), nil},
		{"UUID=1a2b-3c4d", dev("sdb"), nil},
		{"UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", dev("sdd"), nil},
		{"LABEL=my drive", dev("sdd"), nil},
		{"LABEL=my_drive", "", ErrNoDevice},
		{"LABEL=KEYS", "", ErrAmbiguous},
		{"UUID=00000000-0000-4000-8000-000000000000", "", ErrNoDevice},
		{dev("sdb"), dev("sdb"), nil},
		{dev("nonexistent"), "", ErrNoDevice},
		{b.f.dev, "", ErrBadSpec},
	} {
		sp, err := ParseSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.f.find(context.Background(), sp)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("find(%s) error = %v, want %v", tc.spec, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("find(%s) (-want +got):\n%s", tc.spec, diff)
		}
	}
}

// TestFindUdevLink checks that a by-uuid link is followed even for a
// device whose superblock says nothing (udev may know better, e.g. from a
// rule), and that the result is the link's target.
func TestFindUdevLink(t *testing.T) {
	b := newFakeBlock(t)
	b.add("sdx", "", 0, 1<<20)
	write(t, filepath.Join(b.f.dev, "disk", "by-label", "x"), "")
	link := filepath.Join(b.f.dev, "disk", "by-label", udevEncode("Offsite B"))
	if err := os.Symlink("../../sdx", link); err != nil {
		t.Fatal(err)
	}
	got, err := b.f.find(context.Background(), Spec{SpecLabel, "Offsite B"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(b.f.dev, "sdx"); got != want {
		t.Errorf("find = %q, want %q", got, want)
	}
	if !strings.HasSuffix(link, `Offsite\x20B`) {
		t.Errorf("udevEncode made link %q; udev writes Offsite\\x20B", link)
	}
}

// TestFindWaits plugs the "drive" in while Find is waiting.
func TestFindWaits(t *testing.T) {
	b := newFakeBlock(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		img := filepath.Join(t.TempDir(), "late.img")
		makeImage(t, img, 1<<20)
		run(t, "", "mkfs.vfat", "-i", "0badf00d", img)
		if err := os.Rename(img, filepath.Join(b.f.dev, "sdz")); err != nil {
			t.Error(err)
		}
	}()
	b.f.timeout = time.Minute
	got, err := b.f.find(context.Background(), Spec{SpecPath, filepath.Join(b.f.dev, "sdz")})
	<-done
	if err != nil {
		t.Fatalf("find while the device appears: %v", err)
	}
	if got != filepath.Join(b.f.dev, "sdz") {
		t.Errorf("find = %q", got)
	}
}

func TestFindCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Find(ctx, filepath.Join(t.TempDir(), "never"), &FindOptions{Timeout: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Find with a cancelled context: %v", err)
	}
	var op *OpError
	if !errors.As(err, &op) || op.Op != "find" {
		t.Fatalf("Find error %v is not an *OpError for find", err)
	}
}

func TestUdevEscape(t *testing.T) {
	for _, tc := range []struct{ in, enc string }{
		{"KEYS", "KEYS"},
		{"Offsite B", `Offsite\x20B`},
		{"a/b", `a\x2fb`},
		{`back\slash`, `back\x5cslash`},
		{"Sicherung-Ä", "Sicherung-Ä"},
	} {
		if got := udevEncode(tc.in); got != tc.enc {
			t.Errorf("udevEncode(%q) = %q, want %q", tc.in, got, tc.enc)
		}
		if got := udevDecode(tc.enc); got != tc.in {
			t.Errorf("udevDecode(%q) = %q, want %q", tc.enc, got, tc.in)
		}
	}
}

// FuzzUdevEscape: udev's database and link names round-trip any label.
func FuzzUdevEscape(f *testing.F) {
	for _, s := range []string{"KEYS", "Offsite B", `\x20`, `\x`, "a\x00b", "ÄÖ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := udevEncode(s)
		if strings.ContainsAny(enc, " /") {
			t.Fatalf("udevEncode(%q) = %q keeps a character a link name cannot hold", s, enc)
		}
		if got := udevDecode(enc); got != s {
			t.Fatalf("udevDecode(udevEncode(%q)) = %q", s, got)
		}
		udevDecode(s) // arbitrary database text must not panic
	})
}
