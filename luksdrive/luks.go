package luksdrive

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/extdrive/extdrive/luksdrive/internal/argon2"
)

// errKeyMismatch is a keyslot that decrypted but whose digest did not
// match: the key is wrong for that slot (internal; Unlock returns
// ErrWrongKey once no slot is left).
var errKeyMismatch = errors.New("key does not match keyslot")

// openKeyslot derives the keyslot key from pass, decrypts the keyslot
// area read from r, merges the anti-forensic stripes and checks the
// volume key against the digest. The caller owns the returned volume key
// and wipes it.
//
// ws, if not nil, keeps argon2 memory mapped for the next keyslot.
func openKeyslot(ctx context.Context, r io.ReaderAt, ks *keyslot, pass []byte, ws *argon2.Workspace) ([]byte, error) {
	if ks.digest == nil {
		return nil, corrupt("keyslot %d has no digest", ks.id)
	}
	afHash := hashByName(ks.afHash)
	if afHash == nil {
		return nil, unsupported("anti-forensic hash %q in keyslot %d", ks.afHash, ks.id)
	}
	digHash := hashByName(ks.digest.hash)
	if digHash == nil {
		return nil, unsupported("digest hash %q", ks.digest.hash)
	}
	// Fail on the cipher before paying for the KDF.
	if _, _, _, err := parseCipherSpec(ks.areaCipher); err != nil {
		return nil, err
	}
	area := make([]byte, roundUp(int64(ks.keySize)*int64(ks.afStripes), keyslotSectorSize))
	defer wipe(area)
	if n, err := r.ReadAt(area, ks.areaOffset); n != len(area) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, corrupt("keyslot %d area at %d truncated", ks.id, ks.areaOffset)
		}
		return nil, fmt.Errorf("read keyslot %d: %w", ks.id, err)
	}

	slotKey, err := deriveKey(ctx, ks.kdf, pass, ks.areaKeySize, ws)
	if err != nil {
		return nil, err
	}
	defer wipe(slotKey)
	c, err := newSectorCipher(ks.areaCipher, slotKey)
	if err != nil {
		return nil, err
	}
	decryptArea(c, area)

	vk := afMerge(area, ks.keySize, ks.afStripes, afHash)
	if err := checkDigest(ctx, ks.digest, digHash, vk); err != nil {
		wipe(vk)
		return nil, err
	}
	return vk, nil
}

func checkDigest(ctx context.Context, d *digestParams, h func() hash.Hash, vk []byte) error {
	sum, err := pbkdf2Key(ctx, h, vk, d.salt, d.iterations, len(d.digest))
	if err != nil {
		return err
	}
	defer wipe(sum)
	if subtle.ConstantTimeCompare(sum, d.digest) != 1 {
		return errKeyMismatch
	}
	return nil
}
