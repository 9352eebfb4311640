package vmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// errUnavailable marks a missing prerequisite (QEMU, the kernel package):
// locally the VM test skips, under CI it fails.
var errUnavailable = errors.New("vmtest: prerequisite unavailable")

// cacheDir returns the harness cache, creating it.
func cacheDir() (string, error) {
	dir := os.Getenv("EXTDRIVE_VM_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("vmtest: no cache directory (set EXTDRIVE_VM_CACHE): %w", err)
		}
		dir = filepath.Join(base, "extdrive-vm")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("vmtest: cache: %w", err)
	}
	return dir, nil
}

// withFileLock runs fn holding an exclusive flock on path, so concurrent
// test binaries don't unpack or build the same artefact twice.
func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("flock %s: %w", path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// debSeedDirs are searched for already-downloaded packages before apt-get
// is asked, so a machine provisioned with the debs needs no apt access.
var debSeedDirs = []string{"/var/cache/extdrive-vm", "/var/cache/apt/archives"}

// findDeb returns a local .deb for pkg, downloading it into cache/debs with
// apt-get download when none is found.
func findDeb(cache, pkg string) (string, error) {
	debs := filepath.Join(cache, "debs")
	for _, dir := range append([]string{debs}, debSeedDirs...) {
		m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*_amd64.deb"))
		if len(m) > 0 {
			sort.Strings(m)
			return m[len(m)-1], nil
		}
	}
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = debs
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: apt-get download %s: %v: %s", errUnavailable, pkg, err, lastLine(out))
	}
	m, _ := filepath.Glob(filepath.Join(debs, pkg+"_*_amd64.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("%w: apt-get download %s left no .deb in %s", errUnavailable, pkg, debs)
	}
	return m[0], nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// unpackDeb extracts deb into cache/<name> once; the directory name carries
// the .deb's file name, which carries its version.
func unpackDeb(cache, deb string, after func(root string) error) (string, error) {
	root := filepath.Join(cache, "unpacked", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	err := withFileLock(filepath.Join(cache, "unpack.lock"), func() error {
		if _, err := os.Stat(filepath.Join(root, ".done")); err == nil {
			return nil
		}
		tmp := root + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			return fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, lastLine(out))
		}
		if after != nil {
			if err := after(tmp); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
			return err
		}
		os.RemoveAll(root)
		return os.Rename(tmp, root)
	})
	return root, err
}

// kernelTree returns the unpacked, depmod-ed kernel package.
func kernelTree(cache string) (string, error) {
	deb, err := findDeb(cache, KernelPackage)
	if err != nil {
		return "", err
	}
	return unpackDeb(cache, deb, func(root string) error {
		if out, err := exec.Command("depmod", "-b", root, KernelVersion).CombinedOutput(); err != nil {
			return fmt.Errorf("depmod: %v: %s", err, lastLine(out))
		}
		return nil
	})
}

// hasher accumulates the inputs of a cached artefact.
type hasher struct{ h io.Writer }

func (h hasher) str(s string) { fmt.Fprintf(h.h, "%d:%s\n", len(s), s) }

func (h hasher) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h.str(path)
	_, err = io.Copy(h.h, f)
	return err
}

func newKey() (hasher, func() string) {
	s := sha256.New()
	return hasher{s}, func() string { return hex.EncodeToString(s.Sum(nil))[:16] }
}

// fileSHA returns the first 16 hex digits of a file's SHA-256.
func fileSHA(path string) (string, error) {
	h, sum := newKey()
	if err := h.file(path); err != nil {
		return "", err
	}
	return sum(), nil
}

func copyFile(dst, src string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lookTool finds a host binary the way root's shell would, sbin included.
func lookTool(name string) (string, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func runQuiet(name string, args ...string) ([]byte, error) {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.Bytes(), err
}
