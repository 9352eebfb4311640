package luksdrive

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testdataLUKS = "../testdata/luks"

// testImage gunzips testdata/luks/NAME.gz into a temporary directory and
// returns its path; tests may modify the copy.
func testImage(t testing.TB, name string) string {
	t.Helper()
	in, err := os.Open(filepath.Join(testdataLUKS, name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// testKeyFile copies the committed key file (git keeps no 0600 mode) to a
// private temporary file.
func testKeyFile(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataLUKS, "keyfile.bin"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "test.key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// imageCase is one committed image with a key that opens it.
type imageCase struct {
	image   string
	header  string // detached header image, if any
	pass    string // passphrase; "" for the key file
	offset  int64  // key file offset/size
	size    int64
	slot    int // keyslot the key opens
	version int
	luksGo  bool // opened through the luks.go fallback
}

var imageCases = []imageCase{
	{image: "luks2-argon2id.img", pass: "extdrive-argon2id", slot: 0, version: 2},
	{image: "luks2-argon2i.img", pass: "extdrive-argon2i", slot: 0, version: 2},
	{image: "luks2-pbkdf2-sha1.img", pass: "extdrive-sha1", slot: 0, version: 2},
	{image: "luks2-pbkdf2-sha256.img", pass: "extdrive-sha256", slot: 0, version: 2},
	{image: "luks2-pbkdf2-sha512.img", pass: "extdrive-sha512", slot: 0, version: 2},
	{image: "luks2-sha3.img", pass: "extdrive-sha3", slot: 0, version: 2, luksGo: true},
	{image: "luks2-4slots.img", pass: "slot0-pass", slot: 0, version: 2},
	{image: "luks2-4slots.img", pass: "slot1-pass", slot: 1, version: 2},
	{image: "luks2-4slots.img", slot: 3, version: 2},
	{image: "luks2-keyfile-offset.img", offset: 100, size: 64, slot: 1, version: 2},
	{image: "luks2-detached.img", header: "luks2-detached.hdr", pass: "extdrive-detached", slot: 0, version: 2},
	{image: "luks1-cbc-essiv.img", pass: "extdrive-essiv", slot: 0, version: 1},
	{image: "luks1-xts.img", pass: "extdrive-xts", slot: 0, version: 1},
	{image: "luks1-cbc-plain.img", pass: "extdrive-plain", slot: 0, version: 1},
	{image: "luks1-cbc-plain.img", pass: "second-pass", slot: 5, version: 1},
}

func (c imageCase) name() string {
	if c.pass == "" {
		return c.image + "/keyfile"
	}
	return c.image + "/" + c.pass
}

// key builds the Key and the matching cryptsetup arguments.
func (c imageCase) key(t testing.TB, keyFile string) (Key, []string, []byte) {
	if c.pass != "" {
		return Key{Passphrase: []byte(c.pass), Slot: AnySlot}, []string{"--key-file", "-"}, []byte(c.pass)
	}
	args := []string{"--key-file", keyFile}
	if c.offset != 0 {
		args = append(args, "--keyfile-offset", strconv.FormatInt(c.offset, 10))
	}
	if c.size != 0 {
		args = append(args, "--keyfile-size", strconv.FormatInt(c.size, 10))
	}
	return Key{File: keyFile, Offset: c.offset, Size: c.size, Slot: AnySlot}, args, nil
}

func needCryptsetup(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cryptsetup is required (apt-get install cryptsetup-bin)")
		}
		t.Skip("cryptsetup not installed: it is the reference these tests compare with")
	}
}

var keySlotRe = regexp.MustCompile(`Key slot (\d+) unlocked`)

// cryptsetupTest runs `cryptsetup open --test-passphrase -v` and returns
// the keyslot it reports, or -1 and its exit status.
func cryptsetupTest(t testing.TB, img, hdr string, args []string, stdin []byte) (int, int) {
	t.Helper()
	a := append([]string{"open", "--test-passphrase", "-v"}, args...)
	if hdr != "" {
		a = append(a, "--header", hdr)
	}
	a = append(a, img)
	cmd := exec.Command("cryptsetup", a...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return -1, ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("cryptsetup: %v", err)
	}
	m := keySlotRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("cryptsetup reported no keyslot: %s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, 0
}

// TestUnlockTestMode opens every committed image in Test mode with its
// key and with a wrong one, and compares each outcome (and the keyslot
// that opened) with cryptsetup open --test-passphrase on the same image.
func TestUnlockTestMode(t *testing.T) {
	needCryptsetup(t)
	ctx := context.Background()
	for _, c := range imageCases {
		t.Run(c.name(), func(t *testing.T) {
			img := testImage(t, c.image)
			var hdr string
			if c.header != "" {
				hdr = testImage(t, c.header)
			}
			key, args, stdin := c.key(t, testKeyFile(t))

			m, err := Unlock(ctx, img, &UnlockOptions{Key: key, Test: true, Header: hdr})
			if err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			refSlot, code := cryptsetupTest(t, img, hdr, args, stdin)
			if code != 0 {
				t.Fatalf("cryptsetup refused the key (exit %d) that Unlock accepted", code)
			}
			want := &Mapping{Device: img, UUID: m.UUID, Slot: refSlot}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("mapping (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(m.UUID, "e5d1a9c0-0000-4000-8000-") {
				t.Errorf("UUID %q is not the fixed one mkimages.sh sets", m.UUID)
			}

			// A wrong key: same shape, one byte off.
			wrong := key
			if c.pass != "" {
				wrong.Passphrase = []byte(c.pass + "x")
				stdin = wrong.Passphrase
			} else {
				wrong.Offset++
				args = append(args, "--keyfile-offset", strconv.FormatInt(wrong.Offset, 10))
				if wrong.Size == 0 {
					wrong.Size = 4095
					args = append(args, "--keyfile-size", "4095")
				}
			}
			_, err = Unlock(ctx, img, &UnlockOptions{Key: wrong, Test: true, Header: hdr})
			if !errors.Is(err, ErrWrongKey) {
				t.Errorf("wrong key: got %v, want ErrWrongKey", err)
			}
			if _, code := cryptsetupTest(t, img, hdr, args, stdin); code != 2 {
				t.Errorf("cryptsetup exit %d for the wrong key, want 2 (the reference disagrees)", code)
			}
		})
	}
}

var mkDumpRe = regexp.MustCompile(`(?s)MK dump:\s*((?:[0-9a-f]{2}\s*)+)`)

// TestVolumeKey checks that the volume key this package recovers
// (including the cbc-essiv LUKS1 path luks.go refuses) is the one
// cryptsetup dumps for the same image and key.
func TestVolumeKey(t *testing.T) {
	needCryptsetup(t)
	ctx := context.Background()
	for _, c := range imageCases {
		t.Run(c.name(), func(t *testing.T) {
			img := testImage(t, c.image)
			hdrPath := img
			var hdrArgs []string
			if c.header != "" {
				hdrPath = testImage(t, c.header)
				hdrArgs = []string{"--header", hdrPath}
			}
			key, args, stdin := c.key(t, testKeyFile(t))
			h, err := readHeaderFile(hdrPath)
			if err != nil {
				t.Fatal(err)
			}
			if h.version != c.version {
				t.Errorf("version %d, want %d", h.version, c.version)
			}
			pass, release, err := keyMaterial(ctx, &key, logger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			f, err := os.Open(hdrPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var ks *keyslot
			for i := range h.keyslots {
				if h.keyslots[i].id == c.slot {
					ks = &h.keyslots[i]
				}
			}
			if ks == nil {
				t.Fatalf("keyslot %d not found", c.slot)
			}
			vk, err := openKeyslot(ctx, f, ks, pass, nil)
			if c.luksGo {
				// This package leaves sha3 to luks.go, whose key it cannot
				// see; TestUnlockTestMode covers the fallback.
				if !errors.Is(err, ErrUnsupported) {
					t.Errorf("got %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}

			a := append([]string{"luksDump", "--dump-volume-key", "-q", "--key-slot", strconv.Itoa(c.slot)}, args...)
			a = append(append(a, hdrArgs...), img)
			cmd := exec.Command("cryptsetup", a...)
			cmd.Stdin = bytes.NewReader(stdin)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("cryptsetup luksDump: %v: %s", err, out)
			}
			m := mkDumpRe.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no MK dump in: %s", out)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(string(m[1])), ""))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(vk, want) {
				t.Errorf("volume key %x, cryptsetup dumps %x", vk, want)
			}
		})
	}
}
