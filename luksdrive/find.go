package luksdrive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive/probe"
)

// ErrAmbiguous: a spec matches more than one device (two drives carry the
// same label, or a cloned drive and its original are both plugged in).
var ErrAmbiguous = errors.New("spec matches more than one device")

// FindOptions tunes Find. A nil *FindOptions means the defaults.
type FindOptions struct {
	// Timeout is how long to wait for the device to appear. Zero looks
	// once and returns ErrNoDevice at once if the device is absent.
	Timeout time.Duration
	// Logger receives one debug line per lookup; nil discards.
	Logger *slog.Logger
}

// finder holds the roots of the trees it reads, so tests can point it at a
// fake sysfs whose "device nodes" are image files.
type finder struct {
	dev     string // /dev
	links   string // /dev/disk, where udev puts by-uuid and friends
	sys     string // /sys/class/block
	udevDB  string // /run/udev/data
	log     *slog.Logger
	timeout time.Duration
}

func newFinder(opts *FindOptions) *finder {
	f := &finder{dev: "/dev", links: "/dev/disk", sys: "/sys/class/block", udevDB: "/run/udev/data", log: discard}
	if opts != nil {
		f.timeout = opts.Timeout
		if opts.Logger != nil {
			f.log = opts.Logger
		}
	}
	return f
}

var discard = slog.New(slog.DiscardHandler)

func logOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return discard
	}
	return l
}

// Find resolves spec (see ParseSpec) to a device node, waiting up to
// opts.Timeout for it to appear. A path is returned as is once it exists,
// so image files work too.
//
// UUIDs and labels are looked up in udev's /dev/disk/by-* links and
// database when udev runs; devices udev does not know (initramfs, minimal
// systems) are identified by probing their superblocks. A spec that
// matches two devices fails with ErrAmbiguous rather than picking one: a
// backup written to the wrong drive is worse than none.
func Find(ctx context.Context, spec string, opts *FindOptions) (string, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return "", err
	}
	return newFinder(opts).find(ctx, sp)
}

func (f *finder) find(ctx context.Context, sp Spec) (string, error) {
	deadline := time.Now().Add(f.timeout)
	delay := 50 * time.Millisecond
	for {
		devs, err := f.lookup(sp)
		if err != nil {
			return "", &OpError{Op: "find", Device: sp.String(), Err: err}
		}
		switch len(devs) {
		case 1:
			f.log.Debug("found device", "spec", sp.String(), "device", devs[0])
			return devs[0], nil
		case 0:
		default:
			return "", &OpError{Op: "find", Device: sp.String(), Err: fmt.Errorf("%w: %s; name the drive by UUID= or by device path", ErrAmbiguous, strings.Join(devs, ", "))}
		}
		left := time.Until(deadline)
		if left <= 0 {
			msg := "is the drive plugged in? check the spec with blkid"
			if f.timeout > 0 {
				msg = fmt.Sprintf("waited %v; %s", f.timeout, msg)
			}
			return "", &OpError{Op: "find", Device: sp.String(), Err: fmt.Errorf("%w (%s)", ErrNoDevice, msg)}
		}
		// A drive takes a second or two to settle after it is plugged in;
		// a capped backoff finds it quickly without spinning.
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", &OpError{Op: "find", Device: sp.String(), Err: ctx.Err()}
		case <-t.C:
		}
		delay = min(delay*2, time.Second)
	}
}

