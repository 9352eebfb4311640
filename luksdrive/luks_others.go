//go:build !linux

package luksdrive

// luksGoVolume is never made outside Linux: luks.go needs device-mapper.
type luksGoVolume struct{}

func (luksGoVolume) setupMapper(backing, name string) error { return errNotLinux }

func unsealLuksGo(device string, slot int, pass []byte) (*luksGoVolume, error) {
	return nil, unsupported("keyslot needs luks.go, which needs Linux")
}
