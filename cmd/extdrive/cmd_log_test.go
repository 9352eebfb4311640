package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

func TestLogCommand(t *testing.T) {
	cfgPath, dir := writeTestConfig(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	h := &rotate.History{}
	for i, id := range []string{"20261001T190000.000Z-A", "20261101T190000.000Z-A"} {
		l, err := rotate.CreateRunLog(cfg, "A", id)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(l, "log of run %d\n", i)
		l.Close()
		start := time.Date(2026, time.Month(10+i), 1, 19, 0, 0, 0, time.UTC)
		h.Add(rotate.Record{ID: id, Seq: i + 1, Drive: "A", Start: start, End: start.Add(time.Hour), Duration: time.Hour,
			OK: i == 0, Error: map[bool]string{true: "", false: "copy A: no space left"}[i == 0], Log: id + ".log", Bytes: 3 << 20})
	}
	rotate.WriteHistory(filepath.Join(dir, "state", "history.json"), h)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"newest", []string{"log", "A"}, exitOK, []string{"log of run 1\n"}, ""},
		{"by prefix", []string{"log", "A", "202610"}, exitOK, []string{"log of run 0\n"}, ""},
		{"list", []string{"log", "A", "--list"}, exitOK, []string{"20261001T190000.000Z-A  ok", "FAILED: copy A: no space left", "3.0 MiB"}, ""},
		{"ambiguous", []string{"log", "A", "2026"}, exitNoRun, nil, "matches 2 runs"},
		{"no such run", []string{"log", "A", "2025"}, exitNoRun, nil, `no such run "2025"`},
		{"never ran", []string{"log", "B"}, exitNoRun, nil, "drive B: no such run: no logs"},
		{"unknown drive", []string{"log", "Z"}, exitUnknownDrive, nil, "drive not in the configuration"},
		{"no drive", []string{"log"}, exitUsage, nil, "accepts between 1 and 2 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"--config", cfgPath}, tt.args...), strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderr)
			}
		})
	}
}
