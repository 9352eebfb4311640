package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// TestRunLogBound: however much runs log, a drive's logs stay within
// keep_runs files of at most max_size bytes, and the failure report still
// sees how the last run ended.
func TestRunLogBound(t *testing.T) {
	c := &config.Config{LogDir: t.TempDir(), Logs: config.Logs{KeepRuns: 3, MaxSize: 8 << 10}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last *RunLog
	for run := 0; run < 10; run++ {
		l, err := CreateRunLog(c, "A", runID(start.AddDate(0, run, 0), "A"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(l, "run %d line %d: copying some/file/name.jpg\n", run, i)
		}
		fmt.Fprintf(l, "run %d: the end\n", run)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		last = l
	}
	ents, err := os.ReadDir(LogDir(c, "A"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 {
		t.Errorf("%d log files kept, want 3", len(ents))
	}
	var total int64
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Size() > int64(c.Logs.MaxSize) {
			t.Errorf("%s is %d bytes, over max_size %d", e.Name(), fi.Size(), c.Logs.MaxSize)
		}
		total += fi.Size()
	}
	if total > 3*int64(c.Logs.MaxSize) {
		t.Errorf("logs take %d bytes, over keep_runs × max_size", total)
	}
	b, _ := os.ReadFile(last.Path())
	if !bytes.HasPrefix(b, []byte("run 9 line 0:")) || !bytes.Contains(b, []byte("[log cut off at 8192 bytes")) {
		t.Errorf("newest log does not start with run 9 and end with the cut-off marker:\n%.200s…%s", b, b[max(0, len(b)-200):])
	}
	tail := last.Tail()
	if len(tail) > tailSize || !bytes.HasSuffix(tail, []byte("run 9: the end\n")) {
		t.Errorf("Tail is %d bytes ending %q; want ≤ %d ending with the run's last line", len(tail), tail[max(0, len(tail)-40):], tailSize)
	}

	ids, _ := ListLogs(c, "A")
	p, err := LogPath(c, "A", "")
	if err != nil || filepath.Base(p) != ids[2]+".log" {
		t.Errorf("LogPath(newest) = %s, %v; want %s", p, err, ids[2])
	}
	if p, err := LogPath(c, "A", "2026"); err == nil {
		t.Errorf("LogPath(prefix of every run) = %s, want an ambiguity error", p)
	}
	if p, err := LogPath(c, "A", ids[1][:15]); err != nil || !strings.HasSuffix(p, ids[1]+".log") {
		t.Errorf("LogPath(unique prefix) = %s, %v", p, err)
	}
	if _, err := LogPath(c, "A", "19990101"); !errors.Is(err, ErrNoRun) {
		t.Errorf("LogPath(unknown) = %v, want ErrNoRun", err)
	}
	if _, err := LogPath(c, "B", ""); !errors.Is(err, ErrNoRun) {
		t.Errorf("LogPath(drive without logs) = %v, want ErrNoRun", err)
	}
}
