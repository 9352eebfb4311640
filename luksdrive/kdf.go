package luksdrive

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // LUKS1 volumes from cryptsetup 1.x use it

	"github.com/extdrive/extdrive/luksdrive/internal/argon2"
)

// hashByName maps cryptsetup's hash names to constructors; nil if unknown.
func hashByName(name string) func() hash.Hash {
	switch name {
	case "sha1":
		return sha1.New
	case "sha224":
		return sha256.New224
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	case "ripemd160":
		return ripemd160.New
	}
	return nil
}

// pbkdf2Key is PBKDF2 (RFC 8018) over a []byte password. The standard
// library's crypto/pbkdf2 takes the password as a string, which would
// leave an immutable copy of the key on the heap; this keeps it in bytes
// the caller can wipe. The context is polled so a cancelled unlock does
// not finish a multi-second derivation. The caller owns the result.
func pbkdf2Key(ctx context.Context, newHash func() hash.Hash, password, salt []byte, iter, keyLen int) ([]byte, error) {
	prf := hmac.New(newHash, password)
	hLen := prf.Size()
	blocks := (keyLen + hLen - 1) / hLen
	dk := make([]byte, 0, blocks*hLen)
	u := make([]byte, 0, hLen)
	defer func() { wipe(u[:cap(u)]) }()
	var ctr [4]byte
	for block := 1; block <= blocks; block++ {
		prf.Reset()
		prf.Write(salt)
		binary.BigEndian.PutUint32(ctr[:], uint32(block))
		prf.Write(ctr[:])
		dk = prf.Sum(dk)
		t := dk[len(dk)-hLen:]
		u = append(u[:0], t...)
		for n := 2; n <= iter; n++ {
			if n&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					wipe(dk[:cap(dk)])
					return nil, err
				}
			}
			prf.Reset()
			prf.Write(u)
			u = prf.Sum(u[:0])
			subtle.XORBytes(t, t, u)
		}
	}
	return dk[:keyLen], nil
}

// deriveKey runs the keyslot's KDF over the passphrase. The caller owns
// the returned key and wipes it.
// ws holds the argon2 memory across keyslots; nil uses a fresh one.
func deriveKey(ctx context.Context, p kdfParams, pass []byte, keyLen int, ws *argon2.Workspace) ([]byte, error) {
	switch p.typ {
	case "pbkdf2":
		h := hashByName(p.hash)
		if h == nil {
			return nil, unsupported("pbkdf2 hash %q", p.hash)
		}
		return pbkdf2Key(ctx, h, pass, p.salt, p.iterations, keyLen)
	case "argon2i", "argon2id":
		mode := argon2.ModeI
		if p.typ == "argon2id" {
			mode = argon2.ModeID
		}
		if ws == nil {
			return argon2.Key(ctx, mode, pass, p.salt, p.time, p.memory, uint8(p.cpus), uint32(keyLen))
		}
		return ws.Key(ctx, mode, pass, p.salt, p.time, p.memory, uint8(p.cpus), uint32(keyLen))
	}
	return nil, unsupported("kdf %q", p.typ)
}

// afMerge undoes LUKS's anti-forensic split (AFsplitter.c): the key is
// spread over stripes blocks so that destroying any one block of the
// keyslot area destroys the key. The caller owns the result.
func afMerge(src []byte, keySize, stripes int, newHash func() hash.Hash) []byte {
	buf := make([]byte, keySize)
	h := newHash()
	for i := 0; i < stripes-1; i++ {
		subtle.XORBytes(buf, buf, src[i*keySize:(i+1)*keySize])
		diffuse(buf, h)
	}
	subtle.XORBytes(buf, buf, src[(stripes-1)*keySize:stripes*keySize])
	return buf
}

// diffuse replaces each hash-sized block of b with H(be32(index) || block),
// truncating the last one.
func diffuse(b []byte, h hash.Hash) {
	ds := h.Size()
	var ctr [4]byte
	sum := make([]byte, 0, ds)
	for i := 0; i*ds < len(b); i++ {
		end := min((i+1)*ds, len(b))
		h.Reset()
		binary.BigEndian.PutUint32(ctr[:], uint32(i))
		h.Write(ctr[:])
		h.Write(b[i*ds : end])
		sum = h.Sum(sum[:0])
		copy(b[i*ds:end], sum)
	}
	wipe(sum[:cap(sum)])
}
