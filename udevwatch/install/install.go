package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Sentinel errors; each comes wrapped in an *OpError naming the file.
var (
	// ErrNotOurs: a file install wants to write or uninstall wants to
	// remove exists but was not written by install, or was edited since.
	ErrNotOurs = errors.New("file not written by extdrive install, or changed since")
	// ErrNotInstalled: uninstall found no manifest under the root.
	ErrNotInstalled = errors.New("nothing installed (no manifest)")
	// ErrBadDrive: a drive's name or UUID cannot go into a udev rule.
	ErrBadDrive = errors.New("drive cannot be installed")
	// ErrBadManifest: the manifest exists but cannot be read back.
	ErrBadManifest = errors.New("unreadable install manifest")
)

// OpError records the operation and the file it failed on.
type OpError struct {
	Op   string // "install", "uninstall", "plan"
	Path string
	Err  error
}

func (e *OpError) Error() string {
	if e.Path == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + " " + e.Path + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// Paths of what install writes, relative to Options.Root.
const (
	RulePath        = "/etc/udev/rules.d/90-extdrive.rules"
	UnitPath        = "/etc/systemd/system/extdrive@.service"
	FailureUnitPath = "/etc/systemd/system/extdrive-failed@.service"
	LEDRulePath     = "/etc/udev/rules.d/91-extdrive-blinkstick.rules"
	ManifestPath    = "/var/lib/extdrive/install-manifest.json"
)

// Drive is a configured drive as the rules need it.
type Drive struct {
	Name string
	UUID string // LUKS UUID, as blkid prints it
}

// Options configures Plan and Install. Nil means defaults.
type Options struct {
	Root   string  // default "/"
	Drives []Drive // at least one
	// Exec is the extdrive binary the units run; default "/usr/bin/extdrive".
	Exec string
	// ConfigPath is passed to every extdrive invocation as --config;
	// default "/etc/extdrive/config.toml".
	ConfigPath string
	// LEDRule, if not empty, is written to LEDRulePath (the BlinkStick
	// hidraw permission rule).
	LEDRule string
}

// File is one file install writes.
type File struct {
	Path string // absolute path as on the target system (Root not applied)
	Mode fs.FileMode
	Data []byte
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Root == "" {
		r.Root = "/"
	}
	if r.Exec == "" {
		r.Exec = "/usr/bin/extdrive"
	}
	if r.ConfigPath == "" {
		r.ConfigPath = "/etc/extdrive/config.toml"
	}
	return r
}

// Plan returns the files install would write, in a stable order. It
// checks every input that ends up inside a rule or unit.
func Plan(opts *Options) ([]File, error) {
	o := opts.withDefaults()
	if len(o.Drives) == 0 {
		return nil, &OpError{Op: "plan", Err: fmt.Errorf("%w: no drives configured; add a [[drive]] with its LUKS UUID to the config", ErrBadDrive)}
	}
	for _, p := range []string{o.Exec, o.ConfigPath} {
		if !path.IsAbs(p) || strings.ContainsAny(p, " \t\n\"'\\%$") {
			return nil, &OpError{Op: "plan", Path: p, Err: fmt.Errorf("%w: units need an absolute path without spaces, quotes, %% or $", ErrBadDrive)}
		}
	}
	drives := append([]Drive(nil), o.Drives...)
	sort.Slice(drives, func(i, j int) bool { return drives[i].Name < drives[j].Name })
	seen := map[string]string{}
	var rule bytes.Buffer
	rule.WriteString(header("#") +
		"# A configured backup drive appeared: hand its job to systemd. RUN+=\n" +
		"# programs are killed after a short timeout; a backup takes hours.\n" +
		"# Matching change events too keeps the device unit's systemd tag on.\n")
	for _, d := range drives {
		if !uuidRE.MatchString(d.UUID) {
			return nil, &OpError{Op: "plan", Err: fmt.Errorf("%w: drive %q has UUID %q; use the LUKS UUID blkid prints (8-4-4-4-12 hex digits)", ErrBadDrive, d.Name, d.UUID)}
		}
		u := strings.ToLower(d.UUID)
		if other, dup := seen[u]; dup {
			return nil, &OpError{Op: "plan", Err: fmt.Errorf("%w: drives %q and %q share UUID %s", ErrBadDrive, other, d.Name, u)}
		}
		seen[u] = d.Name
		fmt.Fprintf(&rule, "# drive %s\n", strings.Map(printable, d.Name))
		fmt.Fprintf(&rule, "ACTION!=\"remove\", SUBSYSTEM==\"block\", ENV{ID_FS_TYPE}==\"crypto_LUKS\", ENV{ID_FS_UUID}==\"%s\", TAG+=\"systemd\", ENV{SYSTEMD_WANTS}+=\"%s\"\n", u, InstanceUnit(u))
	}
	files := []File{
		{Path: RulePath, Mode: 0o644, Data: rule.Bytes()},
		{Path: UnitPath, Mode: 0o644, Data: []byte(jobUnit(o))},
		{Path: FailureUnitPath, Mode: 0o644, Data: []byte(failureUnit(o))},
	}
	if o.LEDRule != "" {
		files = append(files, File{Path: LEDRulePath, Mode: 0o644, Data: []byte(header("#") + strings.TrimRight(o.LEDRule, "\n") + "\n")})
	}
	return files, nil
}

// InstanceUnit is the job unit started for the drive with this LUKS
// UUID. The instance is the escaped UUID, so that inside the template %i
// completes the device unit's name and %I gives the UUID back.
func InstanceUnit(uuid string) string {
	return "extdrive@" + Escape(strings.ToLower(uuid)) + ".service"
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return '?'
	}
	return r
}

