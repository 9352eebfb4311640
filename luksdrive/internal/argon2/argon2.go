// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package argon2 is golang.org/x/crypto/argon2 (Argon2i and Argon2id,
// version 0x13, RFC 9106) reshaped for unlocking LUKS2 keyslots:
//
//   - the block memory comes from one anonymous mmap with MADV_HUGEPAGE
//     instead of the Go heap, so filling 1 GiB takes ~512 page faults
//     rather than ~262,000, the GC never scans or retains it, and it is
//     returned to the kernel as soon as the key is out;
//   - a Workspace keeps that mapping across calls, so trying several
//     keyslots with the same cost does not map and fault it again;
//   - derivation polls a context between slices;
//   - errors instead of panics for bad parameters (headers are untrusted).
//
// The block function and its assembly are x/crypto's, unchanged.
package argon2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Version is the Argon2 version implemented (1.3), the only one LUKS2 uses.
const Version = 0x13

// Mode selects the Argon2 variant.
type Mode int

// The numbering is Argon2's own type field (it is hashed into H0).
const (
	ModeI  Mode = 1
	ModeID Mode = 2
)

const (
	argon2i  = int(ModeI)
	argon2id = int(ModeID)
)

// Workspace owns the block memory of successive derivations. The zero
// value is ready; Close returns the memory. Not safe for concurrent use.
type Workspace struct {
	mem *arena
}

// Close unmaps the block memory. The Workspace stays usable.
func (w *Workspace) Close() error {
	if w.mem == nil {
		return nil
	}
	err := w.mem.free()
	w.mem = nil
	return err
}

// Key derives keyLen bytes from password and salt with a fresh Workspace
// that is released before returning. The caller owns the returned key.
func Key(ctx context.Context, mode Mode, password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) ([]byte, error) {
	var w Workspace
	defer w.Close()
	return w.Key(ctx, mode, password, salt, time, memory, threads, keyLen)
}

// Key derives keyLen bytes; memory is in KiB as in LUKS2 headers. The
// caller owns the returned key.
func (w *Workspace) Key(ctx context.Context, mode Mode, password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) ([]byte, error) {
	if mode != ModeI && mode != ModeID {
		return nil, fmt.Errorf("argon2: unknown mode %d", mode)
	}
	if time < 1 {
		return nil, errors.New("argon2: number of rounds too small")
	}
	if threads < 1 {
		return nil, errors.New("argon2: parallelism degree too low")
	}
	if keyLen < 4 {
		return nil, errors.New("argon2: key length too short")
	}
	h0 := initHash(password, salt, nil, nil, time, memory, uint32(threads), keyLen, int(mode))
	defer clear(h0[:])

	memory = memory / (syncPoints * uint32(threads)) * (syncPoints * uint32(threads))
	if memory < 2*syncPoints*uint32(threads) {
		memory = 2 * syncPoints * uint32(threads)
	}
	if w.mem == nil || len(w.mem.blocks) < int(memory) {
		if w.mem != nil {
			w.mem.free()
			w.mem = nil
		}
		m, err := newArena(int(memory))
		if err != nil {
			return nil, fmt.Errorf("argon2: allocating %d KiB: %w", memory, err)
		}
		w.mem = m
	}
	B := w.mem.blocks[:memory]
	initBlocks(B, &h0, memory, uint32(threads))
	if err := processBlocks(ctx, B, time, memory, uint32(threads), int(mode)); err != nil {
		return nil, err
	}
	return extractKey(B, memory, uint32(threads), keyLen), nil
}

const (
	blockLength = 128
	syncPoints  = 4
)

type block [blockLength]uint64

func initHash(password, salt, key, data []byte, time, memory, threads, keyLen uint32, mode int) [blake2b.Size + 8]byte {
	var (
		h0     [blake2b.Size + 8]byte
		params [24]byte
		tmp    [4]byte
	)

	b2, _ := blake2b.New512(nil)
	binary.LittleEndian.PutUint32(params[0:4], threads)
	binary.LittleEndian.PutUint32(params[4:8], keyLen)
	binary.LittleEndian.PutUint32(params[8:12], memory)
	binary.LittleEndian.PutUint32(params[12:16], time)
	binary.LittleEndian.PutUint32(params[16:20], uint32(Version))
	binary.LittleEndian.PutUint32(params[20:24], uint32(mode))
	b2.Write(params[:])
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(password)))
	b2.Write(tmp[:])
	b2.Write(password)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(salt)))
	b2.Write(tmp[:])
	b2.Write(salt)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(key)))
	b2.Write(tmp[:])
	b2.Write(key)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(data)))
	b2.Write(tmp[:])
	b2.Write(data)
	b2.Sum(h0[:0])
	return h0
}

