package spindown

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDiskstats(t *testing.T) {
	f, err := os.Open("testdata/diskstats-pi.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseDiskstats(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Fatalf("%d entries, want 8", len(got))
	}
	want := DiskStat{Major: 8, Minor: 0, Name: "sda",
		ReadIOs: 2391, ReadSectors: 158318, ReadTicks: 20896,
		WriteIOs: 1102, WriteMerges: 1421, WriteSectors: 1024616, WriteTicks: 40118,
		IOTicks: 13020, TimeInQueue: 62440, FlushIOs: 93, FlushTicks: 1426}
	if diff := cmp.Diff(want, got[5]); diff != "" {
		t.Errorf("sda (-want +got):\n%s", diff)
	}
}

func TestParseDiskstatsKernelVersions(t *testing.T) {
	tests := []struct {
		name, line string
		want       DiskStat
	}{
		{"4.9, 11 counters", "   8       0 sda 10 1 80 5 20 2 160 7 0 12 12",
			DiskStat{Major: 8, Name: "sda", ReadIOs: 10, ReadMerges: 1, ReadSectors: 80, ReadTicks: 5, WriteIOs: 20, WriteMerges: 2, WriteSectors: 160, WriteTicks: 7, IOTicks: 12, TimeInQueue: 12}},
		{"4.19, 15 counters", "   8      16 sdb 1 0 8 0 0 0 0 0 0 0 0 3 0 24 1",
			DiskStat{Major: 8, Minor: 16, Name: "sdb", ReadIOs: 1, ReadSectors: 8, DiscardIOs: 3, DiscardSectors: 24, DiscardTicks: 1}},
		{"future, 20 counters", " 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
			DiskStat{Major: 259, Name: "nvme0n1", ReadIOs: 1, ReadMerges: 2, ReadSectors: 3, ReadTicks: 4, WriteIOs: 5, WriteMerges: 6, WriteSectors: 7, WriteTicks: 8, InFlight: 9, IOTicks: 10, TimeInQueue: 11, DiscardIOs: 12, DiscardMerges: 13, DiscardSectors: 14, DiscardTicks: 15, FlushIOs: 16, FlushTicks: 17}},
	}
	for _, tt := range tests {
		got, err := ParseDiskstats(strings.NewReader(tt.line + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff([]DiskStat{tt.want}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseDiskstatsBad(t *testing.T) {
	for _, in := range []string{
		"8 0 sda 1 2 3",                             // a 2.6 partition line: too short
		"8 x sda 1 2 3 4 5 6 7 8 9 10 11",           // minor not a number
		"8 0 sda 1 2 3 4 5 6 7 8 9 10 -11",          // negative counter
		"8 0 sda 1 2 3 4 5 6 7 8 9 10 1e3",          // not decimal
		"99999999999 0 sda 1 2 3 4 5 6 7 8 9 10 11", // major beyond 32 bits
	} {
		if _, err := ParseDiskstats(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDiskstats(%q) succeeded", in)
		}
	}
}

func FuzzParseDiskstats(f *testing.F) {
	seed, err := os.ReadFile("testdata/diskstats-pi.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("   8       0 sda 10 1 80 5 20 2 160 7 0 12 12\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseDiskstats(strings.NewReader(in))
		if err != nil {
			return
		}
		// What parses must survive formatting and parsing again unchanged.
		var b strings.Builder
		for _, s := range got {
			if s.Name == "" || strings.ContainsAny(s.Name, " \t\n") {
				t.Fatalf("bad name %q", s.Name)
			}
			b.WriteString(s.format() + "\n")
		}
		again, err := ParseDiskstats(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// The monitor parses /proc/diskstats once per interval (and twice more
// around each spin-down); this is that cost on a Pi-sized table.
func BenchmarkParseDiskstats(b *testing.B) {
	in, err := os.ReadFile("testdata/diskstats-pi.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseDiskstats(strings.NewReader(string(in))); err != nil {
			b.Fatal(err)
		}
	}
}
