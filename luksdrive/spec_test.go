package luksdrive

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Spec
		wantErr error
	}{
		{"UUID=6C1D7A52-3b0e-4f7e-8a91-d4c2e5f60b18", Spec{SpecUUID, "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18"}, nil},
		{`UUID="1A2B-3C4D"`, Spec{SpecUUID, "1a2b-3c4d"}, nil},
		{"6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", Spec{SpecUUID, "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18"}, nil},
		{"LABEL=Offsite B", Spec{SpecLabel, "Offsite B"}, nil},
		{"LABEL='My Drive'", Spec{SpecLabel, "My Drive"}, nil},
		{"PARTUUID=1234abcd-01", Spec{SpecPartUUID, "1234abcd-01"}, nil},
		{"PARTLABEL=keys", Spec{SpecPartLabel, "keys"}, nil},
		{"/dev/sdb1", Spec{SpecPath, "/dev/sdb1"}, nil},
		{"backup.img", Spec{SpecPath, "backup.img"}, nil},
		{"  /dev/sdb  ", Spec{SpecPath, "/dev/sdb"}, nil},
		{"", Spec{}, ErrBadSpec},
		{"   ", Spec{}, ErrBadSpec},
		{"UUID=", Spec{}, ErrBadSpec},
		{`LABEL=""`, Spec{}, ErrBadSpec},
		{"ID=abc", Spec{}, ErrBadSpec},
	} {
		got, err := ParseSpec(tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("ParseSpec(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseSpec(%q) (-want +got):\n%s", tc.in, diff)
		}
		if err == nil && tc.want.Kind != SpecPath {
			again, err := ParseSpec(got.String())
			if err != nil || again != got {
				t.Errorf("ParseSpec(%q.String()=%q) = %v, %v; does not round-trip", tc.in, got.String(), again, err)
			}
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"UUID=abc", "LABEL=\"x\"", "/dev/sda", "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", "PARTUUID=1234abcd-01", "X=", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("ParseSpec(%q): error %v does not wrap ErrBadSpec", s, err)
			}
			return
		}
		if sp.Value == "" {
			t.Fatalf("ParseSpec(%q) = empty value without error", s)
		}
		if sp.Kind != SpecPath {
			again, err := ParseSpec(sp.String())
			if err != nil || again != sp {
				t.Fatalf("ParseSpec(%q) = %+v, String %q re-parses to %+v, %v", s, sp, sp.String(), again, err)
			}
		}
	})
}
