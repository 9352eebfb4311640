package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults applied by Load for keys the file leaves out.
const (
	DefaultPath         = "/etc/extdrive/config.toml"
	DefaultStateDir     = "/var/lib/extdrive"
	DefaultLogDir       = "/var/log/extdrive"
	DefaultMountRoot    = "/run/extdrive" // mount points default to DefaultMountRoot/NAME
	DefaultKeepRuns     = 20
	DefaultLogMaxSize   = Size(1 << 20)
	DefaultHookTimeout  = Duration(30 * time.Minute)
	DefaultPingTimeout  = Duration(10 * time.Second)
	DefaultPingRetries  = 5
	DefaultKeep         = 12
	DefaultCopyDir      = "extdrive"
	DefaultLEDLimit     = 100
	DefaultFailCmdLimit = Duration(2 * time.Minute)
)

// Config is a loaded, validated configuration with defaults applied.
type Config struct {
	// Path is the file it was loaded from ("" when built in memory).
	Path string `toml:"-"`

	// StateDir holds the host copy of the history and the per-drive locks.
	StateDir string `toml:"state_dir"`
	// LogDir holds one log file per run, per drive, rotated by Logs.
	LogDir string `toml:"log_dir"`
	// PrivateMount runs each job in its own mount namespace so that no
	// other process on the host ever sees the backup filesystem mounted.
	PrivateMount bool `toml:"private_mount"`

	Logs     Logs     `toml:"logs"`
	Sources  []Source `toml:"source"`
	Drives   []Drive  `toml:"drive"`
	Schedule Schedule `toml:"schedule"`
	Copy     Copy     `toml:"copy"`
	Hooks    Hooks    `toml:"hooks"`
	Notify   Notify   `toml:"notify"`
	LED      LED      `toml:"led"`
	Spindown Spindown `toml:"spindown"`
}

// Logs bounds the per-run log files: the seed users' logs filled their SD cards.
type Logs struct {
	KeepRuns int  `toml:"keep_runs"` // log files kept per drive
	MaxSize  Size `toml:"max_size"`  // one run's log is cut off past this
}

// Source is one directory to back up.
type Source struct {
	Path string `toml:"path"`
	// Name is the directory the source is copied to on the drive
	// (default: the base name of Path).
	Name    string   `toml:"name"`
	Exclude []string `toml:"exclude"` // rsync-style patterns, relative to Path
}

// Drive is one encrypted drive of the rotation set.
type Drive struct {
	Name string `toml:"name"`
	// UUID is the LUKS header's UUID (blkid TYPE="crypto_LUKS").
	UUID string `toml:"uuid"`
	// Key is a key file path, "path:UUID=…" (or LABEL=…) for a key file on
	// a stick, or "prompt" to ask for the passphrase on the terminal.
	Key        string   `toml:"key"`
	KeyOffset  int64    `toml:"key_offset"`  // crypttab keyfile-offset
	KeySize    int64    `toml:"key_size"`    // crypttab keyfile-size
	KeySlot    *int     `toml:"key_slot"`    // crypttab key-slot; unset = any
	KeyTimeout Duration `toml:"key_timeout"` // how long to wait for the key stick
	// Mapping is the /dev/mapper name (default: the library's name for the UUID).
	Mapping    string `toml:"mapping"`
	MountPoint string `toml:"mount_point"`
	Label      string `toml:"label"` // filesystem label inside the container
	// Mount options beyond nodev,nosuid,noexec, which are always enforced.
	Sync       bool  `toml:"sync"`
	NoAtime    *bool `toml:"noatime"`    // default true
	NoDirAtime *bool `toml:"nodiratime"` // default true
}

// Order names how drives take turns.
type Order string

const (
	// OrderAlternate: the drive whose last good copy is oldest goes next.
	OrderAlternate Order = "alternate"
	// OrderRoundRobin: drives go strictly in file order, after the last
	// drive that received a good copy.
	OrderRoundRobin Order = "round-robin"
)

// Schedule decides when a drive is due.
type Schedule struct {
	Period Period `toml:"period"`
	Order  Order  `toml:"order"`
}

