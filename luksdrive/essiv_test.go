package luksdrive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// TestESSIV checks the cbc-essiv:sha256 sector decryptor against a
// direct construction from its definition: IV = AES_{SHA256(key)}(le64
// sector), then CBC.
func TestESSIV(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	plain := make([]byte, 512)
	for i := range plain {
		plain[i] = byte(i * 7)
	}
	salt := sha256.Sum256(key)
	ivc, _ := aes.NewCipher(salt[:])
	b, _ := aes.NewCipher(key)
	for _, sector := range []uint64{0, 1, 255, 1 << 33} {
		iv := make([]byte, 16)
		binary.LittleEndian.PutUint64(iv, sector)
		ivc.Encrypt(iv, iv)
		ct := make([]byte, 512)
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, plain)

		c, err := newSectorCipher("aes-cbc-essiv:sha256", key)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 512)
		c.decryptSector(got, ct, sector)
		if !bytes.Equal(got, plain) {
			t.Errorf("sector %d: decrypted wrongly", sector)
		}
	}
}

func TestSectorCipherErrors(t *testing.T) {
	for _, tc := range []struct {
		spec string
		key  int
		want error
	}{
		{"aes", 32, ErrUnsupported},
		{"serpent-xts-plain64", 64, ErrUnsupported},
		{"aes-xts-benbi", 64, ErrUnsupported},
		{"aes-cbc-essiv:md4", 32, ErrUnsupported},
		{"aes-cbc-lmk", 32, ErrUnsupported},
		{"aes-gcm-random", 32, ErrUnsupported},
		{"aes-xts-plain64", 33, ErrCorruptHeader},
		{"aes-cbc-plain", 7, ErrUnsupported},
		{"a-b-c-d", 32, ErrUnsupported},
	} {
		if _, err := newSectorCipher(tc.spec, make([]byte, tc.key)); !errors.Is(err, tc.want) {
			t.Errorf("%s with a %d-byte key: %v, want %v", tc.spec, tc.key, err, tc.want)
		}
	}
	for _, spec := range []string{"aes-xts-plain64", "aes-xts-plain", "aes-cbc-plain", "aes-cbc-plain64", "aes-cbc-plain64be", "aes-cbc-null", "aes-cbc-essiv:sha256", "aes-ecb", "twofish-cbc-essiv:sha256", "twofish-xts-plain64"} {
		key := 32
		if _, err := newSectorCipher(spec, make([]byte, key)); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

// FuzzSectorCipher: any cipher spec and key from a header must give an
// error or a working decryptor, never a panic.
func FuzzSectorCipher(f *testing.F) {
	f.Add("aes-xts-plain64", make([]byte, 64))
	f.Add("aes-cbc-essiv:sha256", make([]byte, 32))
	f.Add("twofish-cbc-essiv:sha512", make([]byte, 16))
	f.Add("aes-ecb", make([]byte, 24))
	f.Fuzz(func(t *testing.T, spec string, key []byte) {
		c, err := newSectorCipher(spec, key)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorruptHeader) {
				t.Fatalf("%q: error without a sentinel: %v", spec, err)
			}
			return
		}
		buf := make([]byte, 1024)
		decryptArea(c, buf)
	})
}
