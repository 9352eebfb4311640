package luksdrive

import (
	"errors"
	"strings"
	"testing"

	"github.com/anatol/luks.go"
)

// TestAgreesWithLuksGo: on every passphrase image with an attached header,
// luks.go accepts the key in the same keyslot this package picks and
// refuses a wrong one, except where this package fills luks.go's gaps:
// cbc keyslot areas (LUKS1 cbc-essiv and cbc-plain, LUKS2 cbc-essiv) and
// LUKS2 PBKDF2 with sha1, which luks.go cannot open at all.
func TestAgreesWithLuksGo(t *testing.T) {
	for _, c := range imageCases {
		if c.pass == "" || c.header != "" {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			img := testImage(t, c.image)
			d, err := luks.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.UnsealVolume(c.slot, []byte(c.pass))
			gaps := map[string]string{
				"luks1-cbc-essiv.img":     "Unknown encryption mode",
				"luks1-cbc-plain.img":     "Unknown encryption mode",
				"luks2-pbkdf2-sha256.img": "Unknown encryption mode", // aes-cbc-essiv:sha256
				"luks2-pbkdf2-sha1.img":   "kdf.hash algorithm: sha1",
			}
			if gap, ok := gaps[c.image]; ok {
				if err == nil || !strings.Contains(err.Error(), gap) {
					t.Errorf("luks.go: %v, want %q: the gap this package fills has changed", err, gap)
				}
				return
			}
			if err != nil {
				t.Fatalf("luks.go refuses the key this package accepts: %v", err)
			}
			if _, err := d.UnsealVolume(c.slot, []byte(c.pass+"x")); !errors.Is(err, luks.ErrPassphraseDoesNotMatch) {
				t.Errorf("luks.go with a wrong key: %v", err)
			}
		})
	}
}