// CopyMode selects the copy engine's strategy.
type CopyMode string

const (
	ModeSnapshot CopyMode = "snapshot" // dated hard-linked snapshots
	ModeMirror   CopyMode = "mirror"   // one tree kept identical to the source
)

// Copy selects how sources land on the drive.
type Copy struct {
	Mode CopyMode `toml:"mode"`
	// Keep is how many of the newest snapshots to retain (snapshot mode).
	Keep int `toml:"keep"`
	// KeepMonthly and KeepYearly also keep the newest snapshot of each of
	// that many recent months and years (0: none beyond Keep).
	KeepMonthly int `toml:"keep_monthly"`
	KeepYearly  int `toml:"keep_yearly"`
	// Dir is the directory inside the drive's filesystem holding the copies.
	Dir string `toml:"dir"`
}

// Hooks run around the copy.
type Hooks struct {
	Pre         Command  `toml:"pre"`
	Post        Command  `toml:"post"`
	PreTimeout  Duration `toml:"pre_timeout"`
	PostTimeout Duration `toml:"post_timeout"`
	// Wrapper is a command prefix the copy runs under while it holds
	// whatever the wrapper provides, e.g. ["borg", "with-lock", "/backup/borg"]
	// or ["flock", "/run/backup.lock"]. The wrapper must run its trailing
	// arguments as a command and hold its lock until that command exits.
	Wrapper Command `toml:"wrapper"`
}

// Notify reports each run.
type Notify struct {
	// PingURL is a healthchecks.io-style check URL: URL/start when a job
	// starts, URL on success, URL/fail with the log tail as body on failure.
	PingURL string   `toml:"ping_url"`
	Timeout Duration `toml:"timeout"`
	Retries int      `toml:"retries"`
	// OnFailure runs after a failed job with the log tail on stdin (for mail).
	OnFailure        Command  `toml:"on_failure"`
	OnFailureTimeout Duration `toml:"on_failure_timeout"`
}

// LED selects the BlinkStick showing job state.
type LED struct {
	Enabled bool   `toml:"enabled"`
	Serial  string `toml:"serial"` // "" = the first stick found
	Index   int    `toml:"index"`
	Limit   int    `toml:"limit"` // brightness cap in percent, 1-100 (blinkstick --limit)
}

// Spindown puts the drive to sleep after the job.
type Spindown struct {
	Enabled bool `toml:"enabled"`
}

// Drive returns the configured drive named nameOrUUID (a name, or a LUKS
// UUID in any case).
func (c *Config) Drive(nameOrUUID string) (*Drive, bool) {
	for i := range c.Drives {
		d := &c.Drives[i]
		if d.Name == nameOrUUID || strings.EqualFold(d.UUID, nameOrUUID) {
			return d, true
		}
	}
	return nil, false
}

// Load reads, validates and applies defaults to the file at path.
// Errors wrap ErrNoConfig or ErrInvalid; validation errors are an Errors
// value naming file, line and key for every problem.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (create one from the commented example, or pass --config)", path, ErrNoConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, b)
}

// Parse is Load on bytes already read; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, false)
}

