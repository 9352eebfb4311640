package luksdrive

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// header is the part of a LUKS1 or LUKS2 header that unlocking needs, in
// one shape for both versions so keyslot code does not branch on version.
type header struct {
	version  int
	uuid     string
	label    string
	keyslots []keyslot // sorted by id
	segment  segment
	tokens   []token
	flags    []string // LUKS2 persistent flags (allow-discards, ...)
}

type keyslot struct {
	id       int
	priority int // LUKS2: 0 ignore unless named, 1 normal, 2 prefer
	keySize  int // volume key bytes
	kdf      kdfParams

	areaOffset  int64
	areaSize    int64
	areaCipher  string // "aes-xts-plain64", "aes-cbc-essiv:sha256", ...
	areaKeySize int

	afStripes int
	afHash    string

	digest *digestParams
}

type kdfParams struct {
	typ        string // pbkdf2, argon2i, argon2id
	hash       string // pbkdf2
	iterations int    // pbkdf2
	time       uint32 // argon2
	memory     uint32 // argon2, KiB
	cpus       uint32 // argon2
	salt       []byte
}

type digestParams struct {
	hash       string
	iterations int
	salt       []byte
	digest     []byte
}

type segment struct {
	offset     int64  // bytes from the start of the data device
	size       int64  // bytes; 0 means up to the end of the device
	ivTweak    uint64 // in 512-byte sectors
	encryption string // dm-crypt cipher spec
	sectorSize int
}

// token is a LUKS2 token; only its type, keyslots and raw JSON are kept.
type token struct {
	id       int
	typ      string
	keyslots []int
	raw      json.RawMessage
}

var (
	luksMagic  = []byte("LUKS\xba\xbe")
	luks2Magic = []byte("SKUL\xba\xbe") // secondary LUKS2 header
)

const (
	luks1HeaderSize   = 592
	luks1KeyActive    = 0x00AC71F3
	luks1KeyDisabled  = 0x0000DEAD
	luks1NumKeys      = 8
	luks2BinHdrSize   = 4096
	luks2MaxHdrSize   = 4 << 20
	maxKeySize        = 512 // bytes; cryptsetup's own limit is far lower
	maxStripes        = 4000
	maxPBKDF2Iter     = 1 << 31
	maxArgon2MemoryKB = 4 << 20 // cryptsetup's 4 GiB ceiling
	maxArgon2Time     = 1 << 16
	maxArgon2Cpus     = 1 << 8
)

// corrupt wraps ErrCorruptHeader with what was wrong.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorruptHeader)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// parseHeader reads a LUKS1 or LUKS2 header from r, which holds size
// bytes (the device, an image, or a detached header file). It never
// panics on malformed input: this is the entry point the fuzzers drive.
func parseHeader(r io.ReaderAt, size int64) (*header, error) {
	var start [8]byte
	if n, _ := r.ReadAt(start[:], 0); n < len(start) {
		return nil, fmt.Errorf("%d bytes, too short for a LUKS header: %w", size, ErrNotLUKS)
	}
	if !bytes.Equal(start[:6], luksMagic) {
		return nil, ErrNotLUKS
	}
	switch v := binary.BigEndian.Uint16(start[6:]); v {
	case 1:
		return parseLUKS1(r)
	case 2:
		return parseLUKS2(r, size)
	default:
		return nil, unsupported("LUKS version %d", v)
	}
}

