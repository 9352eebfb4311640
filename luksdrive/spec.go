package luksdrive

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrBadSpec: a device spec is empty or uses an unknown KEY= form.
var ErrBadSpec = errors.New("bad device spec")

// SpecKind says how a Spec names a device.
type SpecKind int

const (
	SpecPath      SpecKind = iota // a device node or an image file
	SpecUUID                      // LUKS UUID, filesystem UUID or FAT volume id
	SpecLabel                     // filesystem or LUKS2 label
	SpecPartUUID                  // GPT partition GUID or MBR "xxxxxxxx-NN"
	SpecPartLabel                 // GPT partition name
)

// Spec names a drive the way fstab and crypttab do.
type Spec struct {
	Kind  SpecKind
	Value string
}

var specKeys = map[string]SpecKind{
	"UUID":      SpecUUID,
	"LABEL":     SpecLabel,
	"PARTUUID":  SpecPartUUID,
	"PARTLABEL": SpecPartLabel,
}

var (
	bareUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	specKey  = regexp.MustCompile(`^[A-Z_]+=`)
)

// ParseSpec parses "UUID=…", "LABEL=…", "PARTUUID=…", "PARTLABEL=…", a
// bare RFC 4122 UUID (as crypttab users often write it) or a path. Values
// may be quoted as blkid prints them (UUID="…").
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, &OpError{Op: "parse spec", Err: fmt.Errorf("%w: empty; give a device path, UUID=…, LABEL=… or PARTUUID=…", ErrBadSpec)}
	}
	if bareUUID.MatchString(s) {
		return Spec{Kind: SpecUUID, Value: strings.ToLower(s)}, nil
	}
	if !specKey.MatchString(s) {
		return Spec{Kind: SpecPath, Value: s}, nil
	}
	k, v, _ := strings.Cut(s, "=")
	kind, ok := specKeys[k]
	if !ok {
		return Spec{}, &OpError{Op: "parse spec", Device: s, Err: fmt.Errorf("%w: unknown key %s=; use UUID=, LABEL=, PARTUUID=, PARTLABEL= or a path", ErrBadSpec, k)}
	}
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		v = v[1 : len(v)-1]
	}
	if v == "" {
		return Spec{}, &OpError{Op: "parse spec", Device: s, Err: fmt.Errorf("%w: %s= needs a value (see blkid)", ErrBadSpec, k)}
	}
	if kind == SpecUUID || kind == SpecPartUUID {
		v = strings.ToLower(v)
	}
	return Spec{Kind: kind, Value: v}, nil
}

// String returns the spec in the form ParseSpec accepts. Values with
// edge spaces or quotes are quoted so they survive the round trip.
func (s Spec) String() string {
	for k, kind := range specKeys {
		if kind == s.Kind {
			v := s.Value
			if v != strings.TrimSpace(v) || strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") {
				v = `"` + v + `"`
			}
			return k + "=" + v
		}
	}
	return s.Value
}
