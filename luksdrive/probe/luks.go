package probe

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

var (
	luksMagic  = []byte("LUKS\xba\xbe")
	luks2Magic = []byte("SKUL\xba\xbe") // LUKS2 secondary header
)

// LUKS2 keeps a second binary header at one of these offsets, chosen by the
// metadata size. When the primary is wiped (a stray dd, a crashed resize)
// blkid still finds the volume through the secondary, and so must we.
var luks2SecondaryOffsets = []int64{
	0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
}

func probeLUKS(r io.ReaderAt, size int64) (*Result, error) {
	hdr := make([]byte, 512)
	ok, err := readAt(r, size, hdr, 0)
	if err != nil {
		return nil, err
	}
	if ok && bytes.Equal(hdr[:6], luksMagic) {
		return parseLUKS(hdr), nil
	}
	for _, off := range luks2SecondaryOffsets {
		ok, err := readAt(r, size, hdr, off)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if bytes.Equal(hdr[:6], luks2Magic) && binary.BigEndian.Uint16(hdr[6:]) == 2 &&
			binary.BigEndian.Uint64(hdr[256:]) == uint64(off) {
			return parseLUKS(hdr), nil
		}
	}
	return nil, nil
}

func parseLUKS(hdr []byte) *Result {
	v := binary.BigEndian.Uint16(hdr[6:])
	res := &Result{
		Type:    "crypto_LUKS",
		Version: strconv.Itoa(int(v)),
		UUID:    strings.TrimSpace(cString(hdr[168:208])),
	}
	if v == 2 {
		res.Label = cString(hdr[24:72])
		res.Subsystem = cString(hdr[208:256])
	}
	return res
}
