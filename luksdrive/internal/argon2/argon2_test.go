package argon2

import (
	"bytes"
	"context"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

// TestMatchesXCrypto checks every mode against x/crypto, the reference this
// package was derived from, including a reused Workspace holding the
// previous derivation's blocks (which must not leak into the next one).
func TestMatchesXCrypto(t *testing.T) {
	ctx := context.Background()
	var w Workspace
	defer w.Close()
	for _, tc := range []struct {
		mode          Mode
		time, mem     uint32
		threads       uint8
		keyLen        uint32
		pass, saltStr string
	}{
		{ModeID, 1, 64, 1, 32, "password", "somesaltsomesalt"},
		{ModeID, 3, 1024, 4, 64, "correct horse", "0123456789abcdef"},
		{ModeI, 2, 512, 2, 32, "x", "saltsaltsaltsalt"},
		{ModeI, 4, 4096, 4, 16, "", "another salt...."},
		{ModeID, 1, 33, 1, 32, "odd memory", "saltsaltsaltsalt"},
		{ModeID, 2, 256, 3, 32, "three lanes", "saltsaltsaltsalt"},
	} {
		var want []byte
		if tc.mode == ModeID {
			want = xargon2.IDKey([]byte(tc.pass), []byte(tc.saltStr), tc.time, tc.mem, tc.threads, tc.keyLen)
		} else {
			want = xargon2.Key([]byte(tc.pass), []byte(tc.saltStr), tc.time, tc.mem, tc.threads, tc.keyLen)
		}
		got, err := w.Key(ctx, tc.mode, []byte(tc.pass), []byte(tc.saltStr), tc.time, tc.mem, tc.threads, tc.keyLen)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("mode %d t=%d m=%d p=%d: got %x, want %x", tc.mode, tc.time, tc.mem, tc.threads, got, want)
		}
		fresh, err := Key(ctx, tc.mode, []byte(tc.pass), []byte(tc.saltStr), tc.time, tc.mem, tc.threads, tc.keyLen)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, want) {
			t.Errorf("fresh workspace mode %d: got %x, want %x", tc.mode, fresh, want)
		}
	}
}

// TestRFC9106 checks the Argon2id test vector of RFC 9106 section 5.3
// (secret and associated data set), which exercises initHash fully.
func TestRFC9106(t *testing.T) {
	pass := bytes.Repeat([]byte{1}, 32)
	salt := bytes.Repeat([]byte{2}, 16)
	secret := bytes.Repeat([]byte{3}, 8)
	ad := bytes.Repeat([]byte{4}, 12)
	h0 := initHash(pass, salt, secret, ad, 3, 32, 4, 32, argon2id)
	var w Workspace
	defer w.Close()
	m, err := newArena(32)
	if err != nil {
		t.Fatal(err)
	}
	w.mem = m
	B := w.mem.blocks[:32]
	initBlocks(B, &h0, 32, 4)
	if err := processBlocks(context.Background(), B, 3, 32, 4, argon2id); err != nil {
		t.Fatal(err)
	}
	got := extractKey(B, 32, 4, 32)
	want := []byte{
		0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
		0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59,
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

func TestBadParams(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		mode    Mode
		time    uint32
		threads uint8
		keyLen  uint32
	}{
		{"mode", 0, 1, 1, 32},
		{"time", ModeID, 0, 1, 32},
		{"threads", ModeID, 1, 0, 32},
		{"keylen", ModeID, 1, 1, 3},
	} {
		if _, err := Key(ctx, tc.mode, nil, nil, tc.time, 64, tc.threads, tc.keyLen); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Key(ctx, ModeID, []byte("p"), []byte("saltsaltsaltsalt"), 1, 1024, 1, 32); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func BenchmarkIDKey64MiB(b *testing.B) {
	ctx := context.Background()
	var w Workspace
	defer w.Close()
	for b.Loop() {
		if _, err := w.Key(ctx, ModeID, []byte("password"), []byte("saltsaltsaltsalt"), 1, 64<<10, 2, 32); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXCryptoIDKey64MiB(b *testing.B) {
	for b.Loop() {
		xargon2.IDKey([]byte("password"), []byte("saltsaltsaltsalt"), 1, 64<<10, 2, 32)
	}
}
