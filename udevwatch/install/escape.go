package install

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath: a path systemd would refuse to turn into a unit name.
var ErrBadPath = errors.New("path cannot be escaped into a unit name")

// Escape escapes s for use in a unit name exactly as `systemd-escape s`
// does: '/' becomes '-', and '-', '\\', a leading '.', and every byte
// outside [A-Za-z0-9:_.] become \xNN.
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case i == 0 && c == '.', !unitChar(c):
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unitChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == ':' || c == '_' || c == '.'
}

// EscapePath escapes a path as `systemd-escape --path p` does: duplicate
// slashes and "." components are dropped, leading and trailing slashes
// trimmed, and the root becomes "-". Like systemd it refuses ".."
// components, since the name could not be turned back into the path.
func EscapePath(p string) (string, error) {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q has a .. component", ErrBadPath, p)
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return "-", nil
	}
	return Escape(strings.Join(parts, "/")), nil
}

// DeviceUnit is the name of the unit systemd creates for a device node
// path, e.g. "dev-disk-by\x2duuid-….device".
func DeviceUnit(devpath string) (string, error) {
	s, err := EscapePath(devpath)
	if err != nil {
		return "", err
	}
	return s + ".device", nil
}
