package provision

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/probe"
)

// ChecksumFile is the sha256sum(1)-format file kept next to header
// backups, so `sha256sum -c SHA256SUMS` checks them without extdrive.
const ChecksumFile = "SHA256SUMS"

// HeaderBackup is one verified header backup file.
type HeaderBackup struct {
	File   string // absolute path
	UUID   string // LUKS UUID of the header
	Size   int64
	SHA256 string // hex
}

// BackupOptions tunes BackupHeader. A nil *BackupOptions means defaults.
type BackupOptions struct {
	// Name prefixes the file name (the drive's name); "" uses "luks".
	Name string
	// Now stamps the file name; nil is time.Now.
	Now func() time.Time
	// OnCommand is called with each external command before it runs.
	OnCommand func(argv []string)
	Logger    *slog.Logger
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// BackupHeader writes the LUKS header of device into dir with `cryptsetup
// luksHeaderBackup` as NAME-UUID-TIMESTAMP.luksheader (mode 0400), records
// its SHA-256 in dir/SHA256SUMS and verifies the copy against the device
// and the checksum. Older backups are kept: after a key change they are
// what opens the drive with the old keys.
func BackupHeader(ctx context.Context, device, dir string, opts *BackupOptions) (*HeaderBackup, error) {
	var o BackupOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = "luks"
	}
	res, err := probe.Device(device)
	if err != nil || res.Type != "crypto_LUKS" {
		if err == nil {
			err = fmt.Errorf("it holds %q", res.Type)
		}
		return nil, &luksdrive.OpError{Op: "header backup", Device: device, Err: fmt.Errorf("%w: %v", luksdrive.ErrNotLUKS, err)}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &luksdrive.OpError{Op: "header backup", Device: dir, Err: err}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-%s.luksheader", safeName.ReplaceAllString(o.Name, "_"), res.UUID, o.Now().UTC().Format("20060102T150405Z"))
	file := filepath.Join(abs, name)
	if _, err := os.Lstat(file); err == nil {
		return nil, &luksdrive.OpError{Op: "header backup", Device: file, Err: fmt.Errorf("%w; wait a second and run again", ErrExists)}
	}
	r := newRunner(o.OnCommand, o.Logger)
	if _, err := r.run(ctx, "header backup", nil, "cryptsetup", "luksHeaderBackup", device, "--header-backup-file", file); err != nil {
		return nil, err
	}
	sum, size, err := fileSHA256(file)
	if err != nil {
		return nil, &luksdrive.OpError{Op: "header backup", Device: file, Err: err}
	}
	if err := addChecksum(filepath.Join(abs, ChecksumFile), name, sum); err != nil {
		return nil, &luksdrive.OpError{Op: "header backup", Device: filepath.Join(abs, ChecksumFile), Err: err}
	}
	if err := VerifyHeaderBackup(file, device); err != nil {
		return nil, err
	}
	return &HeaderBackup{File: file, UUID: res.UUID, Size: size, SHA256: sum}, nil
}

// VerifyHeaderBackup checks that file is a LUKS header with device's
// UUID, that it is byte for byte the header area at the start of device,
// and that it matches its line in the SHA256SUMS file next to it. A
// backup taken before a key change no longer matches the device: that is
// reported too, since restoring it would bring the old keys back.
func VerifyHeaderBackup(file, device string) error {
	bad := func(format string, args ...any) error {
		return &luksdrive.OpError{Op: "verify header backup", Device: file, Err: fmt.Errorf("%w: "+format, append([]any{ErrHeaderVerify}, args...)...)}
	}
	hb, err := probe.Device(file)
	if err != nil || hb.Type != "crypto_LUKS" {
		return bad("not a LUKS header")
	}
	dv, err := probe.Device(device)
	if err != nil {
		return &luksdrive.OpError{Op: "verify header backup", Device: device, Err: err}
	}
	if dv.Type != "crypto_LUKS" || !strings.EqualFold(dv.UUID, hb.UUID) {
		return bad("it is the header of LUKS UUID %s, but %s holds %s %s", hb.UUID, device, dv.Type, dv.UUID)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := os.Open(device)
	if err != nil {
		return &luksdrive.OpError{Op: "verify header backup", Device: device, Err: err}
	}
	defer d.Close()
	h := sha256.New()
	fb, db := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(f, fb)
		if n > 0 {
			h.Write(fb[:n])
			if _, derr := io.ReadFull(d, db[:n]); derr != nil {
				return bad("%s ends before the backup's %d bytes", device, off+int64(n))
			}
			if i := firstDiff(fb[:n], db[:n]); i >= 0 {
				return bad("differs from %s at byte %d (keys changed since? take a new backup)", device, off+int64(i))
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	want, err := lookupChecksum(filepath.Join(filepath.Dir(file), ChecksumFile), filepath.Base(file))
	if err != nil {
		return bad("%v", err)
	}
	if want != sum {
		return bad("SHA-256 %s, but %s says %s", sum, ChecksumFile, want)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// addChecksum sets name's line in the checksum file, keeping the others.
func addChecksum(path, name, sum string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		if _, n, ok := splitSumLine(sc.Text()); ok && n == name {
			continue
		}
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s  %s\n", sum, name)
	return config.WriteFileAtomic(path, b.Bytes(), 0o600)
}

func lookupChecksum(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no checksum: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if sum, n, ok := splitSumLine(l); ok && n == name {
			return strings.ToLower(sum), nil
		}
	}
	return "", fmt.Errorf("%s has no line for %s", path, name)
}

// splitSumLine splits "HASH  NAME" (or "HASH *NAME", binary mode).
func splitSumLine(l string) (sum, name string, ok bool) {
	sum, rest, ok := strings.Cut(l, " ")
	if !ok || len(sum) != 64 {
		return "", "", false
	}
	rest = strings.TrimPrefix(rest, " ")
	rest = strings.TrimPrefix(rest, "*")
	return sum, rest, rest != ""
}
