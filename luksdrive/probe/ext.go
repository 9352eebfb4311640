package probe

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

const (
	extSuperOffset = 1024
	extMagic       = 0xEF53

	extCompatHasJournal    = 0x0004
	extIncompatJournalDev  = 0x0008
	ext2IncompatSupported  = 0x0002 | 0x0010          // filetype, meta_bg
	ext3IncompatSupported  = 0x0002 | 0x0004 | 0x0010 // + recover
	ext23RoCompatSupported = 0x0001 | 0x0002 | 0x0004 // sparse_super, large_file, btree_dir
)

// probeExt follows blkid's naming: a filesystem is ext2 or ext3 only while
// it uses no feature those drivers lack; anything newer is ext4, journal or
// not.
func probeExt(r io.ReaderAt, size int64) (*Result, error) {
	sb := make([]byte, 1024)
	ok, err := readAt(r, size, sb, extSuperOffset)
	if err != nil || !ok {
		return nil, err
	}
	if binary.LittleEndian.Uint16(sb[0x38:]) != extMagic {
		return nil, nil
	}
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	roCompat := binary.LittleEndian.Uint32(sb[0x64:])
	res := &Result{
		UUID:    uuidString(sb[0x68:0x78]),
		Label:   strings.TrimRight(cString(sb[0x78:0x88]), " "),
		Version: fmt.Sprintf("%d.%d", binary.LittleEndian.Uint32(sb[0x4C:]), binary.LittleEndian.Uint16(sb[0x3E:])),
	}
	roNew := roCompat&^ext23RoCompatSupported != 0
	switch {
	case incompat&extIncompatJournalDev != 0:
		res.Type = "jbd"
	case compat&extCompatHasJournal != 0 && !roNew && incompat&^ext3IncompatSupported == 0:
		res.Type = "ext3"
	case compat&extCompatHasJournal == 0 && !roNew && incompat&^ext2IncompatSupported == 0:
		res.Type = "ext2"
	default:
		res.Type = "ext4"
	}
	if isZero(sb[0x68:0x78]) {
		res.UUID = ""
	}
	return res, nil
}