// initBlocks writes the first two blocks of each lane. Every other block
// is fully overwritten in the first pass before it is read, so reused
// memory needs no clearing.
func initBlocks(B []block, h0 *[blake2b.Size + 8]byte, memory, threads uint32) {
	var block0 [1024]byte
	defer clear(block0[:])
	for lane := uint32(0); lane < threads; lane++ {
		j := lane * (memory / threads)
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 0)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+0] {
			B[j+0][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 1)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+1] {
			B[j+1][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}
	}
}

func processBlocks(ctx context.Context, B []block, time, memory, threads uint32, mode int) error {
	lanes := memory / threads
	segments := lanes / syncPoints

	processSegment := func(n, slice, lane uint32, wg *sync.WaitGroup) {
		var addresses, in, zero block
		if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
			in[0] = uint64(n)
			in[1] = uint64(lane)
			in[2] = uint64(slice)
			in[3] = uint64(memory)
			in[4] = uint64(time)
			in[5] = uint64(mode)
		}

		index := uint32(0)
		if n == 0 && slice == 0 {
			index = 2 // we have already generated the first two blocks
			if mode == argon2i || mode == argon2id {
				in[6]++
				processBlock(&addresses, &in, &zero)
				processBlock(&addresses, &addresses, &zero)
			}
		}

		offset := lane*lanes + slice*segments + index
		var random uint64
		for index < segments {
			prev := offset - 1
			if index == 0 && slice == 0 {
				prev += lanes // last block in lane
			}
			if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
				if index%blockLength == 0 {
					in[6]++
					processBlock(&addresses, &in, &zero)
					processBlock(&addresses, &addresses, &zero)
				}
				random = addresses[index%blockLength]
			} else {
				random = B[prev][0]
			}
			newOffset := indexAlpha(random, lanes, segments, threads, n, slice, lane, index)
			// Argon2 1.3 overwrites in the first pass and XORs after;
			// x/crypto XORs always, which is only right on zeroed memory,
			// and a reused Workspace is not zeroed.
			if n == 0 {
				processBlock(&B[offset], &B[prev], &B[newOffset])
			} else {
				processBlockXOR(&B[offset], &B[prev], &B[newOffset])
			}
			index, offset = index+1, offset+1
		}
		wg.Done()
	}

	for n := uint32(0); n < time; n++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			var wg sync.WaitGroup
			for lane := uint32(0); lane < threads; lane++ {
				wg.Add(1)
				go processSegment(n, slice, lane, &wg)
			}
			wg.Wait()
		}
	}
	return nil
}

func extractKey(B []block, memory, threads, keyLen uint32) []byte {
	lanes := memory / threads
	for lane := uint32(0); lane < threads-1; lane++ {
		for i, v := range B[(lane*lanes)+lanes-1] {
			B[memory-1][i] ^= v
		}
	}

	var block [1024]byte
	defer clear(block[:])
	for i, v := range B[memory-1] {
		binary.LittleEndian.PutUint64(block[i*8:], v)
	}
	key := make([]byte, keyLen)
	blake2bHash(key, block[:])
	return key
}

func indexAlpha(rand uint64, lanes, segments, threads, n, slice, lane, index uint32) uint32 {
	refLane := uint32(rand>>32) % threads
	if n == 0 && slice == 0 {
		refLane = lane
	}
	m, s := 3*segments, ((slice+1)%syncPoints)*segments
	if lane == refLane {
		m += index
	}
	if n == 0 {
		m, s = slice*segments, 0
		if slice == 0 || lane == refLane {
			m += index
		}
	}
	if index == 0 || lane == refLane {
		m--
	}
	return phi(rand, uint64(m), uint64(s), refLane, lanes)
}

func phi(rand, m, s uint64, lane, lanes uint32) uint32 {
	p := rand & 0xFFFFFFFF
	p = (p * p) >> 32
	p = (p * m) >> 32
	return lane*lanes + uint32((s+m-(p+1))%uint64(lanes))
}
