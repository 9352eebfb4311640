package crypttab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func addFixtures(f *testing.F, ext string) {
	names, _ := filepath.Glob(filepath.Join(fixtures, "*."+ext))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// FuzzCrypttab checks that every entry the parser accepts renders back
// (String) to a line that parses to the same entry, and that Import
// never fails on what the parser read.
func FuzzCrypttab(f *testing.F) {
	addFixtures(f, "crypttab")
	f.Add("a\\0400 UUID=x \\134 o=\"a,b\",x=")
	f.Fuzz(func(t *testing.T, in string) {
		es, _ := ParseCrypttab("f", strings.NewReader(in))
		for _, e := range es {
			line := e.String()
			again, err := ParseCrypttab("f", strings.NewReader(line))
			if err != nil || len(again) != 1 {
				t.Fatalf("%q rendered as %q, which parses to %v, %v", in, line, again, err)
			}
			again[0].Line = e.Line
			if diff := cmp.Diff(e, again[0]); diff != "" {
				t.Fatalf("round trip of %q via %q (-first +second):\n%s", in, line, diff)
			}
		}
		if _, err := Import(strings.NewReader(in), bytes.NewReader(nil), nil); err != nil {
			t.Fatalf("Import: %v", err)
		}
	})
}

// FuzzFstab is FuzzCrypttab for fstab lines, and also feeds the input to
// Import as the fstab next to a crypttab naming its mappings.
func FuzzFstab(f *testing.F) {
	addFixtures(f, "fstab")
	f.Add("LABEL=a\\040b /m\\011x ext4 noauto,sync 1 2")
	f.Fuzz(func(t *testing.T, in string) {
		es, _ := ParseFstab("f", strings.NewReader(in))
		for _, e := range es {
			line := e.String()
			again, err := ParseFstab("f", strings.NewReader(line))
			if err != nil || len(again) != 1 {
				t.Fatalf("%q rendered as %q, which parses to %v, %v", in, line, again, err)
			}
			again[0].Line = e.Line
			if diff := cmp.Diff(e, again[0]); diff != "" {
				t.Fatalf("round trip of %q via %q (-first +second):\n%s", in, line, diff)
			}
		}
		ct := "a UUID=2a4c6e80-1b3d-4f5a-9c7e-0d2f4a6b8c1e /media/key/k\nb UUID=3a4c6e80-1b3d-4f5a-9c7e-0d2f4a6b8c1e none\n"
		if _, err := Import(strings.NewReader(ct), strings.NewReader(in), nil); err != nil {
			t.Fatalf("Import: %v", err)
		}
	})
}

// FuzzTimespan checks that accepted spans are non-negative, bounded, and
// that a bare number means seconds.
func FuzzTimespan(f *testing.F) {
	for _, s := range []string{"30", "10s", "1h30min", "1min 30s", "250ms", "soon", "400d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimespan(s)
		if err != nil {
			return
		}
		if d < 0 || d > 365*24*time.Hour {
			t.Fatalf("ParseTimespan(%q) = %v", s, d)
		}
	})
}
