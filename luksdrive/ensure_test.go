package luksdrive

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEnsureTestMode runs Ensure's key check on an image made by
// cryptsetup (no device-mapper needed) and its refusals: none may change
// the image.
func TestEnsureTestMode(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "drive.img")
	makeImage(t, img, 4<<20)
	key := filepath.Join(dir, "key")
	write(t, key, "ensure key")
	os.Chmod(key, 0o600)
	run(t, "", "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", key,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m", img)
	before, _ := os.ReadFile(img)
	ctx := context.Background()

	pass := []byte("wrong passphrase")
	for _, tc := range []struct {
		name string
		d    *Drive
		want error
	}{
		{"key file", &Drive{Device: img, Key: Key{File: key, Slot: AnySlot}}, nil},
		{"wrong passphrase", &Drive{Device: img, Key: Key{Passphrase: pass, Slot: AnySlot}}, ErrWrongKey},
		{"absent", &Drive{Device: filepath.Join(dir, "gone.img"), Key: Key{File: key, Slot: AnySlot}}, ErrNoDevice},
		{"bad spec", &Drive{Device: "WWN=1", Key: Key{File: key, Slot: AnySlot}}, ErrBadSpec},
	} {
		st, err := Ensure(ctx, tc.d, &EnsureOptions{Test: true})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Ensure = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err == nil && (st.Device != img || st.Mapping != nil || st.Unlocked || st.Mounted) {
			t.Errorf("%s: Ensure in test mode returned %+v", tc.name, st)
		}
	}
	if string(pass) != "wrong passphrase" {
		t.Error("Ensure modified the caller's passphrase")
	}
	after, _ := os.ReadFile(img)
	if !bytes.Equal(before, after) {
		t.Error("Ensure in test mode changed the image")
	}

	// The drive turns up while Ensure waits for it.
	late := filepath.Join(dir, "late.img")
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Link(img, late)
	}()
	if _, err := Ensure(ctx, &Drive{Device: late, Key: Key{File: key, Slot: AnySlot}}, &EnsureOptions{Test: true, FindTimeout: time.Minute}); err != nil {
		t.Errorf("Ensure waiting for the drive: %v", err)
	}
}
