package luksdrive

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
)

// KeyfileTokenType is the LUKS2 token type extdrive writes next to each
// key-file keyslot it enrolls.
const KeyfileTokenType = "extdrive-keyfile"

// KeyfileToken is the payload of an extdrive-keyfile LUKS2 token: which
// keyslot a key file opens and where that key file lives, so Unlock goes
// straight to that slot instead of paying every slot's KDF. In the header
// it is stored as
//
//	{"type":"extdrive-keyfile","keyslots":["1"],
//	 "key_file":"/extdrive/backup1.key","key_device":"UUID=…"}
//
// and can be written with `cryptsetup token import --json-file FILE DEV`
// from the output of json.Marshal. The token holds no secret.
type KeyfileToken struct {
	// Keyslot is the keyslot the key file opens.
	Keyslot int
	// KeyFile is the key file's path, relative to the root of KeyDevice's
	// filesystem when KeyDevice is set.
	KeyFile string
	// KeyDevice names the key stick (UUID=…, LABEL=…); empty when the key
	// file sits on the host.
	KeyDevice string
}

type keyfileTokenJSON struct {
	Type      string   `json:"type"`
	Keyslots  []string `json:"keyslots"`
	KeyFile   string   `json:"key_file,omitempty"`
	KeyDevice string   `json:"key_device,omitempty"`
}

// MarshalJSON renders the token as LUKS2 stores it.
func (t KeyfileToken) MarshalJSON() ([]byte, error) {
	if t.Keyslot < 0 || t.Keyslot > 31 {
		return nil, fmt.Errorf("keyslot %d out of range 0-31", t.Keyslot)
	}
	return json.Marshal(keyfileTokenJSON{
		Type:      KeyfileTokenType,
		Keyslots:  []string{strconv.Itoa(t.Keyslot)},
		KeyFile:   t.KeyFile,
		KeyDevice: t.KeyDevice,
	})
}

// UnmarshalJSON parses a token of type extdrive-keyfile naming exactly
// one keyslot.
func (t *KeyfileToken) UnmarshalJSON(b []byte) error {
	var j keyfileTokenJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Type != KeyfileTokenType {
		return fmt.Errorf("token type %q, want %q", j.Type, KeyfileTokenType)
	}
	if len(j.Keyslots) != 1 {
		return fmt.Errorf("%s token names %d keyslots, want 1", KeyfileTokenType, len(j.Keyslots))
	}
	n, err := strconv.Atoi(j.Keyslots[0])
	if err != nil || n < 0 || n > 31 {
		return fmt.Errorf("%s token keyslot %q", KeyfileTokenType, j.Keyslots[0])
	}
	*t = KeyfileToken{Keyslot: n, KeyFile: j.KeyFile, KeyDevice: j.KeyDevice}
	return nil
}

// keyfileTokens returns the header's well-formed extdrive-keyfile tokens;
// malformed ones are skipped, as they are only hints.
func (h *header) keyfileTokens() []KeyfileToken {
	var out []KeyfileToken
	for _, tk := range h.tokens {
		if tk.typ != KeyfileTokenType {
			continue
		}
		var t KeyfileToken
		if t.UnmarshalJSON(tk.raw) == nil {
			out = append(out, t)
		}
	}
	return out
}

// ReadKeyfileTokens lists the extdrive-keyfile tokens in the LUKS2 header
// of device (a block device, image or detached header file).
func ReadKeyfileTokens(device string) ([]KeyfileToken, error) {
	h, err := readHeaderFile(device)
	if err != nil {
		return nil, opErr("read header", device, err)
	}
	return h.keyfileTokens(), nil
}

func readHeaderFile(name string) (*header, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, openError(err)
	}
	defer f.Close()
	size, err := deviceSize(f)
	if err != nil {
		return nil, err
	}
	return parseHeader(f, size)
}

// slotOrder is the order Unlock tries keyslots in; the point is to reach
// the slot that holds this key first, because each miss costs a full KDF
// (a second or more, and up to 1 GiB of memory, with argon2).
//
//  1. An explicit slot (Key.Slot) is the only one tried, like
//     cryptsetup --key-slot.
//  2. For a key file, slots named by extdrive-keyfile tokens whose file
//     (or device) matches the key, then other extdrive-keyfile slots.
//  3. Remaining slots by LUKS2 priority: 2 (prefer), then 1 (normal).
//     Priority 0 (ignore) is tried only when named by 1 or 2.
//  4. Slots bound to tokens for other unlock methods (FIDO2, TPM2,
//     clevis) and, for a passphrase, key-file slots come last: a typed
//     passphrase rarely opens them.
func slotOrder(h *header, k *Key) ([]*keyslot, error) {
	byID := map[int]*keyslot{}
	var active []int
	for i := range h.keyslots {
		byID[h.keyslots[i].id] = &h.keyslots[i]
		active = append(active, h.keyslots[i].id)
	}
	if k.Slot >= 0 {
		ks, ok := byID[k.Slot]
		if !ok {
			return nil, fmt.Errorf("keyslot %d is not in use (active keyslots: %v): %w", k.Slot, active, ErrWrongKey)
		}
		return []*keyslot{ks}, nil
	}

	// A key on a device is named relative to its root, with or without
	// a leading slash.
	cleanKey := func(p string) string {
		if k.FileDevice != "" {
			return path.Clean("/" + p)
		}
		return path.Clean(p)
	}
	var matching, otherKeyfile []int
	for _, t := range h.keyfileTokens() {
		if k.File != "" && (t.KeyDevice != "" && t.KeyDevice == k.FileDevice ||
			t.KeyFile != "" && cleanKey(t.KeyFile) == cleanKey(k.File)) {
			matching = append(matching, t.Keyslot)
		} else {
			otherKeyfile = append(otherKeyfile, t.Keyslot)
		}
	}
	var foreign []int
	for _, tk := range h.tokens {
		if tk.typ != KeyfileTokenType {
			foreign = append(foreign, tk.keyslots...)
		}
	}

	var order []*keyslot
	seen := map[int]bool{}
	add := func(id int, named bool) {
		ks, ok := byID[id]
		if !ok || seen[id] || ks.priority == 0 && !named {
			return
		}
		seen[id] = true
		order = append(order, ks)
	}
	if k.File != "" {
		for _, id := range matching {
			add(id, true)
		}
		for _, id := range otherKeyfile {
			add(id, true)
		}
	}
	late := func(id int) bool {
		return slices.Contains(foreign, id) || k.File == "" && (slices.Contains(matching, id) || slices.Contains(otherKeyfile, id))
	}
	for _, prio := range []int{2, 1} {
		for _, ks := range h.keyslots {
			if ks.priority == prio && !late(ks.id) {
				add(ks.id, false)
			}
		}
	}
	for _, ks := range h.keyslots {
		if late(ks.id) {
			add(ks.id, slices.Contains(matching, ks.id) || slices.Contains(otherKeyfile, ks.id))
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("no usable keyslot (active: %v, all set to priority ignore): %w", active, ErrWrongKey)
	}
	return order, nil
}