// parse with partial set accepts a file that lacks [[source]] or
// [[drive]] tables, the state of a configuration before its first drive
// is prepared or imported. Everything present is still checked.
func parse(name string, data []byte, partial bool) (*Config, error) {
	c := &Config{}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	loc := newLocator(data)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}}
		}
		// Type mismatches come back as plain errors with the position in
		// the text; lift it out so they read like every other problem.
		if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, Errors{{File: name, Line: line, Key: m[2], Msg: m[3]}}
		}
		return nil, Errors{{File: name, Msg: err.Error()}}
	}
	var errs Errors
	for _, k := range md.Undecoded() {
		key := k.String()
		errs = append(errs, &Error{File: name, Line: loc.line(key, -1), Key: key,
			Msg: "unknown key (misspelt? see the commented example config)"})
	}
	c.Path = name
	c.applyDefaults()
	for _, p := range c.validate(partial) {
		errs = append(errs, &Error{File: name, Line: loc.line(p.key, p.index), Key: p.display(), Msg: p.msg})
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.StateDir, DefaultStateDir)
	def(&c.LogDir, DefaultLogDir)
	if c.Logs.KeepRuns == 0 {
		c.Logs.KeepRuns = DefaultKeepRuns
	}
	if c.Logs.MaxSize == 0 {
		c.Logs.MaxSize = DefaultLogMaxSize
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Name == "" && s.Path != "" {
			s.Name = filepath.Base(filepath.Clean(s.Path))
		}
	}
	for i := range c.Drives {
		c.Drives[i].applyDefaults()
	}
	if c.Schedule.Period.IsZero() {
		c.Schedule.Period = Monthly
	}
	if c.Schedule.Order == "" {
		c.Schedule.Order = OrderAlternate
	}
	if c.Copy.Mode == "" {
		c.Copy.Mode = ModeSnapshot
	}
	if c.Copy.Keep == 0 {
		c.Copy.Keep = DefaultKeep
	}
	def(&c.Copy.Dir, DefaultCopyDir)
	if c.Hooks.PreTimeout == 0 {
		c.Hooks.PreTimeout = DefaultHookTimeout
	}
	if c.Hooks.PostTimeout == 0 {
		c.Hooks.PostTimeout = DefaultHookTimeout
	}
	if c.Notify.Timeout == 0 {
		c.Notify.Timeout = DefaultPingTimeout
	}
	if c.Notify.Retries == 0 {
		c.Notify.Retries = DefaultPingRetries
	}
	if c.Notify.OnFailureTimeout == 0 {
		c.Notify.OnFailureTimeout = DefaultFailCmdLimit
	}
	if c.LED.Limit == 0 {
		c.LED.Limit = DefaultLEDLimit
	}
}

func (d *Drive) applyDefaults() {
	t := true
	if d.NoAtime == nil {
		d.NoAtime = &t
	}
	if d.NoDirAtime == nil {
		d.NoDirAtime = &t
	}
	if d.MountPoint == "" && d.Name != "" {
		d.MountPoint = filepath.Join(DefaultMountRoot, d.Name)
	}
}

// problem is a validation failure before it is placed in the file.
type problem struct {
	key   string // dotted path without index: "drive.key"
	index int    // index in an array of tables, -1 if none
	msg   string
}

