package luksdrive

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding"
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
// leave an immutable copy of the key on the heap, and crypto/hmac keeps
// the padded key's hash states where nothing can wipe them (they unlock
// the keyslot as well as the passphrase does). This HMAC keeps its pads
// and saved states in buffers it wipes, and resets the hashes' own state
// before returning. The context is polled so a cancelled unlock does not
// finish a multi-second derivation. The caller owns the result.
func pbkdf2Key(ctx context.Context, newHash func() hash.Hash, password, salt []byte, iter, keyLen int) ([]byte, error) {
	m := newHMAC(newHash, password)
	defer m.wipe()
	hLen := m.size()
	blocks := (keyLen + hLen - 1) / hLen
	dk := make([]byte, 0, blocks*hLen)
	u := make([]byte, 0, hLen)
	defer func() { wipe(u[:cap(u)]) }()
	var ctr [4]byte
	for block := 1; block <= blocks; block++ {
		binary.BigEndian.PutUint32(ctr[:], uint32(block))
		dk = m.sum(dk, salt, ctr[:])
		t := dk[len(dk)-hLen:]
		u = append(u[:0], t...)
		for n := 2; n <= iter; n++ {
			if n&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					wipe(dk[:cap(dk)])
					return nil, err
				}
			}
			u = m.sum(u[:0], u)
			subtle.XORBytes(t, t, u)
		}
	}
	return dk[:keyLen], nil
}

// hmacState is HMAC (RFC 2104) with every key-derived byte in memory it
// owns: the pads, the hash states saved after them, the inner digest.
type hmacState struct {
	inner, outer   hash.Hash
	pads           []byte // ipad | opad
	istate, ostate []byte // saved states after the pads; nil if the hash cannot save them
	ibuf           []byte
}

type stateHash interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

func newHMAC(newHash func() hash.Hash, key []byte) *hmacState {
	m := &hmacState{inner: newHash(), outer: newHash()}
	bs := m.inner.BlockSize()
	m.pads = make([]byte, 2*bs)
	if len(key) > bs {
		m.inner.Write(key)
		sum := m.inner.Sum(nil)
		copy(m.pads, sum)
		wipe(sum)
		m.inner.Reset()
	} else {
		copy(m.pads, key)
	}
	copy(m.pads[bs:], m.pads[:bs])
	for i := range bs {
		m.pads[i] ^= 0x36
		m.pads[bs+i] ^= 0x5c
	}
	m.ibuf = make([]byte, 0, m.inner.Size())
	// Saving the states after the pads halves the compressions per HMAC,
	// as crypto/hmac does (every hash here but RIPEMD-160 can).
	ish, iok := m.inner.(stateHash)
	osh, ook := m.outer.(stateHash)
	if iok && ook {
		m.inner.Write(m.pads[:bs])
		m.outer.Write(m.pads[bs:])
		var err1, err2 error
		m.istate, err1 = ish.MarshalBinary()
		m.ostate, err2 = osh.MarshalBinary()
		if err1 != nil || err2 != nil {
			wipe(m.istate)
			wipe(m.ostate)
			m.istate, m.ostate = nil, nil
		}
	}
	return m
}

func (m *hmacState) size() int { return m.inner.Size() }

// hmacStart puts h in its state after pad.
func hmacStart(h hash.Hash, pad, state []byte) {
	if state != nil {
		if h.(stateHash).UnmarshalBinary(state) == nil {
			return
		}
	}
	h.Reset()
	h.Write(pad)
}

// sum appends HMAC(key, msg...) to dst.
func (m *hmacState) sum(dst []byte, msg ...[]byte) []byte {
	bs := m.inner.BlockSize()
	hmacStart(m.inner, m.pads[:bs], m.istate)
	for _, p := range msg {
		m.inner.Write(p)
	}
	m.ibuf = m.inner.Sum(m.ibuf[:0])
	hmacStart(m.outer, m.pads[bs:], m.ostate)
	m.outer.Write(m.ibuf)
	return m.outer.Sum(dst)
}

// wipe clears the pads, the saved states and the inner digest, and leaves
// both hashes in their initial state with a zeroed block buffer.
func (m *hmacState) wipe() {
	wipe(m.pads)
	wipe(m.istate)
	wipe(m.ostate)
	wipe(m.ibuf[:cap(m.ibuf)])
	for _, h := range []hash.Hash{m.inner, m.outer} {
		h.Reset()
		// One byte, then the rest of a block: the hashes buffer partial
		// blocks, and this overwrites the whole buffer with zeros.
		zero := make([]byte, h.BlockSize())
		h.Write(zero[:1])
		h.Write(zero[1:])
		h.Reset()
	}
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
