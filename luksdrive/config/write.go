package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// AddDrive appends d to the configuration file at path; see AddDrives.
func AddDrive(path string, d Drive) error {
	_, err := AddDrives(path, []Drive{d}, nil)
	return err
}

// AddOptions tunes AddDrives. The zero value writes the file.
type AddOptions struct {
	// DryRun checks that the drives can be added, and writes nothing:
	// prepare uses it before it erases a disk.
	DryRun bool
}

// AddDrives appends drives to the configuration file at path as
// [[drive]] blocks, in one atomic write. The rest of the file is kept
// byte for byte, comments included. A missing file is created with a
// commented header. A file that lacks only its [[source]] (or [[drive]])
// tables is accepted, as prepare and import find it on a new box;
// needSource reports that the user still has to name a source.
//
// Everything else must load: a duplicate name, UUID or mapping fails with
// ErrDuplicate, an invalid drive or file with ErrInvalid, and then the
// file is left untouched.
func AddDrives(path string, drives []Drive, opts *AddOptions) (needSource bool, err error) {
	if opts == nil {
		opts = &AddOptions{}
	}
	old, err := os.ReadFile(path)
	mode := fs.FileMode(0o600)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return false, fmt.Errorf("add drives to %s: %w", path, err)
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	cur := &Config{}
	if len(old) > 0 {
		if cur, err = parse(path, old, true); err != nil {
			return false, fmt.Errorf("add drives to %s: fix the existing file first: %w", path, err)
		}
	}
	var buf bytes.Buffer
	if len(old) == 0 {
		fmt.Fprintf(&buf, "%s\n", fileHeader)
	} else {
		buf.Write(old)
		if !bytes.HasSuffix(old, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	for i := range drives {
		d := &drives[i]
		// Checked by hand before the whole file is, so the error names
		// the duplicate rather than calling the file invalid.
		if o, ok := cur.Drive(d.Name); ok {
			return false, fmt.Errorf("%w: drive name %q is already used in %s (UUID %s)", ErrDuplicate, d.Name, path, o.UUID)
		}
		if o, ok := cur.Drive(d.UUID); ok && d.UUID != "" {
			return false, fmt.Errorf("%w: UUID %s is already drive %q in %s", ErrDuplicate, d.UUID, o.Name, path)
		}
		cur.Drives = append(cur.Drives, *d)
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		writeDrive(&buf, d)
	}
	next := buf.Bytes()
	c, err := parse(path, next, true)
	if err != nil {
		return false, fmt.Errorf("add drives to %s: the result would not load: %w", path, err)
	}
	if opts.DryRun {
		return len(c.Sources) == 0, nil
	}
	return len(c.Sources) == 0, WriteFileAtomic(path, next, mode)
}

// WriteFileAtomic replaces path with data so that a crash or power loss
// leaves either the old or the new content, never a mix: temp file in the
// same directory, fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const fileHeader = `# extdrive configuration. Check it with: extdrive config check
# Unknown keys are errors, so a typo cannot silently switch something off.`

// Encode writes c as a complete, commented configuration file with every
// default spelled out. Load(Encode(c)) yields c again.
func Encode(w io.Writer, c *Config) error {
	var b bytes.Buffer
	q := tomlQuote
	fmt.Fprintf(&b, "%s\n\n", fileHeader)
	fmt.Fprintf(&b, "# History of runs (also kept on each drive) and per-drive locks.\nstate_dir = %s\n", q(c.StateDir))
	fmt.Fprintf(&b, "# One log file per run, per drive.\nlog_dir = %s\n", q(c.LogDir))
	fmt.Fprintf(&b, "# Mount the backup filesystem in a private mount namespace: only the job sees it.\nprivate_mount = %t\n\n", c.PrivateMount)
	fmt.Fprintf(&b, "[logs]\n# Run logs kept per drive, and the size at which one run's log is cut off.\nkeep_runs = %d\nmax_size = %s\n\n", c.Logs.KeepRuns, q(c.Logs.MaxSize.String()))
	for _, s := range c.Sources {
		fmt.Fprintf(&b, "# A directory to back up; copied to <drive>/%s/%s.\n[[source]]\npath = %s\nname = %s\n", c.Copy.Dir, s.Name, q(s.Path), q(s.Name))
		if len(s.Exclude) > 0 {
			fmt.Fprintf(&b, "exclude = %s\n", quoteList(s.Exclude))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "[schedule]\n# monthly, weekly, daily, quarterly, P2M, 14d, 720h ...\nperiod = %s\n# alternate: the drive with the oldest copy goes next; round-robin: file order.\norder = %s\n\n", q(c.Schedule.Period.String()), q(string(c.Schedule.Order)))
	fmt.Fprintf(&b, "[copy]\n# snapshot (dated, hard-linked) or mirror (one tree kept identical).\nmode = %s\n# Snapshots kept on each drive: the newest keep, plus the newest of each\n# of the last keep_monthly months and keep_yearly years.\nkeep = %d\nkeep_monthly = %d\nkeep_yearly = %d\n# Directory inside the drive's filesystem.\ndir = %s\n\n", q(string(c.Copy.Mode)), c.Copy.Keep, c.Copy.KeepMonthly, c.Copy.KeepYearly, q(c.Copy.Dir))
	b.WriteString("[hooks]\n")
	if c.Hooks.Pre != nil {
		fmt.Fprintf(&b, "pre = %s\n", c.Hooks.Pre)
	}
	if c.Hooks.Post != nil {
		fmt.Fprintf(&b, "post = %s\n", c.Hooks.Post)
	}
	fmt.Fprintf(&b, "pre_timeout = %s\npost_timeout = %s\n", q(c.Hooks.PreTimeout.String()), q(c.Hooks.PostTimeout.String()))
	if c.Hooks.Wrapper != nil {
		fmt.Fprintf(&b, "# The copy runs while this command holds its lock.\nwrapper = %s\n", c.Hooks.Wrapper)
	}
	b.WriteString("\n[notify]\n")
	if c.Notify.PingURL != "" {
		fmt.Fprintf(&b, "ping_url = %s\n", q(c.Notify.PingURL))
	}
	fmt.Fprintf(&b, "timeout = %s\nretries = %d\n", q(c.Notify.Timeout.String()), c.Notify.Retries)
	if c.Notify.OnFailure != nil {
		fmt.Fprintf(&b, "# Gets the log tail on stdin.\non_failure = %s\n", c.Notify.OnFailure)
	}
	fmt.Fprintf(&b, "on_failure_timeout = %s\n\n", q(c.Notify.OnFailureTimeout.String()))
	fmt.Fprintf(&b, "[led]\nenabled = %t\n", c.LED.Enabled)
	if c.LED.Serial != "" {
		fmt.Fprintf(&b, "serial = %s\n", q(c.LED.Serial))
	}
	fmt.Fprintf(&b, "index = %d\nlimit = %d\n\n", c.LED.Index, c.LED.Limit)
	fmt.Fprintf(&b, "[spindown]\nenabled = %t\n", c.Spindown.Enabled)
	for i := range c.Drives {
		b.WriteByte('\n')
		writeDrive(&b, &c.Drives[i])
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeDrive(b *bytes.Buffer, d *Drive) {
	q := tomlQuote
	fmt.Fprintf(b, "[[drive]]\nname = %s\n# LUKS UUID (cryptsetup luksUUID).\nuuid = %s\n", q(d.Name), q(d.UUID))
	fmt.Fprintf(b, "# Key file, \"path:UUID=…\" for a key file on a stick, or \"prompt\".\nkey = %s\n", q(d.Key))
	if d.KeyOffset != 0 {
		fmt.Fprintf(b, "key_offset = %d\n", d.KeyOffset)
	}
	if d.KeySize != 0 {
		fmt.Fprintf(b, "key_size = %d\n", d.KeySize)
	}
	if d.KeySlot != nil {
		fmt.Fprintf(b, "key_slot = %d\n", *d.KeySlot)
	}
	if d.KeyTimeout != 0 {
		fmt.Fprintf(b, "key_timeout = %s\n", q(d.KeyTimeout.String()))
	}
	if d.Mapping != "" {
		fmt.Fprintf(b, "mapping = %s\n", q(d.Mapping))
	}
	if d.MountPoint != "" {
		fmt.Fprintf(b, "mount_point = %s\n", q(d.MountPoint))
	}
	if d.Label != "" {
		fmt.Fprintf(b, "label = %s\n", q(d.Label))
	}
	b.WriteString("# nodev,nosuid,noexec are always enforced.\n")
	fmt.Fprintf(b, "sync = %t\n", d.Sync)
	if d.NoAtime != nil {
		fmt.Fprintf(b, "noatime = %t\n", *d.NoAtime)
	}
	if d.NoDirAtime != nil {
		fmt.Fprintf(b, "nodiratime = %t\n", *d.NoDirAtime)
	}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlQuote writes s as a TOML basic string. strconv.Quote is close but
// emits \x and \a escapes that TOML rejects.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
