package probe

import (
	"encoding/binary"
	"io"
)

func probeXFS(r io.ReaderAt, size int64) (*Result, error) {
	sb := make([]byte, 512)
	ok, err := readAt(r, size, sb, 0)
	if err != nil || !ok {
		return nil, err
	}
	if string(sb[0:4]) != "XFSB" {
		return nil, nil
	}
	// The magic alone is four ASCII bytes; the geometry check keeps random
	// data that happens to start with "XFSB" from being taken for XFS.
	blockSize := binary.BigEndian.Uint32(sb[4:])
	sectSize := binary.BigEndian.Uint16(sb[102:])
	if !pow2In(uint64(blockSize), 512, 65536) || !pow2In(uint64(sectSize), 512, 32768) {
		return nil, nil
	}
	res := &Result{Type: "xfs", Label: cString(sb[108:120])}
	if !isZero(sb[32:48]) {
		res.UUID = uuidString(sb[32:48])
	}
	return res, nil
}

func pow2In(v, lo, hi uint64) bool {
	return v >= lo && v <= hi && v&(v-1) == 0
}