func header(comment string) string {
	return comment + " Written by `extdrive install`; `extdrive uninstall` removes it.\n" +
		comment + " Edits make both refuse to touch this file.\n"
}

func jobUnit(o Options) string {
	// dev-disk-by\x2duuid-%i.device is EscapePath("/dev/disk/by-uuid/"+uuid)
	// because the instance is Escape(uuid).
	dev := `dev-disk-by\x2duuid-%i.device`
	return header("#") + `[Unit]
Description=extdrive backup job for drive %I
# Stop (and so sync and lock) when the drive goes away, and start only
# once its device unit is up.
BindsTo=` + dev + `
After=` + dev + `
OnFailure=extdrive-failed@%i.service

[Service]
Type=oneshot
# Stay active while the drive is plugged in, so the change events udev
# sends for the drive during and after the job do not start it again.
RemainAfterExit=yes
# 22: the drive plugged in is not due. That is a normal outcome, not a
# failure that should start the OnFailure= unit.
SuccessExitStatus=22
ExecStart=` + o.Exec + ` --config ` + o.ConfigPath + ` rotate %I
TimeoutStartSec=infinity
TimeoutStopSec=5min
`
}

func failureUnit(o Options) string {
	return header("#") + `[Unit]
Description=extdrive: report the failed backup job of drive %I

[Service]
Type=oneshot
ExecStart=` + o.Exec + ` --config ` + o.ConfigPath + ` handle-event --job-failed %I
`
}

// manifest records what install wrote, so uninstall removes exactly that
// and install can tell its own files from anyone else's.
type manifest struct {
	Version int             `json:"version"`
	Files   []manifestEntry `json:"files"`
}

type manifestEntry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readManifest(root string) (*manifest, error) {
	p := filepath.Join(root, ManifestPath)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &OpError{Op: "read manifest", Path: p, Err: err}
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 {
		return nil, &OpError{Op: "read manifest", Path: p, Err: fmt.Errorf("%w: remove it by hand if the files it lists are gone", ErrBadManifest)}
	}
	for _, f := range m.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || !ownedPath(f.Path) {
			return nil, &OpError{Op: "read manifest", Path: p, Err: fmt.Errorf("%w: it lists %q, which install never writes", ErrBadManifest, f.Path)}
		}
	}
	return &m, nil
}