func readFull(r io.ReaderAt, n int, off int64) ([]byte, error) {
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, off)
	if got == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, corrupt("header truncated: %d of %d bytes at offset %d", got, n, off)
	}
	return nil, err
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func parseLUKS1(r io.ReaderAt) (*header, error) {
	b, err := readFull(r, luks1HeaderSize, 0)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	cipherName := cString(b[8:40])
	cipherMode := cString(b[40:72])
	hashSpec := cString(b[72:104])
	payloadOffset := be.Uint32(b[104:108])
	keyBytes := int(be.Uint32(b[108:112]))
	mkDigest := b[112:132]
	mkDigestSalt := b[132:164]
	mkDigestIter := be.Uint32(b[164:168])
	uuid := cString(b[168:208])

	if keyBytes <= 0 || keyBytes > maxKeySize {
		return nil, corrupt("LUKS1 key size %d", keyBytes)
	}
	if mkDigestIter == 0 || mkDigestIter > maxPBKDF2Iter {
		return nil, corrupt("LUKS1 digest iterations %d", mkDigestIter)
	}
	if cipherName == "" || cipherMode == "" || hashSpec == "" {
		return nil, corrupt("LUKS1 cipher or hash name empty")
	}
	h := &header{
		version: 1,
		uuid:    uuid,
		segment: segment{
			offset:     int64(payloadOffset) * 512,
			encryption: cipherName + "-" + cipherMode,
			sectorSize: 512,
		},
	}
	dig := &digestParams{hash: hashSpec, iterations: int(mkDigestIter), salt: mkDigestSalt, digest: mkDigest}
	for i := 0; i < luks1NumKeys; i++ {
		s := b[208+48*i : 208+48*(i+1)]
		switch be.Uint32(s[0:4]) {
		case luks1KeyActive:
		case luks1KeyDisabled:
			continue
		default:
			return nil, corrupt("LUKS1 keyslot %d has an invalid state", i)
		}
		iter := be.Uint32(s[4:8])
		matOff := be.Uint32(s[40:44])
		stripes := int(be.Uint32(s[44:48]))
		if iter == 0 || iter > maxPBKDF2Iter {
			return nil, corrupt("LUKS1 keyslot %d iterations %d", i, iter)
		}
		if stripes <= 0 || stripes > maxStripes {
			return nil, corrupt("LUKS1 keyslot %d stripes %d", i, stripes)
		}
		h.keyslots = append(h.keyslots, keyslot{
			id:       i,
			priority: 1,
			keySize:  keyBytes,
			kdf: kdfParams{
				typ: "pbkdf2", hash: hashSpec, iterations: int(iter),
				salt: s[8:40],
			},
			areaOffset:  int64(matOff) * 512,
			areaSize:    roundUp(int64(keyBytes*stripes), 512),
			areaCipher:  cipherName + "-" + cipherMode,
			areaKeySize: keyBytes,
			afStripes:   stripes,
			afHash:      hashSpec,
			digest:      dig,
		})
	}
	return h, nil
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// luks2Offsets are the places a LUKS2 header copy may start, as cryptsetup
// scans them when the primary header is damaged.
var luks2Offsets = []int64{0, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000}

// parseLUKS2 reads both header copies and uses the valid one with the
// higher sequence id, as cryptsetup does, so a torn write to the primary
// still opens.
func parseLUKS2(r io.ReaderAt, size int64) (*header, error) {
	var best []byte
	var bestSeq uint64
	var firstErr error
	for _, off := range luks2Offsets {
		if size > 0 && off+luks2BinHdrSize > size {
			break
		}
		data, seq, err := readLUKS2Copy(r, off)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || seq > bestSeq {
			best, bestSeq = data, seq
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = corrupt("no LUKS2 header copy found")
		}
		return nil, firstErr
	}
	return parseLUKS2JSON(best)
}

// readLUKS2Copy reads and checksums one header copy; it returns the whole
// header area (binary header plus JSON).
func readLUKS2Copy(r io.ReaderAt, off int64) ([]byte, uint64, error) {
	bin, err := readFull(r, luks2BinHdrSize, off)
	if err != nil {
		return nil, 0, err
	}
	magic := luksMagic
	if off != 0 {
		magic = luks2Magic
	}
	if !bytes.Equal(bin[:6], magic) {
		return nil, 0, corrupt("no LUKS2 header at offset %d", off)
	}
	be := binary.BigEndian
	if v := be.Uint16(bin[6:8]); v != 2 {
		return nil, 0, corrupt("header copy at %d has version %d", off, v)
	}
	hdrSize := be.Uint64(bin[8:16])
	seq := be.Uint64(bin[16:24])
	if hdrSize < 0x4000 || hdrSize > luks2MaxHdrSize || hdrSize&(hdrSize-1) != 0 {
		return nil, 0, corrupt("LUKS2 header size %d", hdrSize)
	}
	if hdrOff := be.Uint64(bin[256:264]); hdrOff != uint64(off) {
		return nil, 0, corrupt("LUKS2 header at %d claims offset %d", off, hdrOff)
	}
	if alg := cString(bin[72:104]); alg != "sha256" {
		return nil, 0, unsupported("LUKS2 header checksum %q", alg)
	}
	data := bin
	if hdrSize > luks2BinHdrSize {
		rest, err := readFull(r, int(hdrSize)-luks2BinHdrSize, off+luks2BinHdrSize)
		if err != nil {
			return nil, 0, err
		}
		data = append(bin, rest...)
	}
	// The checksum covers the whole area with its own 64-byte field zeroed.
	want := bytes.Clone(data[448 : 448+sha256.Size])
	h := sha256.New()
	h.Write(data[:448])
	h.Write(make([]byte, 64))
	h.Write(data[512:])
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, 0, corrupt("LUKS2 header checksum mismatch at offset %d", off)
	}
	return data, seq, nil
}

