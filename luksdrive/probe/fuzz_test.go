package probe

import (
	"bytes"
	"path/filepath"
	"testing"
)

// FuzzProbe feeds every prober arbitrary bytes: a drive with a corrupt
// superblock must give an answer or ErrUnknown, never a panic or a huge
// allocation.
func FuzzProbe(f *testing.F) {
	// The committed seeds, cut after the btrfs superblock (the furthest
	// fixed-offset structure) to keep each fuzz input small.
	seeds, _ := filepath.Glob(filepath.Join("testdata", "probe", "*.seed"))
	for _, s := range seeds {
		f.Add(loadSeed(f, s, 0x10000+0x1000))
	}
	f.Add([]byte("LUKS\xba\xbe\x00\x02"))
	// Probe stops at the first match, so each prober is also run on its
	// own: a FAT probe must survive an input the exFAT probe claimed.
	all := append(append([]prober{}, probers...), probeGPT, probeMBR)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Probe(bytes.NewReader(data), int64(len(data)))
		if err != nil && err != ErrUnknown {
			t.Fatalf("Probe on an in-memory reader returned an I/O error: %v", err)
		}
		if err == nil && res == nil {
			t.Fatal("Probe returned neither a result nor an error")
		}
		for i, p := range all {
			if _, err := p(bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("prober %d returned an I/O error on an in-memory reader: %v", i, err)
			}
		}
	})
}

// BenchmarkProbe measures one probe of each committed seed image, the
// per-device cost of a Find that has to scan without udev.
func BenchmarkProbe(b *testing.B) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "probe", "*.seed"))
	imgs := make([][]byte, len(seeds))
	for i, s := range seeds {
		imgs[i] = loadSeed(b, s, 0)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, img := range imgs {
			Probe(bytes.NewReader(img), int64(len(img)))
		}
	}
}
