package luksdrive_test

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/extdrive/extdrive/luksdrive"
)

// gunzipImage unpacks one of the committed test images.
func gunzipImage(name string) (string, error) {
	in, err := os.Open(filepath.Join("..", "testdata", "luks", name+".gz"))
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	out, err := os.Create(p)
	if err != nil {
		return "", err
	}
	defer out.Close()
	_, err = io.Copy(out, zr)
	return p, err
}

// Verify a passphrase against an old LUKS1 aes-cbc-essiv:sha256 volume
// without device-mapper (Test mode), as `extdrive unlock --test` does.
// Without Test, Unlock creates /dev/mapper/NAME and Lock removes it.
func ExampleUnlock() {
	img, err := gunzipImage("luks1-cbc-essiv.img")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(filepath.Dir(img))

	// The caller owns the passphrase and wipes it when done.
	pass := []byte("extdrive-essiv")
	defer clear(pass)

	ctx := context.Background()
	m, err := luksdrive.Unlock(ctx, img, &luksdrive.UnlockOptions{
		Key:  luksdrive.Key{Passphrase: pass, Slot: luksdrive.AnySlot},
		Test: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("keyslot", m.Slot, "opens", m.UUID)
	fmt.Println("mapping would be", luksdrive.DefaultMappingName(m.UUID))

	_, err = luksdrive.Unlock(ctx, img, &luksdrive.UnlockOptions{
		Key:  luksdrive.Key{Passphrase: []byte("guess"), Slot: luksdrive.AnySlot},
		Test: true,
	})
	fmt.Println("wrong key:", errors.Is(err, luksdrive.ErrWrongKey))
	// Output:
	// keyslot 0 opens e5d1a9c0-0000-4000-8000-000000000011
	// mapping would be luks-e5d1a9c0-0000-4000-8000-000000000011
	// wrong key: true
}

// A key file on a USB stick, in crypttab's form.
func ExampleParseKeyFileSpec() {
	k, err := luksdrive.ParseKeyFileSpec("/keys/backup.key:LABEL=KEYSTICK")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("file %s on %s, any keyslot: %v\n", k.File, k.FileDevice, k.Slot == luksdrive.AnySlot)
	// Output: file /keys/backup.key on LABEL=KEYSTICK, any keyslot: true
}
