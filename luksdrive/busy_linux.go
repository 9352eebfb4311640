package luksdrive

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Holders lists the processes using the filesystem mounted at target, the
// way fuser -m does: any process whose cwd, root, executable, open file or
// memory-mapped file lives on the same device. Processes whose /proc
// entries cannot be read (another user's, without root) are skipped.
func Holders(target string) ([]Holder, error) {
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		return nil, opErr("holders", target, err)
	}
	dev := st.Dev
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, opErr("holders", target, err)
	}
	self := os.Getpid()
	var out []Holder
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if how := holds(filepath.Join("/proc", p.Name()), dev); how != "" {
			comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
			if err != nil {
				continue // it exited since: it holds nothing any more
			}
			out = append(out, Holder{PID: pid, Command: strings.TrimSpace(string(comm)), How: how})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// holds reports the first way process dir uses device dev, or "".
func holds(dir string, dev uint64) string {
	on := func(p string) bool {
		var st unix.Stat_t
		return unix.Stat(p, &st) == nil && st.Dev == dev
	}
	for _, l := range []string{"cwd", "root", "exe"} {
		if on(filepath.Join(dir, l)) {
			return l
		}
	}
	fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
	for _, fd := range fds {
		p := filepath.Join(dir, "fd", fd.Name())
		if on(p) {
			target, _ := os.Readlink(p)
			return "fd " + target
		}
	}
	// Mapped files keep the filesystem busy after their fd is closed;
	// maps lists their device as hex major:minor.
	f, err := os.Open(filepath.Join(dir, "maps"))
	if err != nil {
		return ""
	}
	defer f.Close()
	want := fmt.Sprintf("%02x:%02x", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && fields[3] == want && fields[4] != "0" {
			return "mmap " + fields[5]
		}
	}
	return ""
}