// lookup returns the distinct device nodes matching sp right now.
func (f *finder) lookup(sp Spec) ([]string, error) {
	if sp.Kind == SpecPath {
		st, err := os.Stat(sp.Value)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("%w: %v", ErrPermission, err)
		case err != nil:
			return nil, err
		case st.IsDir():
			return nil, fmt.Errorf("%w: is a directory, not a device or image file", ErrBadSpec)
		}
		return []string{sp.Value}, nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, real)
		}
	}
	// udev's link is authoritative when present, but with two matching
	// devices it points at whichever came last, so the scan below still
	// runs to catch the second one.
	if link := f.udevLink(sp); link != "" {
		if _, err := os.Stat(link); err == nil {
			add(link)
		}
	}
	for _, d := range f.scan() {
		if d.matches(sp) {
			add(filepath.Join(f.dev, d.name))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *finder) udevLink(sp Spec) string {
	var dir string
	switch sp.Kind {
	case SpecUUID:
		dir = "by-uuid"
	case SpecLabel:
		dir = "by-label"
	case SpecPartUUID:
		dir = "by-partuuid"
	case SpecPartLabel:
		dir = "by-partlabel"
	default:
		return ""
	}
	return filepath.Join(f.links, dir, udevEncode(sp.Value))
}

// udevEncode escapes a label the way udev names its by-label links
// (blkid_encode_string): unsafe bytes become \xNN.
func udevEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z',
			strings.IndexByte("#+-.:=@_", c) >= 0, c >= 0x80:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// blockDev is what is known about one block device.
type blockDev struct {
	name                string
	uuid, label         string // filesystem or LUKS
	partUUID, partLabel string
}

func (d blockDev) matches(sp Spec) bool {
	switch sp.Kind {
	case SpecUUID:
		return d.uuid != "" && strings.EqualFold(d.uuid, sp.Value)
	case SpecLabel:
		return d.label != "" && d.label == sp.Value
	case SpecPartUUID:
		return d.partUUID != "" && strings.EqualFold(d.partUUID, sp.Value)
	case SpecPartLabel:
		return d.partLabel != "" && d.partLabel == sp.Value
	}
	return false
}

// scan lists every non-empty block device with its identifiers, taken from
// udev's database when udev has probed the device (no disk I/O, so no
// spun-down drive wakes up) and from the superblocks otherwise.
func (f *finder) scan() []blockDev {
	ents, err := os.ReadDir(f.sys)
	if err != nil {
		return nil
	}
	var out []blockDev
	tables := map[string]*probe.Result{} // partition tables of whole disks, by name
	for _, e := range ents {
		name := e.Name()
		sysdir := filepath.Join(f.sys, name)
		if readInt(filepath.Join(sysdir, "size")) <= 0 {
			continue
		}
		d := blockDev{name: name}
		if f.fromUdev(sysdir, &d) {
			out = append(out, d)
			continue
		}
		node := filepath.Join(f.dev, name)
		if res, err := probe.Device(node); err == nil {
			d.uuid, d.label = res.UUID, res.Label
		}
		if n := readInt(filepath.Join(sysdir, "partition")); n > 0 {
			parent := f.parentDisk(sysdir)
			pt, ok := tables[parent]
			if !ok {
				pt, _ = probe.Device(filepath.Join(f.dev, parent))
				tables[parent] = pt
			}
			if pt != nil {
				for _, p := range pt.Partitions {
					if p.Number == int(n) {
						d.partUUID, d.partLabel = p.UUID, p.Name
					}
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// parentDisk returns the name of the disk a partition belongs to: in sysfs
// a partition's directory sits inside its disk's directory.
func (f *finder) parentDisk(sysdir string) string {
	real, err := filepath.EvalSymlinks(sysdir)
	if err != nil {
		return ""
	}
	return filepath.Base(filepath.Dir(real))
}

// fromUdev fills d from /run/udev/data/b<major>:<minor>. It reports false
// when udev has no record with filesystem properties for the device.
func (f *finder) fromUdev(sysdir string, d *blockDev) bool {
	devnum, err := os.ReadFile(filepath.Join(sysdir, "dev"))
	if err != nil {
		return false
	}
	fh, err := os.Open(filepath.Join(f.udevDB, "b"+strings.TrimSpace(string(devnum))))
	if err != nil {
		return false
	}
	defer fh.Close()
	probed := false
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "E:"), "=")
		if !ok {
			continue
		}
		switch k {
		case "ID_FS_TYPE":
			probed = true
		// The _ENC variants keep the exact bytes (\xNN-escaped); the
		// plain ID_FS_LABEL has unsafe characters replaced by '_'.
		case "ID_FS_UUID_ENC":
			d.uuid = udevDecode(v)
		case "ID_FS_LABEL_ENC":
			d.label = udevDecode(v)
		case "ID_PART_ENTRY_UUID":
			probed = true
			d.partUUID = v
		case "ID_PART_ENTRY_NAME":
			d.partLabel = udevDecode(v)
		}
	}
	return probed
}

// udevDecode undoes the \xNN escapes udev writes for partition names.
func udevDecode(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
