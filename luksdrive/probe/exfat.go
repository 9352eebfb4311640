package probe

import (
	"encoding/binary"
	"fmt"
	"io"
)

func probeExFAT(r io.ReaderAt, size int64) (*Result, error) {
	bs := make([]byte, 512)
	ok, err := readAt(r, size, bs, 0)
	if err != nil || !ok {
		return nil, err
	}
	if string(bs[3:11]) != "EXFAT   " || !isZero(bs[11:64]) {
		return nil, nil
	}
	sectorShift, clusterShift := uint(bs[0x6C]), uint(bs[0x6D])
	if sectorShift < 9 || sectorShift > 12 || sectorShift+clusterShift > 25 {
		return nil, nil
	}
	id := binary.LittleEndian.Uint32(bs[0x64:])
	res := &Result{
		Type:    "exfat",
		UUID:    fmt.Sprintf("%04X-%04X", id>>16, id&0xFFFF),
		Version: fmt.Sprintf("%d.%d", bs[0x69], bs[0x68]),
	}
	heap := int64(binary.LittleEndian.Uint32(bs[0x58:])) << sectorShift
	root := int64(binary.LittleEndian.Uint32(bs[0x60:]))
	clusterSize := int64(1) << (sectorShift + clusterShift)
	if root < 2 {
		return res, nil
	}
	// The label is a directory entry of type 0x83 in the root directory.
	// Only the first cluster is read: exFAT formatters put the label there.
	buf := make([]byte, min(clusterSize, maxDirRead))
	ok, err = readAt(r, size, buf, heap+(root-2)*clusterSize)
	if err != nil || !ok {
		return res, err
	}
	for i := 0; i+32 <= len(buf); i += 32 {
		e := buf[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0x83 {
			n := min(int(e[1]), 11)
			res.Label = utf16LE(e[2 : 2+2*n])
			break
		}
	}
	return res, nil
}
