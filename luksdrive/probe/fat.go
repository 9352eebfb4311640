package probe

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// maxDirRead bounds how much of a root directory is scanned for the volume
// label, so a corrupt geometry cannot make the probe read gigabytes.
const maxDirRead = 1 << 20

type fatBPB struct {
	bytesPerSector    uint32
	sectorsPerCluster uint32
	reserved          uint32
	numFATs           uint32
	rootEntries       uint32
	totalSectors      uint32
	fatSize           uint32
	rootCluster       uint32
	fat32             bool
}

func parseFATBPB(bs []byte) (*fatBPB, bool) {
	if bs[0] != 0xEB && bs[0] != 0xE9 {
		return nil, false
	}
	b := &fatBPB{
		bytesPerSector:    uint32(binary.LittleEndian.Uint16(bs[11:])),
		sectorsPerCluster: uint32(bs[13]),
		reserved:          uint32(binary.LittleEndian.Uint16(bs[14:])),
		numFATs:           uint32(bs[16]),
		rootEntries:       uint32(binary.LittleEndian.Uint16(bs[17:])),
		totalSectors:      uint32(binary.LittleEndian.Uint16(bs[19:])),
		fatSize:           uint32(binary.LittleEndian.Uint16(bs[22:])),
	}
	media := bs[21]
	if !pow2In(uint64(b.bytesPerSector), 512, 4096) || !pow2In(uint64(b.sectorsPerCluster), 1, 128) ||
		b.reserved == 0 || b.numFATs == 0 || (media != 0xF0 && media < 0xF8) {
		return nil, false
	}
	if b.totalSectors == 0 {
		b.totalSectors = binary.LittleEndian.Uint32(bs[32:])
	}
	if b.fatSize == 0 {
		b.fat32 = true
		b.fatSize = binary.LittleEndian.Uint32(bs[36:])
		b.rootCluster = binary.LittleEndian.Uint32(bs[44:])
	}
	if b.fatSize == 0 || b.totalSectors == 0 {
		return nil, false
	}
	return b, true
}

func probeFAT(r io.ReaderAt, size int64) (*Result, error) {
	bs := make([]byte, 512)
	ok, err := readAt(r, size, bs, 0)
	if err != nil || !ok {
		return nil, err
	}
	if bs[510] != 0x55 || bs[511] != 0xAA {
		return nil, nil
	}
	b, ok := parseFATBPB(bs)
	if !ok {
		return nil, nil
	}
	// The BPB fields at 0x24.. differ between FAT32 and FAT12/16; the FAT
	// type string is only a hint, the layout is decided by fatSize16 as the
	// kernel's vfat driver does.
	var idOff, labelOff int
	if b.fat32 {
		idOff, labelOff = 0x43, 0x47
	} else {
		idOff, labelOff = 0x27, 0x2B
	}
	res := &Result{Type: "vfat"}
	rootDirSectors := (b.rootEntries*32 + b.bytesPerSector - 1) / b.bytesPerSector
	meta := uint64(b.reserved) + uint64(b.numFATs)*uint64(b.fatSize) + uint64(rootDirSectors)
	switch {
	case b.fat32:
		res.Version = "FAT32"
	case uint64(b.totalSectors) > meta && (uint64(b.totalSectors)-meta)/uint64(b.sectorsPerCluster) < 4085:
		res.Version = "FAT12"
	default:
		res.Version = "FAT16"
	}
	// Volume id and label in the boot sector are valid only with the
	// extended boot signature.
	if sig := bs[idOff-1]; sig == 0x29 || sig == 0x28 {
		id := binary.LittleEndian.Uint32(bs[idOff:])
		res.UUID = fmt.Sprintf("%04X-%04X", id>>16, id&0xFFFF)
	}
	bootLabel := fatLabel(bs[labelOff : labelOff+11])

	// Like blkid, prefer the label in the root directory: that is the one
	// Windows and mlabel change, the boot sector copy often goes stale.
	var dirOff, dirLen int64
	if b.fat32 {
		dataStart := int64(b.reserved+b.numFATs*b.fatSize) * int64(b.bytesPerSector)
		if b.rootCluster >= 2 {
			dirOff = dataStart + int64(b.rootCluster-2)*int64(b.sectorsPerCluster)*int64(b.bytesPerSector)
			dirLen = int64(b.sectorsPerCluster) * int64(b.bytesPerSector)
		}
	} else {
		dirOff = int64(b.reserved+b.numFATs*b.fatSize) * int64(b.bytesPerSector)
		dirLen = int64(b.rootEntries) * 32
	}
	label, found, err := fatDirLabel(r, size, dirOff, dirLen)
	if err != nil {
		return nil, err
	}
	if found {
		res.Label = label
	} else {
		res.Label = bootLabel
	}
	return res, nil
}

func fatLabel(b []byte) string {
	s := strings.TrimRight(cString(b), " ")
	if s == "NO NAME" {
		return ""
	}
	return s
}

func fatDirLabel(r io.ReaderAt, size, off, n int64) (string, bool, error) {
	if n <= 0 || off <= 0 {
		return "", false, nil
	}
	n = min(n, maxDirRead)
	buf := make([]byte, n)
	ok, err := readAt(r, size, buf, off)
	if err != nil || !ok {
		return "", false, err
	}
	for i := 0; i+32 <= len(buf); i += 32 {
		e := buf[i : i+32]
		if e[0] == 0 {
			break
		}
		attr := e[11]
		if e[0] == 0xE5 || attr&0x0F == 0x0F || attr&0x08 == 0 {
			continue
		}
		return fatLabel(e[:11]), true, nil
	}
	return "", false, nil
}
