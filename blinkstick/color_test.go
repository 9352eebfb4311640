package blinkstick

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want Color
	}{
		{"red", Color{255, 0, 0}},
		{"Yellow", Color{255, 255, 0}},
		{"GREEN", Color{0, 128, 0}}, // CSS green, as the Python tool sends
		{"blue", Color{0, 0, 255}},
		{"darkorange", Color{255, 140, 0}},
		{"off", Off},
		{"OFF", Off},
		{"black", Off},
		{"#ff8800", Color{255, 136, 0}},
		{"#FF8800", Color{255, 136, 0}},
		{"ff8800", Color{255, 136, 0}},
		{"#f80", Color{255, 136, 0}},
		{" red ", Color{255, 0, 0}},
		{"bad", Off}, // placeholder; see the error table
	}
	for _, tt := range tests {
		if tt.in == "bad" {
			continue
		}
		got, err := ParseColor(tt.in)
		if err != nil {
			t.Errorf("ParseColor(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseColor(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, in := range []string{"", "bad", "f80", "#ff880", "#ff88000", "gg0000", "#gg0000", "reddish", "rgb(1,2,3)", "random", "#"} {
		_, err := ParseColor(in)
		if !errors.Is(err, ErrInvalidColor) {
			t.Errorf("ParseColor(%q) err = %v, want ErrInvalidColor", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "#ff8800") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseColor(%q) error does not say what to do on one line: %q", in, err)
		}
	}
}

func TestScaleMatchesPythonLimit(t *testing.T) {
	// Values computed with blinkstick-python's remap_rgb_value and
	// int(limit/100*255).
	tests := []struct {
		c     Color
		limit int
		want  Color
	}{
		{Color{255, 0, 0}, 50, Color{127, 0, 0}},
		{Color{255, 255, 0}, 10, Color{25, 25, 0}},
		{Color{128, 64, 1}, 50, Color{63, 31, 0}},
		{Color{255, 255, 255}, 100, Color{255, 255, 255}},
		{Color{255, 255, 255}, 0, Color{0, 0, 0}},
		{Color{200, 100, 50}, 33, Color{65, 32, 16}},
		{Color{255, 0, 0}, 150, Color{255, 0, 0}},
		{Color{255, 0, 0}, -5, Color{0, 0, 0}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.c.Scale(tt.limit)); diff != "" {
			t.Errorf("%v.Scale(%d) (-want +got):\n%s", tt.c, tt.limit, diff)
		}
	}
}

func TestColorNameRoundTrip(t *testing.T) {
	for name, c := range colorNames {
		got, err := ParseColor(c.String())
		if err != nil || got != c {
			t.Errorf("%s: ParseColor(%s) = %v, %v", name, c, got, err)
		}
		if n := ColorName(c); colorNames[n] != c {
			t.Errorf("ColorName(%v) = %q", c, n)
		}
	}
	if diff := cmp.Diff("aqua", ColorName(Color{0, 255, 255})); diff != "" {
		t.Errorf("shared value picks first name (-want +got):\n%s", diff)
	}
	if len(colorNames) != 147 {
		t.Errorf("%d colour names, the CSS3 table has 147", len(colorNames))
	}
}

func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"red", "#ff8800", "ff8800", "#f80", "off", "OFF", "lightgoldenrodyellow", "#", "", "\x00", "ＲＥＤ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseColor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidColor) || strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("ParseColor(%q): unexpected error %v", s, err)
			}
			if c != Off {
				t.Fatalf("ParseColor(%q) failed but returned %v", s, c)
			}
			return
		}
		// Whatever parsed must survive a round trip through its hex form.
		back, err := ParseColor(c.String())
		if err != nil || back != c {
			t.Fatalf("ParseColor(%q) = %v; round trip gave %v, %v", s, c, back, err)
		}
		for _, l := range []int{0, 1, 50, 99, 100} {
			sc := c.Scale(l)
			if sc.R > c.R || sc.G > c.G || sc.B > c.B {
				t.Fatalf("%v.Scale(%d) = %v brightens", c, l, sc)
			}
		}
	})
}
