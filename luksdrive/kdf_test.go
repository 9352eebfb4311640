package luksdrive

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"encoding/hex"
	"hash"
	"testing"
)

// TestPBKDF2 checks pbkdf2Key against RFC 6070's vectors and against
// crypto/pbkdf2 for every hash LUKS headers name, with passwords around
// each hash's block size (the HMAC key is hashed above it) and with and
// without saved hash states (RIPEMD-160 has none).
func TestPBKDF2(t *testing.T) {
	ctx := context.Background()
	for _, v := range []struct {
		pass, salt string
		iter, n    int
		want       string
	}{
		{"password", "salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{"password", "salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"},
		{"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
		{"pass\x00word", "sa\x00lt", 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3"},
	} {
		got, err := pbkdf2Key(ctx, hashByName("sha1"), []byte(v.pass), []byte(v.salt), v.iter, v.n)
		if err != nil || hex.EncodeToString(got) != v.want {
			t.Errorf("RFC 6070 %q/%q/%d: %x, %v; want %s", v.pass, v.salt, v.iter, got, err, v.want)
		}
	}
	for _, name := range []string{"sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160"} {
		h := hashByName(name)
		bs := h().BlockSize()
		for _, plen := range []int{0, 1, bs - 1, bs, bs + 1, 3 * bs} {
			pass := bytes.Repeat([]byte{0xa5}, plen)
			for _, iter := range []int{1, 2, 1000} {
				for _, n := range []int{16, 32, 64, 100} {
					got, err := pbkdf2Key(ctx, h, pass, []byte("luks-salt"), iter, n)
					if err != nil {
						t.Fatal(err)
					}
					want, err := pbkdf2.Key(func() hash.Hash { return h() }, string(pass), []byte("luks-salt"), iter, n)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s password %d bytes, %d iterations, %d bytes: %x, want %x", name, plen, iter, n, got, want)
					}
				}
			}
		}
	}
}

// TestHMACWipe: after wipe, none of the HMAC's own buffers holds a byte
// derived from the key.
func TestHMACWipe(t *testing.T) {
	for _, name := range []string{"sha256", "sha512", "ripemd160"} {
		m := newHMAC(hashByName(name), []byte("correct horse battery staple"))
		m.sum(nil, []byte("message"))
		bufs := map[string][]byte{"pads": m.pads, "istate": m.istate, "ostate": m.ostate, "ibuf": m.ibuf[:cap(m.ibuf)]}
		if name != "ripemd160" && (m.istate == nil || m.ostate == nil) {
			t.Errorf("%s: no saved states", name)
		}
		m.wipe()
		for k, b := range bufs {
			if bytes.Count(b, []byte{0}) != len(b) {
				t.Errorf("%s: %s not wiped: %x", name, k, b)
			}
		}
	}
}

func BenchmarkPBKDF2(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		pbkdf2Key(ctx, hashByName("sha256"), []byte("passphrase"), []byte("salt"), 100000, 32)
	}
}