// JSON shapes of the LUKS2 metadata. LUKS2 writes 64-bit numbers as
// strings, small ones as JSON numbers.
type l2Meta struct {
	Keyslots map[string]l2Keyslot       `json:"keyslots"`
	Tokens   map[string]json.RawMessage `json:"tokens"`
	Segments map[string]l2Segment       `json:"segments"`
	Digests  map[string]l2Digest        `json:"digests"`
	Config   struct {
		Flags        []string `json:"flags"`
		Requirements struct {
			Mandatory []string `json:"mandatory"`
		} `json:"requirements"`
	} `json:"config"`
}

type l2Keyslot struct {
	Type     string `json:"type"`
	KeySize  int    `json:"key_size"`
	Priority *int   `json:"priority"`
	AF       struct {
		Type    string `json:"type"`
		Stripes int    `json:"stripes"`
		Hash    string `json:"hash"`
	} `json:"af"`
	Area struct {
		Type       string `json:"type"`
		Offset     string `json:"offset"`
		Size       string `json:"size"`
		Encryption string `json:"encryption"`
		KeySize    int    `json:"key_size"`
	} `json:"area"`
	KDF struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations int64  `json:"iterations"`
		Time       int64  `json:"time"`
		Memory     int64  `json:"memory"`
		CPUs       int64  `json:"cpus"`
		Salt       string `json:"salt"`
	} `json:"kdf"`
}

type l2Segment struct {
	Type       string `json:"type"`
	Offset     string `json:"offset"`
	Size       string `json:"size"`
	IVTweak    string `json:"iv_tweak"`
	Encryption string `json:"encryption"`
	SectorSize int    `json:"sector_size"`
	Flags      []string
}

