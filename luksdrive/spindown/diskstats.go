package spindown

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DiskStat is one line of /proc/diskstats (Documentation/admin-guide/
// iostats.rst). Kernels before 4.18 print 11 counters, 4.18 adds 4 for
// discards, 5.5 adds 2 for flushes; absent counters are zero.
type DiskStat struct {
	Major, Minor uint32
	Name         string

	ReadIOs, ReadMerges, ReadSectors, ReadTicks             uint64
	WriteIOs, WriteMerges, WriteSectors, WriteTicks         uint64
	InFlight, IOTicks, TimeInQueue                          uint64
	DiscardIOs, DiscardMerges, DiscardSectors, DiscardTicks uint64
	FlushIOs, FlushTicks                                    uint64
}

// activity is what counts as the disk being used: sectors read, written
// or discarded. Request counts are not used: on 6.1 an empty flush (what
// syncfs sends to an idle ext4) completes as a zero-sector write request,
// and kernels that account SG_IO pass-through count our own commands as
// zero-sector reads; neither moves the disk's data.
type activity struct {
	readSectors, writeSectors, discardSectors uint64
}

func (s DiskStat) activity() activity {
	return activity{s.ReadSectors, s.WriteSectors, s.DiscardSectors}
}

// ParseDiskstats parses the text of /proc/diskstats.
func ParseDiskstats(r io.Reader) ([]DiskStat, error) {
	var out []DiskStat
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s, err := parseDiskstatsLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("diskstats line %d: %w", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	return out, nil
}

func parseDiskstatsLine(line string) (DiskStat, error) {
	f := strings.Fields(line)
	// 3 identifying fields plus 11, 15, 17 or (future kernels) more counters.
	if len(f) < 3+11 {
		return DiskStat{}, fmt.Errorf("%d fields, want at least 14", len(f))
	}
	var s DiskStat
	maj, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return DiskStat{}, fmt.Errorf("major number %q: %w", f[0], err)
	}
	min, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return DiskStat{}, fmt.Errorf("minor number %q: %w", f[1], err)
	}
	s.Major, s.Minor, s.Name = uint32(maj), uint32(min), f[2]
	dst := []*uint64{
		&s.ReadIOs, &s.ReadMerges, &s.ReadSectors, &s.ReadTicks,
		&s.WriteIOs, &s.WriteMerges, &s.WriteSectors, &s.WriteTicks,
		&s.InFlight, &s.IOTicks, &s.TimeInQueue,
		&s.DiscardIOs, &s.DiscardMerges, &s.DiscardSectors, &s.DiscardTicks,
		&s.FlushIOs, &s.FlushTicks,
	}
	for i, v := range f[3:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return DiskStat{}, fmt.Errorf("%s counter %d %q: %w", s.Name, i+1, v, err)
		}
		if i < len(dst) {
			*dst[i] = n
		}
	}
	return s, nil
}

// format writes s back in the kernel's layout (17 counters), so tests
// can round-trip what they parse.
func (s DiskStat) format() string {
	return fmt.Sprintf("%4d %7d %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d",
		s.Major, s.Minor, s.Name,
		s.ReadIOs, s.ReadMerges, s.ReadSectors, s.ReadTicks,
		s.WriteIOs, s.WriteMerges, s.WriteSectors, s.WriteTicks,
		s.InFlight, s.IOTicks, s.TimeInQueue,
		s.DiscardIOs, s.DiscardMerges, s.DiscardSectors, s.DiscardTicks,
		s.FlushIOs, s.FlushTicks)
}
