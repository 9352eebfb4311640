package probe_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/extdrive/extdrive/luksdrive/probe"
)

// Probe a minimal ext4 superblock: the probe needs only the magic, the
// feature flags, the UUID and the label, wherever they come from.
func Example() {
	img := make([]byte, 4096)
	sb := img[1024:]
	sb[0x38], sb[0x39] = 0x53, 0xEF // magic 0xEF53
	sb[0x5C] = 0x04                 // has_journal
	sb[0x60] = 0x40                 // extents: only ext4 has them
	copy(sb[0x68:], []byte{0x3b, 0x4e, 0x28, 0xba, 0x2f, 0xa1, 0x11, 0xd2, 0x88, 0x3f, 0x00, 0x16, 0xd3, 0xcc, 0xa4, 0x27})
	copy(sb[0x78:], "backup2024")

	path := filepath.Join(os.TempDir(), "probe-example.img")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(path)

	res, err := probe.Device(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Type, res.UUID, res.Label)
	// Output: ext4 3b4e28ba-2fa1-11d2-883f-0016d3cca427 backup2024
}