type l2Digest struct {
	Type       string   `json:"type"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
	Hash       string   `json:"hash"`
	Iterations int64    `json:"iterations"`
	Salt       string   `json:"salt"`
	Digest     string   `json:"digest"`
}

func parseUint(field, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, corrupt("LUKS2 %s %q is not a number", field, s)
	}
	return v, nil
}

func b64(field, s string) ([]byte, error) {
	v, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, corrupt("LUKS2 %s is not base64", field)
	}
	return v, nil
}

func parseLUKS2JSON(data []byte) (*header, error) {
	js := data[luks2BinHdrSize:]
	if i := bytes.IndexByte(js, 0); i >= 0 {
		js = js[:i]
	}
	var m l2Meta
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, corrupt("LUKS2 metadata: %v", err)
	}
	if len(m.Config.Requirements.Mandatory) > 0 {
		// Online reencryption and similar: opening without honouring the
		// requirement could corrupt data, so refuse like cryptsetup.
		return nil, unsupported("LUKS2 requirements %v", m.Config.Requirements.Mandatory)
	}
	h := &header{
		version: 2,
		label:   cString(data[24:72]),
		uuid:    cString(data[168:208]),
		flags:   m.Config.Flags,
	}

	// Only single-segment crypt volumes exist outside reencryption.
	var segKeys []string
	for k := range m.Segments {
		segKeys = append(segKeys, k)
	}
	if len(segKeys) != 1 {
		return nil, unsupported("LUKS2 volume with %d segments", len(segKeys))
	}
	seg := m.Segments[segKeys[0]]
	if seg.Type != "crypt" {
		return nil, unsupported("LUKS2 segment type %q", seg.Type)
	}
	off, err := parseUint("segment offset", seg.Offset)
	if err != nil {
		return nil, err
	}
	var segSize uint64
	if seg.Size != "dynamic" {
		if segSize, err = parseUint("segment size", seg.Size); err != nil {
			return nil, err
		}
		if segSize == 0 {
			return nil, corrupt("LUKS2 segment size 0")
		}
	}
	tweak, err := parseUint("segment iv_tweak", seg.IVTweak)
	if err != nil {
		return nil, err
	}
	switch seg.SectorSize {
	case 512, 1024, 2048, 4096:
	default:
		return nil, corrupt("LUKS2 segment sector size %d", seg.SectorSize)
	}
	if off%512 != 0 || off > 1<<62 || segSize > 1<<62 || segSize%uint64(seg.SectorSize) != 0 {
		return nil, corrupt("LUKS2 segment offset %d or size %d misaligned", off, segSize)
	}
	if seg.Encryption == "" || strings.ContainsAny(seg.Encryption, " \t\n") {
		return nil, corrupt("LUKS2 segment encryption %q", seg.Encryption)
	}
	h.segment = segment{offset: int64(off), size: int64(segSize), ivTweak: tweak, encryption: seg.Encryption, sectorSize: seg.SectorSize}

	digests := map[int]*digestParams{}
	for k, d := range m.Digests {
		if d.Type != "pbkdf2" {
			return nil, unsupported("LUKS2 digest %s type %q", k, d.Type)
		}
		if d.Iterations <= 0 || d.Iterations > maxPBKDF2Iter {
			return nil, corrupt("LUKS2 digest %s iterations %d", k, d.Iterations)
		}
		salt, err := b64("digest salt", d.Salt)
		if err != nil {
			return nil, err
		}
		sum, err := b64("digest", d.Digest)
		if err != nil {
			return nil, err
		}
		if len(sum) == 0 {
			return nil, corrupt("LUKS2 digest %s is empty", k)
		}
		dp := &digestParams{hash: d.Hash, iterations: int(d.Iterations), salt: salt, digest: sum}
		for _, ks := range d.Keyslots {
			id, err := strconv.Atoi(ks)
			if err != nil {
				return nil, corrupt("LUKS2 digest %s names keyslot %q", k, ks)
			}
			digests[id] = dp
		}
	}

	for k, ks := range m.Keyslots {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id > 31 {
			return nil, corrupt("LUKS2 keyslot id %q", k)
		}
		if ks.Type != "luks2" {
			// Reencryption keyslots carry no volume key.
			continue
		}
		prio := 1
		if ks.Priority != nil {
			prio = *ks.Priority
		}
		if ks.KeySize <= 0 || ks.KeySize > maxKeySize || ks.Area.KeySize <= 0 || ks.Area.KeySize > maxKeySize {
			return nil, corrupt("LUKS2 keyslot %d key size %d/%d", id, ks.KeySize, ks.Area.KeySize)
		}
		if ks.AF.Type != "luks1" {
			return nil, unsupported("LUKS2 keyslot %d anti-forensic type %q", id, ks.AF.Type)
		}
		if ks.AF.Stripes <= 0 || ks.AF.Stripes > maxStripes {
			return nil, corrupt("LUKS2 keyslot %d stripes %d", id, ks.AF.Stripes)
		}
		if ks.Area.Type != "raw" {
			return nil, unsupported("LUKS2 keyslot %d area type %q", id, ks.Area.Type)
		}
		aoff, err := parseUint("keyslot area offset", ks.Area.Offset)
		if err != nil {
			return nil, err
		}
		asize, err := parseUint("keyslot area size", ks.Area.Size)
		if err != nil {
			return nil, err
		}
		need := roundUp(int64(ks.KeySize*ks.AF.Stripes), 512)
		if aoff > 1<<40 || asize > 1<<40 || int64(asize) < need {
			return nil, corrupt("LUKS2 keyslot %d area %d+%d, needs %d bytes", id, aoff, asize, need)
		}
		salt, err := b64("kdf salt", ks.KDF.Salt)
		if err != nil {
			return nil, err
		}
		kp := kdfParams{typ: ks.KDF.Type, hash: ks.KDF.Hash, salt: salt}
		switch ks.KDF.Type {
		case "pbkdf2":
			if ks.KDF.Iterations <= 0 || ks.KDF.Iterations > maxPBKDF2Iter {
				return nil, corrupt("LUKS2 keyslot %d pbkdf2 iterations %d", id, ks.KDF.Iterations)
			}
			kp.iterations = int(ks.KDF.Iterations)
		case "argon2i", "argon2id":
			if ks.KDF.Time <= 0 || ks.KDF.Time > maxArgon2Time ||
				ks.KDF.Memory < 8 || ks.KDF.Memory > maxArgon2MemoryKB ||
				ks.KDF.CPUs <= 0 || ks.KDF.CPUs > maxArgon2Cpus-1 || ks.KDF.Memory < 8*ks.KDF.CPUs {
				return nil, corrupt("LUKS2 keyslot %d argon2 time %d memory %d cpus %d", id, ks.KDF.Time, ks.KDF.Memory, ks.KDF.CPUs)
			}
			kp.time, kp.memory, kp.cpus = uint32(ks.KDF.Time), uint32(ks.KDF.Memory), uint32(ks.KDF.CPUs)
		default:
			return nil, unsupported("LUKS2 keyslot %d kdf %q", id, ks.KDF.Type)
		}
		h.keyslots = append(h.keyslots, keyslot{
			id:          id,
			priority:    prio,
			keySize:     ks.KeySize,
			kdf:         kp,
			areaOffset:  int64(aoff),
			areaSize:    int64(asize),
			areaCipher:  ks.Area.Encryption,
			areaKeySize: ks.Area.KeySize,
			afStripes:   ks.AF.Stripes,
			afHash:      ks.AF.Hash,
			digest:      digests[id],
		})
	}
	sort.Slice(h.keyslots, func(i, j int) bool { return h.keyslots[i].id < h.keyslots[j].id })

	for k, raw := range m.Tokens {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 {
			return nil, corrupt("LUKS2 token id %q", k)
		}
		var t struct {
			Type     string   `json:"type"`
			Keyslots []string `json:"keyslots"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, corrupt("LUKS2 token %d: %v", id, err)
		}
		tk := token{id: id, typ: t.Type, raw: raw}
		for _, s := range t.Keyslots {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, corrupt("LUKS2 token %d names keyslot %q", id, s)
			}
			tk.keyslots = append(tk.keyslots, n)
		}
		h.tokens = append(h.tokens, tk)
	}
	sort.Slice(h.tokens, func(i, j int) bool { return h.tokens[i].id < h.tokens[j].id })
	return h, nil
}
