package crypttab

import (
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// ErrUnmappable is for callers to report that an import left lines
// Invalid or Unmappable; Import itself reports them as Results.
var ErrUnmappable = errors.New("crypttab/fstab lines could not be mapped")

// Status says what Import made of one line.
type Status int

const (
	// Mapped: the line became (part of) a drive entry.
	Mapped Status = iota + 1
	// Skipped: the line is fine but is not an extdrive drive (swap, plain
	// dm-crypt, the root filesystem, ...).
	Skipped
	// Unmappable: a LUKS drive extdrive cannot take over as written; the
	// reason says what to change.
	Unmappable
	// Invalid: the line breaks crypttab(5) or fstab(5).
	Invalid
)

func (s Status) String() string {
	switch s {
	case Mapped:
		return "mapped"
	case Skipped:
		return "skipped"
	case Unmappable:
		return "unmappable"
	case Invalid:
		return "invalid"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Result is the verdict on one line of either file.
type Result struct {
	File   string // the name given in ImportOptions
	Line   int
	Text   string // the line as written (set for Invalid lines)
	Status Status
	// Reason says why a line was skipped or cannot be mapped, or, for a
	// mapped fstab line, which drive it mounts.
	Reason string
	// Notes lists options that were not carried over, and why.
	Notes []string
	// Drive is the entry for a mapped crypttab line, with the matching
	// fstab line merged in (FstabLine > 0).
	Drive     *config.Drive
	FstabLine int
}

// ImportOptions configures Import. A nil *ImportOptions means the
// defaults documented on each field.
type ImportOptions struct {
	// CrypttabName and FstabName label the results (default
	// "/etc/crypttab" and "/etc/fstab").
	CrypttabName, FstabName string
	// ResolveUUID returns the LUKS UUID of a device named by path,
	// PARTUUID= or LABEL= (extdrive's config names drives by LUKS UUID).
	// Nil: such lines are Unmappable, with the command to find the UUID.
	ResolveUUID func(device string) (string, error)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Import parses both files (either may be nil) and maps each crypttab
// line, with the fstab line mounting its mapping, onto a config.Drive.
// Results come in file order, crypttab first. Only a read error is
// returned as an error; bad lines are Invalid results.
func Import(crypttab, fstab io.Reader, opts *ImportOptions) ([]Result, error) {
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	if o.CrypttabName == "" {
		o.CrypttabName = "/etc/crypttab"
	}
	if o.FstabName == "" {
		o.FstabName = "/etc/fstab"
	}
	var cts []CrypttabEntry
	var fss []FstabEntry
	var ctBad, fsBad []Result
	if crypttab != nil {
		var err error
		cts, err = ParseCrypttab(o.CrypttabName, crypttab)
		if ctBad, err = invalid(err); err != nil {
			return nil, err
		}
	}
	if fstab != nil {
		var err error
		fss, err = ParseFstab(o.FstabName, fstab)
		if fsBad, err = invalid(err); err != nil {
			return nil, err
		}
	}

	var out []Result
	usedFstab := map[int]string{}
	for _, e := range cts {
		r := mapCrypttab(e, fss, &o)
		r.File = o.CrypttabName
		if r.Drive != nil && r.FstabLine > 0 {
			usedFstab[r.FstabLine] = r.Drive.Name
		}
		out = append(out, r)
	}
	out = mergeByLine(out, ctBad)
	var fsOut []Result
	for _, f := range fss {
		r := Result{File: o.FstabName, Line: f.Line}
		if name, ok := usedFstab[f.Line]; ok {
			r.Status, r.Reason = Mapped, fmt.Sprintf("mount point %s of drive %q", f.File, name)
		} else {
			r.Status, r.Reason = Skipped, fstabSkipReason(f)
		}
		fsOut = append(fsOut, r)
	}
	return append(out, mergeByLine(fsOut, fsBad)...), nil
}

// invalid turns the parser's joined syntax errors into results; any
// other error (a read error) is returned.
func invalid(err error) ([]Result, error) {
	if err == nil {
		return nil, nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []Result
	for _, e := range errs {
		var se *SyntaxError
		if !errors.As(e, &se) {
			return nil, e
		}
		out = append(out, Result{File: se.File, Line: se.Line, Text: se.Text, Status: Invalid, Reason: se.Msg})
	}
	return out, nil
}

// mergeByLine merges two line-ordered lists.
func mergeByLine(a, b []Result) []Result {
	out := make([]Result, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0].Line < b[0].Line {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// isSystemMount reports mount points the host needs to run; a crypttab
// volume mounted there is not a removable backup drive.
func isSystemMount(mp string) bool {
	mp = path.Clean(mp)
	switch mp {
	case "/", "/usr", "/var", "/home", "/etc", "/opt", "/srv", "/tmp":
		return true
	}
	return mp == "/boot" || strings.HasPrefix(mp, "/boot/")
}

func fstabSkipReason(f FstabEntry) string {
	switch {
	case f.Type == "swap":
		return "swap"
	case isSystemMount(f.File):
		return "system filesystem " + f.File
	case strings.HasPrefix(f.Spec, "/dev/mapper/"):
		return fmt.Sprintf("%s is not a crypttab mapping", f.Spec)
	}
	return "not on a crypttab mapping"
}

// mapCrypttab maps one crypttab entry. fss is the whole fstab, both for
// the mount of the mapping and for the mount of a key stick.
func mapCrypttab(e CrypttabEntry, fss []FstabEntry, o *ImportOptions) Result {
	r := Result{Line: e.Line}
	skip := func(format string, args ...any) Result {
		r.Status, r.Reason, r.Notes = Skipped, fmt.Sprintf(format, args...), nil
		return r
	}
	unmappable := func(format string, args ...any) Result {
		r.Status, r.Reason, r.Notes = Unmappable, fmt.Sprintf(format, args...), nil
		return r
	}
	for _, t := range []string{"plain", "tcrypt", "bitlk", "swap", "tmp"} {
		if e.Options.Has(t) {
			return skip("%s: not a LUKS drive (option %s)", e.Name, t)
		}
	}
	if e.KeyFile == "/dev/urandom" || e.KeyFile == "/dev/random" {
		return skip("%s: random key, re-created at every boot", e.Name)
	}
	if h, ok := e.Options.Get("header"); ok {
		return unmappable("%s: detached header (header=%s) is not supported; re-attach it with cryptsetup luksHeaderRestore first", e.Name, h)
	}
	if !nameRE.MatchString(e.Name) {
		return unmappable("%s: name must be 1-64 letters, digits, '.', '_' or '-' to become a drive name; rename it in crypttab", e.Name)
	}

	d := &config.Drive{Name: e.Name, Mapping: e.Name}
	uuid, err := luksUUID(e.Device, o)
	if err != nil {
		return unmappable("%s: %v", e.Name, err)
	}
	d.UUID = uuid

	key, notes, err := mapKey(e.KeyFile, fss)
	if err != nil {
		return unmappable("%s: %v", e.Name, err)
	}
	d.Key = key
	r.Notes = append(r.Notes, notes...)

	for _, opt := range e.Options {
		note, err := applyCrypttabOption(d, opt)
		if err != nil {
			return unmappable("%s: option %s: %v", e.Name, opt, err)
		}
		if note != "" {
			r.Notes = append(r.Notes, note)
		}
	}

	if f, ok := mountOf(e.Name, fss); ok {
		if isSystemMount(f.File) {
			return skip("%s: system volume mounted at %s", e.Name, f.File)
		}
		r.FstabLine = f.Line
		r.Notes = append(r.Notes, applyFstab(d, f)...)
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("no fstab line mounts /dev/mapper/%s; mount point defaults to %s/%s", e.Name, config.DefaultMountRoot, e.Name))
	}
	r.Status, r.Drive = Mapped, d
	return r
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// luksUUID finds the LUKS UUID of a crypttab device field.
func luksUUID(dev string, o *ImportOptions) (string, error) {
	v := dev
	if s, ok := strings.CutPrefix(dev, "UUID="); ok {
		v = strings.Trim(s, `"'`)
	} else if s, ok := strings.CutPrefix(dev, "/dev/disk/by-uuid/"); ok {
		v = s
	}
	if uuidRE.MatchString(v) {
		return strings.ToLower(v), nil
	}
	if strings.HasPrefix(dev, "UUID=") || strings.HasPrefix(dev, "/dev/disk/by-uuid/") {
		return "", fmt.Errorf("device %s: %q is not a UUID (a placeholder left from a guide?); use the UUID cryptsetup luksUUID prints", dev, v)
	}
	how := fmt.Sprintf("write UUID=… in crypttab (see: cryptsetup luksUUID %s)", dev)
	if o.ResolveUUID == nil {
		return "", fmt.Errorf("device %s is not named by UUID; %s", dev, how)
	}
	u, err := o.ResolveUUID(dev)
	if err != nil {
		return "", fmt.Errorf("device %s: %v; plug it in or %s", dev, err, how)
	}
	if !uuidRE.MatchString(u) {
		return "", fmt.Errorf("device %s has LUKS UUID %q, which is not a UUID", dev, u)
	}
	return strings.ToLower(u), nil
}

// stickMountDirs are where users mount key sticks by hand; a key file
// under such an fstab mount is turned into "path:UUID=…", so extdrive
// mounts the stick itself and only while it reads the key.
var stickMountDirs = []string{"/media/", "/mnt/", "/run/media/"}

func mapKey(keyFile string, fss []FstabEntry) (string, []string, error) {
	if keyFile == "" {
		return config.KeyPrompt, nil, nil
	}
	file, dev, hasDev := strings.Cut(keyFile, ":")
	if !path.IsAbs(file) {
		return "", nil, fmt.Errorf("key file %q is not an absolute path", file)
	}
	if hasDev {
		if !strings.HasPrefix(dev, "UUID=") && !strings.HasPrefix(dev, "LABEL=") &&
			!strings.HasPrefix(dev, "PARTUUID=") && !strings.HasPrefix(dev, "/dev/") {
			return "", nil, fmt.Errorf("key device %q: want UUID=…, LABEL=…, PARTUUID=… or /dev/…", dev)
		}
		return keyFile, nil, nil
	}
	var best *FstabEntry
	for i := range fss {
		f := &fss[i]
		mp := path.Clean(f.File)
		if mp == "/" || !strings.HasPrefix(file, mp+"/") {
			continue
		}
		if best == nil || len(mp) > len(path.Clean(best.File)) {
			best = f
		}
	}
	if best == nil {
		return file, nil, nil
	}
	mp := path.Clean(best.File)
	removable := best.Options.Has("noauto") || best.Options.Has("nofail")
	for _, d := range stickMountDirs {
		removable = removable || strings.HasPrefix(mp+"/", d)
	}
	spec := deviceSpec(best.Spec)
	if !removable || spec == "" {
		return file, nil, nil
	}
	rel := strings.TrimPrefix(file, mp)
	return rel + ":" + spec, []string{fmt.Sprintf("key file %s is on the device fstab line %d mounts at %s; extdrive mounts %s read-only only while it reads the key, so that fstab line can go", file, best.Line, mp, spec)}, nil
}

// deviceSpec turns an fstab device field naming a stable device into the
// spec form extdrive's key field takes; "" for unstable names (/dev/sdb1).
func deviceSpec(s string) string {
	for _, p := range []string{"UUID=", "LABEL=", "PARTUUID="} {
		if strings.HasPrefix(s, p) {
			return s
		}
	}
	for dir, p := range map[string]string{"/dev/disk/by-uuid/": "UUID=", "/dev/disk/by-label/": "LABEL=", "/dev/disk/by-partuuid/": "PARTUUID="} {
		if v, ok := strings.CutPrefix(s, dir); ok && v != "" && !strings.Contains(v, "/") {
			return p + v
		}
	}
	return ""
}

// ignoredCrypttab are options extdrive does what they ask for anyway, or
// that only matter at boot.
var ignoredCrypttab = map[string]string{
	"luks":                   "",
	"noauto":                 "",
	"nofail":                 "",
	"_netdev":                "",
	"discard":                "extdrive does not pass discards through to the drive",
	"tries":                  "extdrive asks once per run",
	"timeout":                "extdrive's passphrase prompt has no timeout",
	"readonly":               "extdrive opens the drive read-write to copy onto it",
	"read-only":              "extdrive opens the drive read-write to copy onto it",
	"initramfs":              "",
	"same-cpu-crypt":         "kernel default used",
	"submit-from-crypt-cpus": "kernel default used",
	"no-read-workqueue":      "kernel default used",
	"no-write-workqueue":     "kernel default used",
}

// applyCrypttabOption carries one option over to d. It returns a note for
// options that are dropped, and an error for values that cannot be used.
func applyCrypttabOption(d *config.Drive, o Option) (string, error) {
	num := func() (int64, error) {
		n, err := strconv.ParseInt(o.Value, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a byte count", o.Value)
		}
		return n, nil
	}
	switch o.Name {
	case "keyfile-offset":
		n, err := num()
		d.KeyOffset = n
		return "", err
	case "keyfile-size":
		n, err := num()
		if err == nil && n > 8<<20 {
			err = fmt.Errorf("%d is over cryptsetup's 8 MiB limit", n)
		}
		d.KeySize = n
		return "", err
	case "key-slot", "keyslot":
		n, err := strconv.Atoi(o.Value)
		if err != nil || n < 0 || n > 31 {
			return "", fmt.Errorf("%q is not a keyslot (0-31)", o.Value)
		}
		d.KeySlot = &n
		return "", nil
	case "keyfile-timeout":
		t, err := ParseTimespan(o.Value)
		if err != nil {
			return "", err
		}
		d.KeyTimeout = config.Duration(t)
		return "", nil
	}
	if why, ok := ignoredCrypttab[o.Name]; ok {
		if why == "" {
			return "", nil
		}
		return fmt.Sprintf("option %s dropped: %s", o, why), nil
	}
	if strings.HasPrefix(o.Name, "x-systemd.") || strings.HasPrefix(o.Name, "x-initrd.") {
		return fmt.Sprintf("option %s dropped: systemd boot-time setting", o), nil
	}
	return fmt.Sprintf("option %s dropped: extdrive has no equivalent", o), nil
}

// mountOf finds the fstab line mounting the mapping name: by
// /dev/mapper/NAME, its by-id link, or LABEL=NAME (the seed users label
// the filesystem like the mapping and key fstab off the label).
func mountOf(name string, fss []FstabEntry) (FstabEntry, bool) {
	for _, f := range fss {
		switch f.Spec {
		case "/dev/mapper/" + name, "/dev/disk/by-id/dm-name-" + name, "LABEL=" + name, "/dev/disk/by-label/" + name:
			return f, true
		}
	}
	return FstabEntry{}, false
}

func applyFstab(d *config.Drive, f FstabEntry) []string {
	var notes []string
	d.MountPoint = path.Clean(f.File)
	if l, ok := strings.CutPrefix(f.Spec, "LABEL="); ok {
		d.Label = l
	} else if l, ok := strings.CutPrefix(f.Spec, "/dev/disk/by-label/"); ok {
		d.Label = l
	}
	t, fls := true, false
	for _, o := range f.Options {
		switch o.Name {
		case "sync":
			d.Sync = true
		case "async":
			d.Sync = false
		case "noatime":
			d.NoAtime = &t
		case "nodiratime":
			d.NoDirAtime = &t
		case "atime", "strictatime":
			d.NoAtime, d.NoDirAtime = &fls, &fls
		case "defaults", "rw", "noauto", "auto", "nofail", "nodev", "nosuid", "noexec", "relatime", "user_xattr", "errors":
		case "exec", "suid", "dev":
			notes = append(notes, fmt.Sprintf("fstab option %s dropped: extdrive always mounts nodev,nosuid,noexec", o))
		case "ro":
			notes = append(notes, "fstab option ro dropped: extdrive mounts read-write to copy onto the drive")
		default:
			if !strings.HasPrefix(o.Name, "x-systemd.") {
				notes = append(notes, fmt.Sprintf("fstab option %s dropped: extdrive has no equivalent", o))
			}
		}
	}
	switch f.Type {
	case "ext2", "ext3", "ext4", "btrfs", "xfs", "vfat", "exfat", "auto":
	default:
		notes = append(notes, fmt.Sprintf("filesystem type %s: extdrive mounts ext2/3/4, btrfs, xfs, vfat and exfat", f.Type))
	}
	return notes
}

var spanUnits = map[string]time.Duration{
	"us": time.Microsecond, "usec": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

var spanRE = regexp.MustCompile(`([0-9]+)\s*([a-z]*)`)

// ParseTimespan parses a systemd time span as crypttab's keyfile-timeout
// takes it: "30", "30s", "5min", "1h30min". A bare number is seconds.
func ParseTimespan(s string) (time.Duration, error) {
	bad := fmt.Errorf("time span %q: want e.g. 30s, 5min or 1h30min", s)
	if strings.TrimSpace(s) == "" {
		return 0, bad
	}
	rest := strings.TrimSpace(s)
	var total time.Duration
	for rest != "" {
		m := spanRE.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return 0, bad
		}
		n, err := strconv.ParseInt(rest[m[2]:m[3]], 10, 32)
		if err != nil {
			return 0, bad
		}
		unit := time.Second
		if u := rest[m[4]:m[5]]; u != "" {
			var ok bool
			if unit, ok = spanUnits[u]; !ok {
				return 0, bad
			}
		}
		total += time.Duration(n) * unit
		if total > 365*24*time.Hour {
			return 0, fmt.Errorf("time span %q: longer than a year", s)
		}
		rest = strings.TrimSpace(rest[m[1]:])
	}
	return total, nil
}
