package luksdrive

import (
	"errors"
	"strings"
	"testing"
)

func TestBusyErrorText(t *testing.T) {
	var hs []Holder
	for i := range 11 {
		hs = append(hs, Holder{PID: 100 + i, Command: "rsync", How: "cwd"})
	}
	for _, tc := range []struct {
		holders []Holder
		want    string
	}{
		{nil, "no holding process found"},
		{hs[:1], "held by pid 100 (rsync) cwd; stop those processes"},
		{hs[:2], "held by pid 100 (rsync) cwd, pid 101 (rsync) cwd;"},
		{hs, "pid 107 (rsync) cwd and 3 more;"},
	} {
		err := error(&BusyError{Target: "/srv/backup", Holders: tc.holders})
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pid 108") {
			t.Errorf("BusyError with %d holders: %q, want it to contain %q", len(tc.holders), err, tc.want)
		}
	}
}
