package luksdrive

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/crypto/twofish"
	"golang.org/x/crypto/xts"
)

// sectorCipher decrypts 512-byte sectors the way dm-crypt does for a
// cipher spec such as "aes-xts-plain64" or "aes-cbc-essiv:sha256". It is
// used only for keyslot areas, which are always 512-byte sectors numbered
// from 0 at the start of the area; the data segment is left to the kernel.
type sectorCipher interface {
	decryptSector(dst, src []byte, sector uint64)
}

const keyslotSectorSize = 512

// parseCipherSpec splits "cipher-mode-iv" as dm-crypt and cryptsetup do.
// The IV part may itself contain ':' ("essiv:sha256") but no '-'.
func parseCipherSpec(spec string) (name, mode, iv string, err error) {
	parts := strings.Split(spec, "-")
	switch len(parts) {
	case 2:
		// "aes-ecb" has no IV.
		name, mode = parts[0], parts[1]
	case 3:
		name, mode, iv = parts[0], parts[1], parts[2]
	default:
		return "", "", "", unsupported("cipher %q (want cipher-mode-iv, e.g. aes-xts-plain64)", spec)
	}
	return name, mode, iv, nil
}

func blockCipherFunc(name string) (func([]byte) (cipher.Block, error), error) {
	switch name {
	case "aes":
		return aes.NewCipher, nil
	case "twofish":
		return func(k []byte) (cipher.Block, error) { return twofish.NewCipher(k) }, nil
	}
	return nil, unsupported("block cipher %q (aes and twofish are supported)", name)
}

// newSectorCipher builds the decryptor for spec with key; key is only read.
func newSectorCipher(spec string, key []byte) (sectorCipher, error) {
	name, mode, iv, err := parseCipherSpec(spec)
	if err != nil {
		return nil, err
	}
	newBlock, err := blockCipherFunc(name)
	if err != nil {
		return nil, err
	}
	switch mode {
	case "xts":
		// plain and plain64 differ only past sector 2^32, far beyond any
		// keyslot area.
		if iv != "plain64" && iv != "plain" {
			return nil, unsupported("IV %q with xts (plain64 and plain are supported)", iv)
		}
		if len(key)%2 != 0 {
			return nil, fmt.Errorf("xts key of odd length %d: %w", len(key), ErrCorruptHeader)
		}
		c, err := xts.NewCipher(newBlock, key)
		if err != nil {
			return nil, fmt.Errorf("%s key of %d bytes: %v: %w", spec, len(key), err, ErrUnsupported)
		}
		return xtsSector{c}, nil
	case "cbc":
		b, err := newBlock(key)
		if err != nil {
			return nil, fmt.Errorf("%s key of %d bytes: %v: %w", spec, len(key), err, ErrUnsupported)
		}
		gen, err := newIVGen(iv, key, newBlock, b.BlockSize())
		if err != nil {
			return nil, err
		}
		return &cbcSector{b: b, iv: gen}, nil
	case "ecb":
		if iv != "" {
			return nil, unsupported("IV %q with ecb", iv)
		}
		b, err := newBlock(key)
		if err != nil {
			return nil, fmt.Errorf("%s key of %d bytes: %v: %w", spec, len(key), err, ErrUnsupported)
		}
		return ecbSector{b}, nil
	}
	return nil, unsupported("cipher mode %q in %q (xts, cbc and ecb are supported)", mode, spec)
}

type xtsSector struct{ c *xts.Cipher }

func (x xtsSector) decryptSector(dst, src []byte, sector uint64) { x.c.Decrypt(dst, src, sector) }

type ecbSector struct{ b cipher.Block }

func (e ecbSector) decryptSector(dst, src []byte, _ uint64) {
	bs := e.b.BlockSize()
	for i := 0; i+bs <= len(src); i += bs {
		e.b.Decrypt(dst[i:i+bs], src[i:i+bs])
	}
}

type cbcSector struct {
	b  cipher.Block
	iv ivGen
}

func (c *cbcSector) decryptSector(dst, src []byte, sector uint64) {
	iv := make([]byte, c.b.BlockSize())
	c.iv.iv(iv, sector)
	cipher.NewCBCDecrypter(c.b, iv).CryptBlocks(dst, src)
}

// ivGen fills iv for a sector number, following dm-crypt's IV generators.
type ivGen interface {
	iv(dst []byte, sector uint64)
}

type ivPlain struct{}

func (ivPlain) iv(dst []byte, s uint64) {
	clear(dst)
	binary.LittleEndian.PutUint32(dst, uint32(s))
}

type ivPlain64 struct{}

func (ivPlain64) iv(dst []byte, s uint64) {
	clear(dst)
	binary.LittleEndian.PutUint64(dst, s)
}

type ivPlain64BE struct{}

func (ivPlain64BE) iv(dst []byte, s uint64) {
	clear(dst)
	binary.BigEndian.PutUint64(dst[len(dst)-8:], s)
}

type ivNull struct{}

func (ivNull) iv(dst []byte, _ uint64) { clear(dst) }

// ivESSIV is "encrypted salt-sector IV": the sector number encrypted with
// a key that is the hash of the volume key, so IVs are unpredictable to
// someone who does not hold the key (the point of cbc-essiv over
// cbc-plain, which leaks through watermarking attacks).
type ivESSIV struct{ b cipher.Block }

func (e ivESSIV) iv(dst []byte, s uint64) {
	clear(dst)
	binary.LittleEndian.PutUint64(dst, s)
	e.b.Encrypt(dst, dst)
}

func newIVGen(spec string, key []byte, newBlock func([]byte) (cipher.Block, error), blockSize int) (ivGen, error) {
	gen, arg, _ := strings.Cut(spec, ":")
	switch gen {
	case "plain":
		return ivPlain{}, nil
	case "plain64":
		return ivPlain64{}, nil
	case "plain64be":
		return ivPlain64BE{}, nil
	case "null":
		return ivNull{}, nil
	case "essiv":
		newHash := hashByName(arg)
		if newHash == nil {
			return nil, unsupported("ESSIV hash %q", arg)
		}
		h := newHash()
		h.Write(key)
		salt := h.Sum(nil)
		defer wipe(salt)
		b, err := newBlock(salt)
		if err != nil {
			return nil, unsupported("ESSIV hash %q gives a %d-byte key the cipher refuses", arg, len(salt))
		}
		if b.BlockSize() != blockSize {
			return nil, unsupported("ESSIV block size mismatch")
		}
		return ivESSIV{b}, nil
	}
	return nil, unsupported("IV generator %q (plain, plain64, plain64be, null and essiv are supported)", spec)
}

// decryptArea decrypts a keyslot area in place, sector by sector.
func decryptArea(c sectorCipher, buf []byte) {
	for i := 0; i+keyslotSectorSize <= len(buf); i += keyslotSectorSize {
		s := buf[i : i+keyslotSectorSize]
		c.decryptSector(s, s, uint64(i/keyslotSectorSize))
	}
}
