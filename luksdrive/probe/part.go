package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// maxPartEntries bounds the GPT entry array read (the usual table has 128).
const maxPartEntries = 1024

func probeGPT(r io.ReaderAt, size int64) (*Result, error) {
	// The header sits in LBA 1; try both logical sector sizes disks use.
	for _, ss := range []int64{512, 4096} {
		res, err := gptAt(r, size, ss)
		if err != nil || res != nil {
			return res, err
		}
	}
	return nil, nil
}

func gptAt(r io.ReaderAt, size, ss int64) (*Result, error) {
	hdr := make([]byte, 512)
	ok, err := readAt(r, size, hdr, ss)
	if err != nil || !ok {
		return nil, err
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, nil
	}
	hsize := binary.LittleEndian.Uint32(hdr[12:])
	if hsize < 92 || hsize > 512 {
		return nil, nil
	}
	// A stale GPT header left behind by a disk re-partitioned with MBR
	// tools must not win: check the CRC, as the kernel does.
	h := bytes.Clone(hdr[:hsize])
	want := binary.LittleEndian.Uint32(h[16:])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h) != want {
		return nil, nil
	}
	entLBA := binary.LittleEndian.Uint64(hdr[72:])
	num := binary.LittleEndian.Uint32(hdr[80:])
	esize := binary.LittleEndian.Uint32(hdr[84:])
	if num > maxPartEntries || esize < 128 || esize > 1024 || esize%8 != 0 || entLBA > uint64(1)<<40 {
		return nil, nil
	}
	ents := make([]byte, int(num)*int(esize))
	ok, err = readAt(r, size, ents, int64(entLBA)*ss)
	if err != nil || !ok {
		return nil, err
	}
	if crc32.ChecksumIEEE(ents) != binary.LittleEndian.Uint32(hdr[88:]) {
		return nil, nil
	}
	res := &Result{PTType: "gpt", PTUUID: guidString(hdr[56:72])}
	for i := 0; i < int(num); i++ {
		e := ents[i*int(esize) : (i+1)*int(esize)]
		if isZero(e[:16]) {
			continue
		}
		first := binary.LittleEndian.Uint64(e[32:])
		last := binary.LittleEndian.Uint64(e[40:])
		p := Partition{
			Number: i + 1,
			Type:   guidString(e[0:16]),
			UUID:   guidString(e[16:32]),
			Name:   utf16LE(e[56:128]),
		}
		if last >= first && last < uint64(1)<<40 {
			p.Start = int64(first) * ss
			p.Size = int64(last-first+1) * ss
		}
		res.Partitions = append(res.Partitions, p)
	}
	return res, nil
}

const maxLogical = 128

func probeMBR(r io.ReaderAt, size int64) (*Result, error) {
	mbr := make([]byte, 512)
	ok, err := readAt(r, size, mbr, 0)
	if err != nil || !ok {
		return nil, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, nil
	}
	ents, ok := mbrEntries(mbr)
	if !ok {
		return nil, nil
	}
	for _, e := range ents {
		if e.typ == 0xEE {
			// Protective MBR of a GPT disk whose GPT did not verify: not
			// a usable DOS table either.
			return nil, nil
		}
	}
	sig := binary.LittleEndian.Uint32(mbr[0x1B8:])
	res := &Result{PTType: "dos", PTUUID: fmt.Sprintf("%08x", sig)}
	add := func(n int, e mbrEntry, base int64) {
		res.Partitions = append(res.Partitions, Partition{
			Number: n,
			Start:  (base + int64(e.start)) * 512,
			Size:   int64(e.sectors) * 512,
			UUID:   fmt.Sprintf("%08x-%02x", sig, n),
			Type:   fmt.Sprintf("0x%x", e.typ),
		})
	}
	for i, e := range ents {
		if e.typ == 0 {
			continue
		}
		add(i+1, e, 0)
	}
	// Logical partitions hang off the first extended partition as a chain
	// of EBRs; the kernel numbers them from 5.
	for _, e := range ents {
		if e.typ != 0x05 && e.typ != 0x0F && e.typ != 0x85 {
			continue
		}
		ext := int64(e.start)
		ebr := ext
		n := 5
		seen := map[int64]bool{}
		for range maxLogical {
			if seen[ebr] {
				break
			}
			seen[ebr] = true
			buf := make([]byte, 512)
			ok, err := readAt(r, size, buf, ebr*512)
			if err != nil {
				return nil, err
			}
			if !ok || buf[510] != 0x55 || buf[511] != 0xAA {
				break
			}
			le, ok := mbrEntries(buf)
			if !ok {
				break
			}
			if le[0].typ != 0 && le[0].sectors != 0 {
				add(n, le[0], ebr)
				n++
			}
			if le[1].typ == 0 || le[1].start == 0 {
				break
			}
			ebr = ext + int64(le[1].start)
		}
		break
	}
	return res, nil
}

type mbrEntry struct {
	typ            byte
	start, sectors uint32
}

func mbrEntries(b []byte) ([4]mbrEntry, bool) {
	var ents [4]mbrEntry
	for i := range ents {
		e := b[446+16*i : 446+16*(i+1)]
		if e[0] != 0 && e[0] != 0x80 {
			return ents, false
		}
		ents[i] = mbrEntry{typ: e[4], start: binary.LittleEndian.Uint32(e[8:]), sectors: binary.LittleEndian.Uint32(e[12:])}
	}
	return ents, true
}