// ownedPath bounds what a manifest may make uninstall delete, so an
// edited manifest cannot turn uninstall into "rm anything".
func ownedPath(p string) bool {
	switch p {
	case RulePath, UnitPath, FailureUnitPath, LEDRulePath:
		return true
	}
	return false
}

// check returns ErrNotOurs unless the file at root+p is absent or has
// exactly the content the manifest recorded.
func check(root string, m *manifest, p string) error {
	b, err := os.ReadFile(filepath.Join(root, p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if m != nil {
		for _, e := range m.Files {
			if e.Path == p && e.SHA256 == sum(b) {
				return nil
			}
		}
	}
	return ErrNotOurs
}

// Install writes the planned files under opts.Root and records them in
// the manifest. It checks every file first and writes nothing if any
// target exists without being its own unchanged output. Files a previous
// install wrote and this one no longer plans (the LED rule) are removed.
func Install(ctx context.Context, opts *Options) ([]File, error) {
	o := opts.withDefaults()
	files, err := Plan(&o)
	if err != nil {
		return nil, err
	}
	old, err := readManifest(o.Root)
	if err != nil {
		return nil, err
	}
	planned := map[string]bool{}
	for _, f := range files {
		planned[f.Path] = true
		if err := check(o.Root, old, f.Path); err != nil {
			return nil, &OpError{Op: "install", Path: filepath.Join(o.Root, f.Path), Err: fmt.Errorf("%w; move it away or merge it by hand", err)}
		}
	}
	var stale []string
	if old != nil {
		for _, e := range old.Files {
			if planned[e.Path] {
				continue
			}
			if err := check(o.Root, old, e.Path); err != nil {
				return nil, &OpError{Op: "install", Path: filepath.Join(o.Root, e.Path), Err: err}
			}
			stale = append(stale, e.Path)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := manifest{Version: 1}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(o.Root, f.Path), f.Data, f.Mode); err != nil {
			return nil, &OpError{Op: "install", Path: filepath.Join(o.Root, f.Path), Err: err}
		}
		m.Files = append(m.Files, manifestEntry{Path: f.Path, SHA256: sum(f.Data)})
	}
	for _, p := range stale {
		if err := os.Remove(filepath.Join(o.Root, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, &OpError{Op: "install", Path: filepath.Join(o.Root, p), Err: err}
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeAtomic(filepath.Join(o.Root, ManifestPath), append(b, '\n'), 0o644); err != nil {
		return nil, &OpError{Op: "install", Path: filepath.Join(o.Root, ManifestPath), Err: err}
	}
	return files, nil
}

// Uninstall removes exactly the files the manifest under root lists, then
// the manifest. If any of them was edited since, it removes nothing.
// It returns the paths removed (Root not applied).
func Uninstall(ctx context.Context, root string) ([]string, error) {
	if root == "" {
		root = "/"
	}
	m, err := readManifest(root)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &OpError{Op: "uninstall", Path: filepath.Join(root, ManifestPath), Err: ErrNotInstalled}
	}
	for _, e := range m.Files {
		if err := check(root, m, e.Path); err != nil {
			return nil, &OpError{Op: "uninstall", Path: filepath.Join(root, e.Path), Err: fmt.Errorf("%w; remove it by hand if you no longer want it", err)}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range m.Files {
		err := os.Remove(filepath.Join(root, e.Path))
		if err == nil {
			removed = append(removed, e.Path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return removed, &OpError{Op: "uninstall", Path: filepath.Join(root, e.Path), Err: err}
		}
	}
	if err := os.Remove(filepath.Join(root, ManifestPath)); err != nil {
		return removed, &OpError{Op: "uninstall", Path: filepath.Join(root, ManifestPath), Err: err}
	}
	return removed, nil
}

// writeAtomic replaces a file in one rename, so udev and systemd never
// read half a rule.
func writeAtomic(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