func (p problem) display() string {
	if p.index < 0 {
		return p.key
	}
	table, field, _ := strings.Cut(p.key, ".")
	if field == "" {
		return fmt.Sprintf("%s[%d]", table, p.index)
	}
	return fmt.Sprintf("%s[%d].%s", table, p.index, field)
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	mappingRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,126}$`)
)

func (c *Config) validate(partial bool) []problem {
	var ps []problem
	bad := func(key string, idx int, format string, args ...any) {
		ps = append(ps, problem{key, idx, fmt.Sprintf(format, args...)})
	}
	abs := func(key string, idx int, p string) {
		if !filepath.IsAbs(p) {
			bad(key, idx, "%q is not an absolute path", p)
		}
	}
	abs("state_dir", -1, c.StateDir)
	abs("log_dir", -1, c.LogDir)
	if c.Logs.KeepRuns < 1 || c.Logs.KeepRuns > 10000 {
		bad("logs.keep_runs", -1, "%d out of range 1-10000", c.Logs.KeepRuns)
	}
	if c.Logs.MaxSize < 4<<10 {
		bad("logs.max_size", -1, "%v is too small to hold a useful log (minimum 4KiB)", c.Logs.MaxSize)
	}

	if len(c.Sources) == 0 && !partial {
		bad("source", -1, "no [[source]] given: name at least one directory to back up")
	}
	srcNames := map[string]int{}
	for i, s := range c.Sources {
		if s.Path == "" {
			bad("source.path", i, "missing: the directory to back up")
			continue
		}
		abs("source.path", i, s.Path)
		if !nameRE.MatchString(s.Name) {
			bad("source.name", i, "%q is not a plain directory name (letters, digits, . _ -)", s.Name)
		} else if j, dup := srcNames[s.Name]; dup {
			bad("source.name", i, "%q is also used by source %d: give one of them another name", s.Name, j)
		}
		srcNames[s.Name] = i
		for _, x := range s.Exclude {
			if x == "" {
				bad("source.exclude", i, "empty pattern")
			} else if strings.ContainsRune(x, 0) || strings.HasPrefix(x, "..") {
				bad("source.exclude", i, "pattern %q must stay inside the source", x)
			}
		}
	}

	if len(c.Drives) == 0 && !partial {
		bad("drive", -1, "no [[drive]] given: add one (extdrive import or extdrive prepare do it for you)")
	}
	// Mount points may repeat: drives take turns, and users already mount
	// whichever one is plugged in at the same place.
	names, uuids, maps := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range c.Drives {
		d := &c.Drives[i]
		for _, p := range d.validate() {
			p.index = i
			ps = append(ps, p)
		}
		if j, dup := names[d.Name]; dup && d.Name != "" {
			bad("drive.name", i, "%q is also the name of drive %d", d.Name, j)
		}
		names[d.Name] = i
		if j, dup := uuids[strings.ToLower(d.UUID)]; dup && d.UUID != "" {
			bad("drive.uuid", i, "%s is also the UUID of drive %d", d.UUID, j)
		}
		uuids[strings.ToLower(d.UUID)] = i
		if j, dup := maps[d.Mapping]; dup && d.Mapping != "" {
			bad("drive.mapping", i, "%q is also the mapping of drive %d", d.Mapping, j)
		}
		maps[d.Mapping] = i
	}

	if c.Schedule.Period.Approx() < time.Hour {
		bad("schedule.period", -1, "shorter than an hour")
	}
	switch c.Schedule.Order {
	case OrderAlternate, OrderRoundRobin:
	default:
		bad("schedule.order", -1, "%q: want \"alternate\" or \"round-robin\"", c.Schedule.Order)
	}
	switch c.Copy.Mode {
	case ModeSnapshot, ModeMirror:
	default:
		bad("copy.mode", -1, "%q: want \"snapshot\" or \"mirror\"", c.Copy.Mode)
	}
	if c.Copy.Keep < 1 || c.Copy.Keep > 10000 {
		bad("copy.keep", -1, "%d out of range 1-10000", c.Copy.Keep)
	}
	if c.Copy.KeepMonthly < 0 || c.Copy.KeepMonthly > 10000 {
		bad("copy.keep_monthly", -1, "%d out of range 0-10000", c.Copy.KeepMonthly)
	}
	if c.Copy.KeepYearly < 0 || c.Copy.KeepYearly > 1000 {
		bad("copy.keep_yearly", -1, "%d out of range 0-1000", c.Copy.KeepYearly)
	}
	if cl := filepath.Clean(c.Copy.Dir); filepath.IsAbs(c.Copy.Dir) || cl == "." || strings.HasPrefix(cl, "..") {
		bad("copy.dir", -1, "%q must be a relative directory inside the drive", c.Copy.Dir)
	}
	if c.Notify.PingURL != "" && !strings.HasPrefix(c.Notify.PingURL, "https://") && !strings.HasPrefix(c.Notify.PingURL, "http://") {
		bad("notify.ping_url", -1, "%q is not an http(s) URL", c.Notify.PingURL)
	}
	if c.Notify.Retries < 0 || c.Notify.Retries > 20 {
		bad("notify.retries", -1, "%d out of range 0-20", c.Notify.Retries)
	}
	if c.LED.Index < 0 || c.LED.Index > 63 {
		bad("led.index", -1, "%d out of range 0-63", c.LED.Index)
	}
	if c.LED.Limit < 1 || c.LED.Limit > 100 {
		bad("led.limit", -1, "%d out of range 1-100 (percent of full brightness)", c.LED.Limit)
	}
	return ps
}

// KeyPrompt is the Drive.Key value asking for a passphrase interactively.
const KeyPrompt = "prompt"

func (d *Drive) validate() []problem {
	var ps []problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(d.Name) {
		bad("drive.name", "%q: want 1-64 letters, digits, '.', '_' or '-'", d.Name)
	}
	if !uuidRE.MatchString(d.UUID) {
		bad("drive.uuid", "%q is not a LUKS UUID (see blkid or cryptsetup luksUUID)", d.UUID)
	}
	switch {
	case d.Key == "":
		bad("drive.key", "missing: a key file path, \"path:UUID=…\" for a key stick, or \"prompt\"")
	case d.Key == KeyPrompt:
	default:
		file, dev, hasDev := strings.Cut(d.Key, ":")
		if !filepath.IsAbs(file) {
			bad("drive.key", "key file %q is not an absolute path", file)
		}
		if hasDev && !strings.HasPrefix(dev, "UUID=") && !strings.HasPrefix(dev, "LABEL=") &&
			!strings.HasPrefix(dev, "PARTUUID=") && !strings.HasPrefix(dev, "/dev/") {
			bad("drive.key", "key device %q: want UUID=…, LABEL=…, PARTUUID=… or /dev/…", dev)
		}
	}
	if d.KeyOffset < 0 {
		bad("drive.key_offset", "negative")
	}
	if d.KeySize < 0 || d.KeySize > 8<<20 {
		bad("drive.key_size", "%d out of range 0-8MiB", d.KeySize)
	}
	if d.KeySlot != nil && (*d.KeySlot < 0 || *d.KeySlot > 31) {
		bad("drive.key_slot", "%d out of range 0-31", *d.KeySlot)
	}
	if d.Mapping != "" && !mappingRE.MatchString(d.Mapping) {
		bad("drive.mapping", "%q is not a valid /dev/mapper name", d.Mapping)
	}
	if d.MountPoint != "" {
		if !filepath.IsAbs(d.MountPoint) || filepath.Clean(d.MountPoint) == "/" {
			bad("drive.mount_point", "%q must be an absolute path other than /", d.MountPoint)
		}
	}
	if len(d.Label) > 16 {
		bad("drive.label", "%q is longer than ext4's 16 bytes", d.Label)
	}
	return ps
}

// locator finds the line a key was written on. BurntSushi/toml keeps key
// positions private, so the file is scanned again; it only has to be right
// for files that parsed.
type locator struct {
	lines map[string][]int // "table.key" -> line per array index (or one entry)
}

var (
	arrayHdrRE = regexp.MustCompile(`^\s*\[\[\s*([^\]]+?)\s*\]\]`)
	tableHdrRE = regexp.MustCompile(`^\s*\[\s*([^\]]+?)\s*\]`)
	typeErrRE  = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
	keyRE      = regexp.MustCompile(`^\s*([A-Za-z0-9_"'. -]+?)\s*=`)
)

func newLocator(data []byte) *locator {
	l := &locator{lines: map[string][]int{}}
	table, idx := "", -1
	count := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		n++
		if m := arrayHdrRE.FindStringSubmatch(line); m != nil {
			table = normKey(m[1])
			idx = count[table]
			count[table]++
			l.add(table, idx, n)
			continue
		}
		if m := tableHdrRE.FindStringSubmatch(line); m != nil {
			table, idx = normKey(m[1]), -1
			l.add(table, idx, n)
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			k := normKey(m[1])
			if table != "" {
				k = table + "." + k
			}
			l.add(k, idx, n)
		}
	}
	return l
}

func (l *locator) add(key string, idx, line int) {
	if idx < 0 {
		idx = 0
	}
	s := l.lines[key]
	for len(s) <= idx {
		s = append(s, 0)
	}
	if s[idx] == 0 {
		s[idx] = line
	}
	l.lines[key] = s
}

// line returns the line of key in array element idx (-1: first seen),
// falling back to the enclosing table's header.
func (l *locator) line(key string, idx int) int {
	for k := key; k != ""; {
		if s := l.lines[k]; len(s) > 0 {
			if idx < 0 {
				for _, n := range s {
					if n > 0 {
						return n
					}
				}
			} else if idx < len(s) && s[idx] > 0 {
				return s[idx]
			}
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
