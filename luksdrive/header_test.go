package luksdrive

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readImage(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataLUKS, name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnlockBadInput feeds Unlock damaged or foreign images and checks
// each gives its own sentinel, with a one-line message.
func TestUnlockBadInput(t *testing.T) {
	ctx := context.Background()
	argon := readImage(t, "luks2-argon2id.img")
	essiv := readImage(t, "luks1-cbc-essiv.img")

	bothCopies := bytes.Clone(argon)
	bothCopies[4096+10] ^= 1       // primary JSON
	bothCopies[16384+4096+10] ^= 1 // secondary JSON
	serpent := bytes.Clone(essiv)
	copy(serpent[8:40], append([]byte("serpent"), make([]byte, 25)...))
	badMode := bytes.Clone(essiv)
	copy(badMode[40:72], append([]byte("cbc-lmk"), make([]byte, 25)...))
	badSlotState := bytes.Clone(essiv)
	badSlotState[208] = 7
	version3 := bytes.Clone(argon)
	version3[7] = 3
	// Keyslot area cut off: the header parses, the slot cannot be read.
	shortArea := bytes.Clone(essiv[:4096+1024])

	for _, tc := range []struct {
		name string
		img  []byte
		pass string
		want error
	}{
		{"ext4", readImage(t, "ext4.img"), "x", ErrNotLUKS},
		{"empty", nil, "x", ErrNotLUKS},
		{"zeros", make([]byte, 1<<16), "x", ErrNotLUKS},
		{"LUKS2 truncated in binary header", argon[:1000], "x", ErrCorruptHeader},
		{"LUKS2 truncated in JSON", argon[:8192], "x", ErrCorruptHeader},
		{"LUKS2 both copies corrupt", bothCopies, "x", ErrCorruptHeader},
		{"LUKS1 truncated header", essiv[:300], "x", ErrCorruptHeader},
		{"LUKS1 bad keyslot state", badSlotState, "x", ErrCorruptHeader},
		{"LUKS1 keyslot area truncated", shortArea, "extdrive-essiv", ErrCorruptHeader},
		{"LUKS1 serpent", serpent, "extdrive-essiv", ErrUnsupported},
		{"LUKS1 lmk mode", badMode, "extdrive-essiv", ErrUnsupported},
		{"LUKS version 3", version3, "x", ErrUnsupported},
		{"LUKS2 wrong key", argon, "wrong", ErrWrongKey},
		{"LUKS1 wrong key", essiv, "wrong", ErrWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, tc.img)
			_, err := Unlock(ctx, p, &UnlockOptions{Key: Key{Passphrase: []byte(tc.pass), Slot: AnySlot}, Test: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var op *OpError
			if !errors.As(err, &op) || op.Device != p {
				t.Errorf("error %v does not name the device", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(after, tc.img) {
				t.Error("Unlock changed the image")
			}
		})
	}
}

// TestOddKeyslotSize is the regression test for a panic found by mutating
// headers: a key size whose stripes do not fill whole sectors.
func TestOddKeyslotSize(t *testing.T) {
	img := readImage(t, "luks1-cbc-essiv.img")
	for _, keyBytes := range []byte{20, 33, 1} {
		b := bytes.Clone(img)
		b[111] = keyBytes // LUKS1 key-bytes field (big-endian u32 at 108)
		p := writeTemp(t, b)
		_, err := Unlock(context.Background(), p, &UnlockOptions{Key: Key{Passphrase: []byte("extdrive-essiv"), Slot: AnySlot}, Test: true})
		if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorruptHeader) {
			t.Errorf("key size %d: %v", keyBytes, err)
		}
	}
}

// TestLUKS2SecondaryHeader: with the primary header damaged, the
// secondary copy still opens the volume, as with cryptsetup.
func TestLUKS2SecondaryHeader(t *testing.T) {
	img := readImage(t, "luks2-argon2id.img")
	img[4096+20] ^= 0x55
	p := writeTemp(t, img)
	m, err := Unlock(context.Background(), p, &UnlockOptions{Key: Key{Passphrase: []byte("extdrive-argon2id"), Slot: AnySlot}, Test: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Slot != 0 {
		t.Errorf("slot %d, want 0", m.Slot)
	}
}

func TestUnlockMissingDevice(t *testing.T) {
	_, err := Unlock(context.Background(), "/nonexistent/disk.img", &UnlockOptions{Key: Key{Passphrase: []byte("x"), Slot: AnySlot}, Test: true})
	if !errors.Is(err, ErrNoDevice) {
		t.Errorf("got %v, want ErrNoDevice", err)
	}
	if _, err := Unlock(context.Background(), "/nonexistent", nil); err == nil {
		t.Error("nil options: no error")
	}
}

func TestUnlockCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := testImage(t, "luks2-argon2id.img")
	_, err := Unlock(ctx, p, &UnlockOptions{Key: Key{Passphrase: []byte("extdrive-argon2id"), Slot: AnySlot}, Test: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// TestUnlockWithoutDeviceMapper: outside Test mode, a host without
// /dev/mapper/control gets ErrNoDeviceMapper after the key is checked,
// and nothing is created.
func TestUnlockWithoutDeviceMapper(t *testing.T) {
	if haveDM() == nil {
		t.Skip("this host has device-mapper; the guest tests cover mapping")
	}
	p := testImage(t, "luks2-argon2id.img")
	_, err := Unlock(context.Background(), p, &UnlockOptions{Key: Key{Passphrase: []byte("extdrive-argon2id"), Slot: AnySlot}, Name: "extdrive-test"})
	if !errors.Is(err, ErrNoDeviceMapper) {
		t.Errorf("got %v, want ErrNoDeviceMapper", err)
	}
	if err := Lock(context.Background(), "extdrive-test"); !errors.Is(err, ErrNoDeviceMapper) {
		t.Errorf("Lock: got %v, want ErrNoDeviceMapper", err)
	}
}

// cheapKeyslot keeps the fuzzers from spending their time in KDFs (or
// AF merges) whose cost a mutated header set high: under coverage
// instrumentation even cryptsetup's minimum of 1000 PBKDF2 iterations
// brings a fuzz worker to a few executions per second.
func cheapKeyslot(ks *keyslot) bool {
	return ks.kdf.iterations <= 20 && ks.kdf.memory <= 64 && ks.kdf.time <= 2 &&
		ks.digest != nil && ks.digest.iterations <= 20 && ks.keySize*ks.afStripes <= 64<<10
}

// FuzzLUKS2JSON drives the LUKS2 metadata parser past the header checksum
// (which random mutations never satisfy) and then the keyslot path.
func FuzzLUKS2JSON(f *testing.F) {
	for _, name := range []string{"luks2-argon2id.img", "luks2-4slots.img", "luks2-pbkdf2-sha256.img"} {
		b := readImage(f, name)
		js := b[4096:16384]
		f.Add(js[:bytes.IndexByte(js, 0)])
	}
	f.Add([]byte(`{"keyslots":{},"segments":{"0":{"type":"crypt","offset":"4096","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":512}},"digests":{},"config":{}}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		data := make([]byte, 4096, 4096+len(js)+1)
		copy(data, "LUKS\xba\xbe\x00\x02")
		data = append(append(data, js...), 0)
		h, err := parseLUKS2JSON(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptHeader) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		openCheapKeyslots(t, h, make([]byte, 1<<20))
	})
}

// FuzzParseHeader drives the header parser and, when the fuzzed KDF is
// cheap, the whole keyslot path (area read, cipher, AF merge, digest)
// with arbitrary bytes. Any error must wrap one of the header sentinels;
// nothing may panic.
func FuzzParseHeader(f *testing.F) {
	for _, name := range []string{"luks2-argon2id.img", "luks2-pbkdf2-sha256.img", "luks2-4slots.img", "luks1-cbc-essiv.img", "luks1-cbc-plain.img", "luks2-detached.hdr"} {
		b := readImage(f, name)
		f.Add(b[:min(len(b), 6<<10)])
	}
	f.Add([]byte("LUKS\xba\xbe\x00\x02"))
	f.Add([]byte("LUKS\xba\xbe\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrNotLUKS) && !errors.Is(err, ErrCorruptHeader) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		openCheapKeyslots(t, h, data)
	})
}

// openCheapKeyslots runs every keyslot of h whose KDF is cheap enough for
// a fuzzer against the key-material area in area, for a passphrase and a
// key file: a volume key that comes out must have the size its keyslot
// declares.
func openCheapKeyslots(t *testing.T, h *header, area []byte) {
	for _, k := range []Key{{Passphrase: []byte("x"), Slot: AnySlot}, {File: "/extdrive/test.key", Slot: AnySlot}} {
		order, err := slotOrder(h, &k)
		if err != nil {
			continue
		}
		for _, ks := range order {
			if !cheapKeyslot(ks) {
				continue
			}
			vk, err := openKeyslot(context.Background(), bytes.NewReader(area), ks, []byte("x"), nil)
			if err == nil && len(vk) != ks.keySize {
				t.Fatalf("volume key of %d bytes, keyslot says %d", len(vk), ks.keySize)
			}
		}
	}
}
