package luksdrive

import (
	"errors"

	"github.com/anatol/luks.go"
)

// luksGoVolume is a keyslot luks.go opened; it can load its own table.
type luksGoVolume struct{ v *luks.Volume }

func (l luksGoVolume) setupMapper(backing, name string) error {
	l.v.BackingDevice = backing
	return l.v.SetupMapper(name)
}

// unsealLuksGo opens one keyslot with github.com/anatol/luks.go. Unlock
// falls back to it for what this package leaves to luks.go: the long tail
// of hashes and ciphers (sha3, blake2, whirlpool, camellia) that old or
// unusual volumes use. The returned volume holds the volume key in a
// field luks.go keeps private, so it cannot be wiped here; it is dropped
// as soon as the mapping exists.
func unsealLuksGo(device string, slot int, pass []byte) (*luksGoVolume, error) {
	d, err := luks.Open(device)
	if err != nil {
		return nil, unsupported("luks.go: %v", err)
	}
	defer d.Close()
	v, err := d.UnsealVolume(slot, pass)
	if errors.Is(err, luks.ErrPassphraseDoesNotMatch) {
		return nil, errKeyMismatch
	}
	if err != nil {
		return nil, unsupported("luks.go: %v", err)
	}
	return &luksGoVolume{v}, nil
}
