package probe

import "io"

const btrfsSuperOffset = 0x10000

func probeBtrfs(r io.ReaderAt, size int64) (*Result, error) {
	sb := make([]byte, 0x22B)
	ok, err := readAt(r, size, sb, btrfsSuperOffset)
	if err != nil || !ok {
		return nil, err
	}
	if string(sb[0x40:0x48]) != "_BHRfS_M" {
		return nil, nil
	}
	res := &Result{Type: "btrfs", Label: cString(sb[0x12B:0x22B])}
	if !isZero(sb[0x20:0x30]) {
		res.UUID = uuidString(sb[0x20:0x30])
	}
	return res, nil
}
