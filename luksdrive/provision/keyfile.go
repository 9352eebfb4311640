package provision

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileSize is the size of the key files this package generates: 4 KiB
// of randomness, as the seed users make with dd if=/dev/urandom bs=1024
// count=4, far more than the 512-bit volume key it protects.
const KeyFileSize = 4096

// newKey returns KeyFileSize random bytes. The caller owns and wipes them.
func newKey() ([]byte, error) {
	k := make([]byte, KeyFileSize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// writeKeyFile creates path (mode 0400, parents 0700) holding key and
// flushes it to the device: the stick may be pulled right after. An
// existing file is never replaced, since it may be the only key to
// another drive.
func writeKeyFile(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("key file %s: %w; move it away or choose another path (it may be the key to another drive)", path, ErrExists)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// keyPathIn joins a key file path inside a stick's filesystem to the
// directory the stick is mounted on, refusing paths that climb out.
func keyPathIn(root, file string) (string, error) {
	if !filepath.IsAbs(file) {
		return "", fmt.Errorf("key file %q: give a path from the root of the key stick, starting with /", file)
	}
	p := filepath.Join(root, filepath.Clean(file)) // Clean first: "/../x" must stay inside
	if p == root {
		return "", fmt.Errorf("key file %q names the root of the stick, not a file", file)
	}
	return p, nil
}
