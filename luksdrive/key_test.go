package luksdrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKeyFileSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Key
		wantErr string
	}{
		{in: "/etc/keys/backup.key", want: Key{File: "/etc/keys/backup.key", Slot: AnySlot}},
		{in: "/backup.key:UUID=1234-ABCD", want: Key{File: "/backup.key", FileDevice: "UUID=1234-ABCD", Slot: AnySlot}},
		{in: "keys/k:LABEL=KEYSTICK", want: Key{File: "keys/k", FileDevice: "LABEL=KEYSTICK", Slot: AnySlot}},
		{in: "/k:/dev/sdc1", want: Key{File: "/k", FileDevice: "/dev/sdc1", Slot: AnySlot}},
		{in: "/k:PARTUUID=0a0b0c0d-01", want: Key{File: "/k", FileDevice: "PARTUUID=0a0b0c0d-01", Slot: AnySlot}},
		{in: "", wantErr: "empty key file"},
		{in: "/k:", wantErr: "nothing after ':'"},
		{in: ":UUID=x", wantErr: "no path before ':'"},
		{in: "/k:sdc1", wantErr: "is not a device"},
		{in: "/k\x00x", wantErr: "NUL"},
	} {
		got, err := ParseKeyFileSpec(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseKeyFileSpec(%q): error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeyFileSpec(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseKeyFileSpec(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func FuzzParseKeyFileSpec(f *testing.F) {
	for _, s := range []string{"/k", "/k:UUID=1", "a:b:c", ":", "/k:LABEL=x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeyFileSpec(s)
		if err != nil {
			return
		}
		if k.File == "" {
			t.Fatalf("%q: accepted with no path", s)
		}
		if k.validate() != nil {
			t.Fatalf("%q: parsed key does not validate: %v", s, k.validate())
		}
		back := k.File
		if k.FileDevice != "" {
			back += ":" + k.FileDevice
		}
		if back != s {
			t.Fatalf("%q round-trips to %q", s, back)
		}
	})
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	content := []byte("0123456789abcdef")
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	owner := write("owner", 0o600)
	readonly := write("readonly", 0o400)
	group := write("group", 0o640)
	world := write("world", 0o604)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)

	for _, tc := range []struct {
		name         string
		path         string
		offset, size int64
		want         string
		wantErr      error
		wantMsg      string
	}{
		{name: "whole", path: owner, want: "0123456789abcdef"},
		{name: "0400", path: readonly, want: "0123456789abcdef"},
		{name: "offset", path: owner, offset: 10, want: "abcdef"},
		{name: "offset and size", path: owner, offset: 2, size: 3, want: "234"},
		{name: "size", path: owner, size: 4, want: "0123"},
		{name: "group readable", path: group, wantErr: ErrUnsafeKeyFile, wantMsg: "chmod 600 " + group},
		{name: "world readable", path: world, wantErr: ErrUnsafeKeyFile, wantMsg: "chmod 600 " + world},
		{name: "directory", path: dir, wantErr: ErrUnsafeKeyFile, wantMsg: "not a regular file"},
		{name: "missing", path: filepath.Join(dir, "nope"), wantErr: ErrNoKeyDevice, wantMsg: "does not exist"},
		{name: "offset past end", path: owner, offset: 16, wantMsg: "past its end"},
		{name: "size past end", path: owner, offset: 10, size: 7, wantMsg: "too short"},
		{name: "empty", path: empty, wantMsg: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readKeyFile(tc.path, tc.offset, tc.size)
			if tc.wantErr != nil || tc.wantMsg != "" {
				if err == nil {
					t.Fatalf("read %q, want an error", got)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not say %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnlockUnsafeKeyFile: Unlock refuses a world-readable key file even
// when the key is right, and leaves the file alone.
func TestUnlockUnsafeKeyFile(t *testing.T) {
	img := testImage(t, "luks2-4slots.img")
	kf := testKeyFile(t)
	if err := os.Chmod(kf, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Unlock(context.Background(), img, &UnlockOptions{Key: Key{File: kf, Slot: AnySlot}, Test: true})
	if !errors.Is(err, ErrUnsafeKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("got %v, want ErrUnsafeKeyFile telling to chmod 600", err)
	}
	if fi, _ := os.Stat(kf); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %v", fi.Mode())
	}
}

func TestKeyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  Key
	}{
		{"nothing", Key{Slot: AnySlot}},
		{"both", Key{Passphrase: []byte("x"), File: "/k", Slot: AnySlot}},
		{"device without file", Key{FileDevice: "UUID=x", Slot: AnySlot}},
		{"negative offset", Key{File: "/k", Offset: -1, Slot: AnySlot}},
		{"too large", Key{File: "/k", Size: MaxKeyFileSize + 1, Slot: AnySlot}},
		{"slot", Key{File: "/k", Slot: -2}},
		{"passphrase with offset", Key{Passphrase: []byte("x"), Offset: 1, Slot: AnySlot}},
	} {
		if err := tc.key.validate(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		_, err := Unlock(context.Background(), "/dev/null", &UnlockOptions{Key: tc.key, Test: true})
		if err == nil {
			t.Errorf("%s: Unlock accepted it", tc.name)
		}
	}
}

func slotIDs(order []*keyslot) []int {
	var ids []int
	for _, ks := range order {
		ids = append(ids, ks.id)
	}
	return ids
}

// TestSlotOrder uses the 4-slot image: slot 1 preferred, slot 2 ignored,
// slot 3 the key file's, named by an extdrive-keyfile token.
func TestSlotOrder(t *testing.T) {
	h, err := readHeaderFile(testImage(t, "luks2-4slots.img"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		key     Key
		want    []int
		wantErr error
	}{
		{"passphrase: preferred, normal, then key-file slots", Key{Passphrase: []byte("x"), Slot: AnySlot}, []int{1, 0, 3}, nil},
		{"key file named by the token goes first", Key{File: "/extdrive/test.key", Slot: AnySlot}, []int{3, 1, 0}, nil},
		{"key device named by the token goes first", Key{File: "/other.key", FileDevice: "LABEL=KEYSTICK", Slot: AnySlot}, []int{3, 1, 0}, nil},
		{"relative path on the device named by the token", Key{File: "extdrive/test.key", FileDevice: "UUID=other", Slot: AnySlot}, []int{3, 1, 0}, nil},
		{"other key file: token slots still first", Key{File: "/host/other.key", Slot: AnySlot}, []int{3, 1, 0}, nil},
		{"explicit ignored slot", Key{Passphrase: []byte("x"), Slot: 2}, []int{2}, nil},
		{"explicit slot", Key{Passphrase: []byte("x"), Slot: 0}, []int{0}, nil},
		{"inactive slot", Key{Passphrase: []byte("x"), Slot: 7}, nil, ErrWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, err := slotOrder(h, &tc.key)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, slotIDs(order)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnlockExplicitSlot: an ignored slot opens when named, a wrong slot
// is ErrWrongKey even though another slot holds the key.
func TestUnlockExplicitSlot(t *testing.T) {
	img := testImage(t, "luks2-4slots.img")
	ctx := context.Background()
	_, err := Unlock(ctx, img, &UnlockOptions{Key: Key{Passphrase: []byte("slot2-pass"), Slot: AnySlot}, Test: true})
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("ignored slot opened without being named: %v", err)
	}
	m, err := Unlock(ctx, img, &UnlockOptions{Key: Key{Passphrase: []byte("slot2-pass"), Slot: 2}, Test: true})
	if err != nil || m.Slot != 2 {
		t.Errorf("named ignored slot: %+v, %v", m, err)
	}
	_, err = Unlock(ctx, img, &UnlockOptions{Key: Key{Passphrase: []byte("slot1-pass"), Slot: 0}, Test: true})
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("slot 0 with slot 1's passphrase: %v, want ErrWrongKey", err)
	}
}

// TestKeyslotsTried counts the key derivations Unlock pays: the token and
// priorities must lead it to the right slot without trying every one.
func TestKeyslotsTried(t *testing.T) {
	img := testImage(t, "luks2-4slots.img")
	kf := testKeyFile(t)
	for _, tc := range []struct {
		name string
		key  Key
		want []int
	}{
		{"preferred slot 1 first", Key{Passphrase: []byte("slot1-pass"), Slot: AnySlot}, []int{1}},
		{"then slot 0", Key{Passphrase: []byte("slot0-pass"), Slot: AnySlot}, []int{1, 0}},
		{"key file: the token's slot 3 only", Key{File: kf, Slot: AnySlot}, []int{3}},
		{"wrong passphrase: every usable slot once", Key{Passphrase: []byte("nope"), Slot: AnySlot}, []int{1, 0, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []int
			_, err := Unlock(context.Background(), img, &UnlockOptions{Key: tc.key, Test: true, OnKeyslot: func(s int) { tried = append(tried, s) }})
			if err != nil && !errors.Is(err, ErrWrongKey) {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tried); diff != "" {
				t.Errorf("keyslots tried (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyfileToken(t *testing.T) {
	got, err := ReadKeyfileTokens(testImage(t, "luks2-4slots.img"))
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyfileToken{{Keyslot: 3, KeyFile: "/extdrive/test.key", KeyDevice: "LABEL=KEYSTICK"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(want[0])
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"type":"extdrive-keyfile","keyslots":["3"],"key_file":"/extdrive/test.key","key_device":"LABEL=KEYSTICK"}`
	if string(b) != wantJSON {
		t.Errorf("JSON %s, want %s", b, wantJSON)
	}
	var back KeyfileToken
	if err := json.Unmarshal(b, &back); err != nil || back != want[0] {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{
		`{"type":"systemd-fido2","keyslots":["1"]}`,
		`{"type":"extdrive-keyfile","keyslots":["1","2"]}`,
		`{"type":"extdrive-keyfile","keyslots":["x"]}`,
		`{"type":"extdrive-keyfile","keyslots":["32"]}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if _, err := json.Marshal(KeyfileToken{Keyslot: 32}); err == nil {
		t.Error("keyslot 32 marshalled")
	}
	if _, err := ReadKeyfileTokens(testImage(t, "ext4.img")); !errors.Is(err, ErrNotLUKS) {
		t.Errorf("ext4: %v, want ErrNotLUKS", err)
	}
}

func TestWipe(t *testing.T) {
	b := []byte("secret")
	wipe(b)
	if !bytes.Equal(b, make([]byte, 6)) {
		t.Errorf("wipe left %q", b)
	}
}
