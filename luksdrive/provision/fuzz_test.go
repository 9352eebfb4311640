package provision

import (
	"slices"
	"testing"
)

// FuzzParseMetadata feeds LUKS2 JSON areas to the keyslot reader: no
// panic, sorted unique slots, and freeSlot never returns a used slot.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"keyslots":{"0":{},"1":{}},"tokens":{"0":{"type":"extdrive-keyfile","keyslots":["1"]}}}`))
	f.Add([]byte(`{"keyslots":{},"tokens":{}}`))
	f.Add([]byte(`{"keyslots":{"1":{},"01":{}}}`))
	f.Add([]byte(`{"keyslots":{"31":{}},"tokens":{"7":{"type":"x","keyslots":["a","31"]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := parseMetadata(b)
		if err != nil {
			return
		}
		if !slices.IsSorted(si.Keyslots) || len(slices.Compact(slices.Clone(si.Keyslots))) != len(si.Keyslots) {
			t.Fatalf("keyslots %v not sorted and unique", si.Keyslots)
		}
		if n, err := si.freeSlot(); err == nil && slices.Contains(si.Keyslots, n) {
			t.Fatalf("freeSlot %d is in use (%v)", n, si.Keyslots)
		}
	})
}

// FuzzSumLine checks the SHA256SUMS line splitter against what it writes.
func FuzzSumLine(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  a.luksheader")
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef *b")
	f.Fuzz(func(t *testing.T, l string) {
		sum, name, ok := splitSumLine(l)
		if !ok {
			return
		}
		if len(sum) != 64 || name == "" {
			t.Fatalf("splitSumLine(%q) = %q, %q", l, sum, name)
		}
	})
}
