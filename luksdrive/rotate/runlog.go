package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// tailSize is how much of the end of a run's log is kept in memory for
// the failure ping and command; healthchecks.io accepts 100 kB bodies, a
// mail of the last 16 KiB is what someone reads.
const tailSize = 16 << 10

// RunLog is one run's log file. Writes past the size limit are dropped
// (with one marker line), but the last tailSize bytes are always kept in
// memory, so the failure report shows how the run ended even when a
// chatty copy filled the file.
type RunLog struct {
	mu        sync.Mutex
	f         *os.File
	path      string
	n, max    int64
	truncated bool
	tail      []byte
}

// LogDir is the directory holding the drive's run logs.
func LogDir(c *config.Config, drive string) string { return filepath.Join(c.LogDir, drive) }

// CreateRunLog creates the log for run id and deletes the drive's oldest
// logs beyond c.Logs.KeepRuns, so a drive's logs never take more than
// KeepRuns × MaxSize.
func CreateRunLog(c *config.Config, drive, id string) (*RunLog, error) {
	dir := LogDir(c, drive)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, id+".log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	l := &RunLog{f: f, path: path, max: int64(c.Logs.MaxSize)}
	if err := pruneLogs(dir, c.Logs.KeepRuns); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Write implements io.Writer; it never fails, so a full disk does not
// stop the job it is logging.
func (l *RunLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if over := len(l.tail) - tailSize; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	if l.f == nil || l.truncated {
		return len(p), nil
	}
	room := l.max - l.n
	marker := fmt.Sprintf("\n[log cut off at %d bytes (logs.max_size); the end of the run follows in the failure report]\n", l.max)
	if int64(len(p)) > room-int64(len(marker)) {
		keep := max(room-int64(len(marker)), 0)
		l.f.Write(p[:keep])
		l.f.WriteString(marker)
		l.n = l.max
		l.truncated = true
		return len(p), nil
	}
	n, _ := l.f.Write(p)
	l.n += int64(n)
	return len(p), nil
}

// Tail returns the end of the log (up to 16 KiB).
func (l *RunLog) Tail() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.tail...)
}

// Path returns the log file's path.
func (l *RunLog) Path() string { return l.path }

// Close syncs and closes the file.
func (l *RunLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	l.f.Sync()
	err := l.f.Close()
	l.f = nil
	return err
}

func pruneLogs(dir string, keep int) error {
	names, err := logNames(dir)
	if err != nil {
		return err
	}
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		names = names[1:]
	}
	return nil
}

// logNames lists run logs oldest first (names start with the run's time).
func logNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".log") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ListLogs returns the run IDs that still have a log, oldest first.
func ListLogs(c *config.Config, drive string) ([]string, error) {
	names, err := logNames(LogDir(c, drive))
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".log")
	}
	return names, err
}

// LogPath returns the log file of a run: run is a run ID, a unique prefix
// of one, or "" for the newest.
func LogPath(c *config.Config, drive, run string) (string, error) {
	ids, err := ListLogs(c, drive)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("drive %s: %w: no logs in %s", drive, ErrNoRun, LogDir(c, drive))
	}
	if run == "" {
		return filepath.Join(LogDir(c, drive), ids[len(ids)-1]+".log"), nil
	}
	var match []string
	for _, id := range ids {
		if id == run {
			match = []string{id}
			break
		}
		if strings.HasPrefix(id, run) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("drive %s: %w %q (logs kept: %s … %s)", drive, ErrNoRun, run, ids[0], ids[len(ids)-1])
	case 1:
		return filepath.Join(LogDir(c, drive), match[0]+".log"), nil
	}
	return "", fmt.Errorf("drive %s: %w: %q matches %d runs; give more of the ID", drive, ErrNoRun, run, len(match))
}
