package udevwatch

import "strings"

// Matcher selects events by the fields a user can name in a config file.
// An empty field matches anything; a Matcher with every field empty
// matches every event. UUIDs compare case-insensitively, since blkid
// prints them in lower case but users paste them from anywhere.
type Matcher struct {
	LUKSUUID string // LUKS header UUID
	FSUUID   string // filesystem (or LUKS) UUID
	FSLabel  string
	FSType   string
	Serial   string // udev ID_SERIAL
	DevNode  string // "/dev/sdb1"
	Disk     string // whole disk, "/dev/sdb"
}

// Match reports whether e satisfies every non-empty field of m.
func (m Matcher) Match(e Event) bool {
	return fold(m.LUKSUUID, e.LUKSUUID) &&
		fold(m.FSUUID, e.FS.UUID) &&
		exact(m.FSLabel, e.FS.Label) &&
		exact(m.FSType, e.FS.Type) &&
		exact(m.Serial, e.Serial) &&
		exact(m.DevNode, e.DevNode) &&
		exact(m.Disk, e.Disk)
}

func exact(want, got string) bool { return want == "" || want == got }
func fold(want, got string) bool  { return want == "" || strings.EqualFold(want, got) }

// MatchAny reports whether any matcher in ms matches e; no matchers at all
// match everything.
func MatchAny(ms []Matcher, e Event) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.Match(e) {
			return true
		}
	}
	return false
}
