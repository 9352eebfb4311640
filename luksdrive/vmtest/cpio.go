package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// cpioEntry is one member of an initramfs. The kernel's unpacker does not
// create parent directories, so the archive writer adds them itself.
type cpioEntry struct {
	Name     string // path inside the archive, without a leading slash
	Mode     fs.FileMode
	Data     []byte // file contents, or the link target for symlinks
	DevMajor uint32 // for character devices
	DevMinor uint32
}

// writeCPIO writes entries as a "newc" cpio archive, which is the format the
// kernel accepts as an initramfs. Entries are sorted and their parent
// directories added, so the output depends only on the entries given.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	byName := map[string]cpioEntry{}
	for _, e := range entries {
		e.Name = strings.TrimPrefix(path.Clean("/"+e.Name), "/")
		if e.Name == "" {
			continue
		}
		for dir := path.Dir(e.Name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := byName[dir]; !ok {
				byName[dir] = cpioEntry{Name: dir, Mode: fs.ModeDir | 0o755}
			}
		}
		if old, ok := byName[e.Name]; ok && !old.Mode.IsDir() && (old.Mode != e.Mode || string(old.Data) != string(e.Data)) {
			return fmt.Errorf("cpio: %s added twice with different contents", e.Name)
		}
		byName[e.Name] = e
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	// Sorting puts every directory before its contents.
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	var off int64
	ino := uint32(1)
	write := func(e cpioEntry) error {
		mode := uint32(e.Mode.Perm())
		switch {
		case e.Mode.IsDir():
			mode |= 0o040000
		case e.Mode&fs.ModeSymlink != 0:
			mode |= 0o120000
		case e.Mode&fs.ModeCharDevice != 0:
			mode |= 0o020000
		default:
			mode |= 0o100000
		}
		nlink := 1
		if e.Mode.IsDir() {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.DevMajor, e.DevMinor, len(e.Name)+1, 0)
		ino++
		n, _ := bw.WriteString(hdr)
		m, _ := bw.WriteString(e.Name + "\x00")
		off += int64(n + m)
		pad(bw, &off)
		k, err := bw.Write(e.Data)
		off += int64(k)
		pad(bw, &off)
		return err
	}
	for _, n := range names {
		if err := write(byName[n]); err != nil {
			return err
		}
	}
	if err := write(cpioEntry{Name: "TRAILER!!!"}); err != nil {
		return err
	}
	return bw.Flush()
}

func pad(w *bufio.Writer, off *int64) {
	for *off%4 != 0 {
		w.WriteByte(0)
		*off++
	}
}

// readCPIONames lists the member names of a newc archive.
func readCPIONames(r io.Reader) ([]string, error) {
	var names []string
	var off int64
	hdr := make([]byte, 110)
	skip := func(n int64) error {
		_, err := io.CopyN(io.Discard, r, n)
		off += n
		return err
	}
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, fmt.Errorf("cpio header at %d: %w", off, err)
		}
		off += 110
		if string(hdr[:6]) != "070701" {
			return nil, fmt.Errorf("cpio: bad magic %q at %d", hdr[:6], off-110)
		}
		field := func(i int) (int64, error) {
			var v int64
			_, err := fmt.Sscanf(string(hdr[6+8*i:14+8*i]), "%08X", &v)
			return v, err
		}
		size, err1 := field(6)
		nameLen, err2 := field(11)
		if err1 != nil || err2 != nil || nameLen < 1 || nameLen > 4096 {
			return nil, fmt.Errorf("cpio: bad header at %d", off-110)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, err
		}
		off += nameLen
		if err := skip((4 - off%4) % 4); err != nil {
			return nil, err
		}
		n, ok := strings.CutSuffix(string(name), "\x00")
		if !ok || strings.ContainsRune(n, 0) {
			return nil, fmt.Errorf("cpio: bad name %q at %d", name, off-nameLen)
		}
		if n == "TRAILER!!!" {
			return names, nil
		}
		names = append(names, n)
		if err := skip(size + (4-(off+size)%4)%4); err != nil {
			return nil, err
		}
	}
}
