package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// slotInfo is what this package needs from a LUKS2 header: which
// keyslots are in use and which tokens point at them.
type slotInfo struct {
	Keyslots []int
	Tokens   []tokenInfo
}

type tokenInfo struct {
	ID       int
	Type     string
	Keyslots []int
}

// parseMetadata reads the JSON area as `cryptsetup luksDump
// --dump-json-metadata` prints it.
func parseMetadata(b []byte) (*slotInfo, error) {
	var j struct {
		Keyslots map[string]json.RawMessage `json:"keyslots"`
		Tokens   map[string]struct {
			Type     string   `json:"type"`
			Keyslots []string `json:"keyslots"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("LUKS2 metadata: %w", err)
	}
	var si slotInfo
	for k := range j.Keyslots {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n > 31 || strconv.Itoa(n) != k {
			return nil, fmt.Errorf("LUKS2 metadata: keyslot id %q", k)
		}
		si.Keyslots = append(si.Keyslots, n)
	}
	slices.Sort(si.Keyslots)
	for k, t := range j.Tokens {
		n, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("LUKS2 metadata: token id %q", k)
		}
		ti := tokenInfo{ID: n, Type: t.Type}
		for _, s := range t.Keyslots {
			if v, err := strconv.Atoi(s); err == nil {
				ti.Keyslots = append(ti.Keyslots, v)
			}
		}
		si.Tokens = append(si.Tokens, ti)
	}
	slices.SortFunc(si.Tokens, func(a, b tokenInfo) int { return a.ID - b.ID })
	return &si, nil
}

// freeSlot is the lowest keyslot not in use (LUKS2 has 32).
func (si *slotInfo) freeSlot() (int, error) {
	for i := 0; i < 32; i++ {
		if !slices.Contains(si.Keyslots, i) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("all 32 keyslots are in use: %w", ErrKeyslot)
}

func (r *runner) slots(ctx context.Context, step, device string) (*slotInfo, error) {
	out, err := r.run(ctx, step, nil, "cryptsetup", "luksDump", "--dump-json-metadata", device)
	if err != nil {
		return nil, err
	}
	return parseMetadata(out)
}
