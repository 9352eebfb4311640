package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf16"
)

// ErrUnknown is returned when no probe recognises the content.
var ErrUnknown = errors.New("no known filesystem, LUKS header or partition table")

// Result describes what was found on a device or image. Field names and
// value formats follow blkid's export output (TYPE, UUID, LABEL, VERSION),
// so values can be compared with what users copy from blkid or crypttab.
type Result struct {
	Type      string // "crypto_LUKS", "ext4", "vfat", "exfat", "btrfs", "xfs", or "" for a bare partition table
	UUID      string // LUKS UUID, filesystem UUID, or FAT/exFAT volume id as XXXX-XXXX
	Label     string // filesystem label; LUKS2 label
	Version   string // "1"/"2" for LUKS, "FAT12"/"FAT16"/"FAT32" for vfat, "1.0" for ext*
	Subsystem string // LUKS2 subsystem

	// PTType is "gpt" or "dos" when a partition table was found; PTUUID is
	// the GPT disk GUID or the MBR disk signature as 8 hex digits.
	PTType     string
	PTUUID     string
	Partitions []Partition
}

// Partition is one entry of a partition table.
type Partition struct {
	Number int    // 1-based, as the kernel numbers it (sda1, sda2, ...)
	Start  int64  // byte offset from the start of the disk
	Size   int64  // bytes
	UUID   string // PARTUUID: GPT unique GUID, or MBR "xxxxxxxx-NN"
	Name   string // PARTLABEL (GPT only)
	Type   string // GPT type GUID, or MBR type as "0x83"
}

// prober recognises one format. It returns (nil, nil) when the magic does
// not match, and an error only when reading failed.
type prober func(r io.ReaderAt, size int64) (*Result, error)

// Order matters: LUKS and filesystems with a magic at a fixed offset first,
// FAT last because its boot sector has the weakest signature. Partition
// tables are probed after filesystems: a superfloppy FAT also carries 0x55AA.
var probers = []prober{probeLUKS, probeXFS, probeExt, probeBtrfs, probeExFAT, probeFAT}

// Probe identifies the content of r, which is size bytes long. It returns
// ErrUnknown when nothing is recognised. A filesystem found directly on r
// wins over a partition table, as with blkid -p.
func Probe(r io.ReaderAt, size int64) (*Result, error) {
	for _, p := range probers {
		res, err := p(r, size)
		if err != nil {
			return nil, err
		}
		if res != nil {
			return res, nil
		}
	}
	res, err := probeGPT(r, size)
	if err != nil || res != nil {
		return res, err
	}
	res, err = probeMBR(r, size)
	if err != nil || res != nil {
		return res, err
	}
	return nil, ErrUnknown
}

// Device probes a block device or an image file by path.
func Device(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, &os.PathError{Op: "probe", Path: path, Err: err}
	}
	res, err := Probe(f, size)
	if err != nil {
		return nil, &os.PathError{Op: "probe", Path: path, Err: err}
	}
	return res, nil
}

// readAt reads len(b) bytes at off. A region beyond the end of the device
// is reported as (false, nil) so that probers treat short media as "not
// this format" rather than as an I/O failure.
func readAt(r io.ReaderAt, size int64, b []byte, off int64) (bool, error) {
	if off < 0 || size >= 0 && off+int64(len(b)) > size {
		return false, nil
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return true, nil
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return false, nil
	}
	return false, err
}

// uuidString formats 16 bytes as a big-endian RFC 4122 string, as ext4,
// btrfs and xfs store them.
func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidString formats a GPT GUID, whose first three fields are little-endian.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// cString returns b up to the first NUL byte.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// utf16LE decodes n UTF-16LE code units, stopping at the first NUL.
func utf16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
