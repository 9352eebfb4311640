package provision_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/provision"
)

// Enroll a key file into an existing LUKS2 drive (here an image made
// with cryptsetup), authorized by its passphrase. The token it writes
// tells Unlock which keyslot the key file opens.
func ExampleEnroll() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "drive.img")
	os.WriteFile(img, nil, 0o600)
	os.Truncate(img, 32<<20)
	format := exec.Command("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2",
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "-", img)
	format.Stdin = strings.NewReader("recovery passphrase")
	if err := format.Run(); err != nil {
		fmt.Println(err)
		return
	}

	pass := []byte("recovery passphrase") // ours: wiped below
	defer clear(pass)
	e, err := provision.Enroll(context.Background(), img, &provision.EnrollOptions{
		Key:        luksdrive.Key{Passphrase: pass, Slot: luksdrive.AnySlot},
		NewKeyFile: filepath.Join(dir, "drive.key"),
		KDF:        provision.KDF{Type: "pbkdf2", Iterations: 1000},
		OnCommand:  func(argv []string) { fmt.Println("$", argv[0], argv[1]) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("key file in keyslot", e.Slot, "token keyslot", e.Token.Keyslot)
	// Output:
	// $ cryptsetup luksDump
	// $ cryptsetup luksAddKey
	// $ cryptsetup token
	// key file in keyslot 1 token keyslot 1
}
