//go:build vmguest

package udevwatch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// Fixed identities of the guest tests' images.
const (
	guestLUKS  = "9a1c5d0e-6f3b-4c2a-8e7d-1b2c3d4e5f60"
	guestOther = "5b0e7c1d-2a3f-4e5d-9c8b-7a6f5e4d3c2b"
	guestPass  = "correct horse battery staple"
)

func guestCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sh(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// luksImage makes an image holding a LUKS2 container with a fixed UUID, a
// fast KDF and an ext4 filesystem inside, plus a key file for it. The
// container is built in /tmp (cryptsetup fails on the 9p share) and then
// copied into the shared directory, where the host's QEMU can open it.
func luksImage(t *testing.T, dir, name, uuid string) (img, keyFile string) {
	t.Helper()
	const size = 32 << 20
	tmp := filepath.Join(t.TempDir(), name+".img")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	keyFile = filepath.Join(t.TempDir(), name+".key")
	if err := os.WriteFile(keyFile, []byte(guestPass), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, "", "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--uuid", uuid,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k",
		"--luks2-keyslots-size", "1m", "--key-file", keyFile, tmp)
	mapping := "prep-" + name
	sh(t, "", "cryptsetup", "open", "--key-file", keyFile, tmp, mapping)
	sh(t, "", "mkfs.ext4", "-q", "-F", "-L", name, "/dev/mapper/"+mapping)
	sh(t, "", "cryptsetup", "close", mapping)
	img = filepath.Join(dir, name+".img")
	copySparse(t, img, tmp)
	os.Remove(tmp)
	return img, keyFile
}

// copySparse copies src to dst leaving holes where src is zero, so only
// the few written MiB cross the 9p share.
func copySparse(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(len(b))); err != nil {
		t.Fatal(err)
	}
	const chunk = 64 << 10
	for off := 0; off < len(b); off += chunk {
		c := b[off:min(off+chunk, len(b))]
		if bytes.Count(c, []byte{0}) == len(c) {
			continue
		}
		if _, err := f.WriteAt(c, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// mbrImage makes an image with a DOS partition table and one empty
// partition from 1 MiB to the end.
func mbrImage(t *testing.T, path string, size int64) {
	t.Helper()
	b := make([]byte, 512)
	p := b[446:]
	p[4] = 0x83
	binary.LittleEndian.PutUint32(p[8:], 2048)
	binary.LittleEndian.PutUint32(p[12:], uint32(size/512-2048))
	b[510], b[511] = 0x55, 0xaa
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	f.WriteAt(b, 0)
}

// rawConn is a bare subscription that keeps every datagram, for recording.
type rawConn struct {
	c     *netlinkConn
	group uint32
}

func openRaw(t *testing.T, group uint32) *rawConn {
	s, err := openNetlink(group, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &rawConn{c: s.(*netlinkConn), group: group}
}

// drain returns every datagram queued on the socket, without waiting.
func (r *rawConn) drain(t *testing.T) [][]byte {
	var msgs [][]byte
	rc, _ := r.c.f.SyscallConn()
	rc.Control(func(fd uintptr) {
		for {
			n, _, _, _, err := unix.Recvmsg(int(fd), r.c.buf, nil, unix.MSG_DONTWAIT)
			if err != nil {
				if err != unix.EAGAIN {
					t.Errorf("recvmsg: %v", err)
				}
				return
			}
			msgs = append(msgs, append([]byte(nil), r.c.buf[:n]...))
		}
	})
	return msgs
}

// TestGuestCaptureUevents plugs a LUKS USB drive and a partitioned one,
// formats the partition, and unplugs both, printing every block and USB
// device message as it came off the wire. testdata/uevents/ holds what
// one such run printed:
//
//	go test ./udevwatch -run TestVM/TestGuestCaptureUevents -v | \
//	    go run ./udevwatch/internal/fixtures ../testdata/uevents
func TestGuestCaptureUevents(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := guestCtx(t, 3*time.Minute)
	conns := []*rawConn{openRaw(t, groupKernel), openRaw(t, groupUdev)}
	step := 0
	record := func(what string) {
		step++
		for _, c := range conns {
			for i, b := range c.drain(t) {
				msg, err := ParseMessage(b)
				if err != nil {
					t.Errorf("recorded message does not parse: %v", err)
					continue
				}
				sub, typ := msg.Env["SUBSYSTEM"], msg.Env["DEVTYPE"]
				if sub != "block" && !(sub == "usb" && typ == "usb_device") {
					continue
				}
				name := fmt.Sprintf("%02d-%s-%03d-%s-%s-%s", step, what, i, msg.Action, sub, filepath.Base(msg.DevPath))
				t.Logf("UEVENT %s/%s %s", msg.Format, name, base64.StdEncoding.EncodeToString(b))
			}
		}
	}
	img, _ := luksImage(t, m.SharedDir(), "luks", guestLUKS)
	record("boot")
	if _, err := m.PlugUSB(ctx, "luks", img); err != nil {
		t.Fatal(err)
	}
	record("plug_luks")
	part := filepath.Join(m.SharedDir(), "part.img")
	mbrImage(t, part, 32<<20)
	disk, err := m.PlugUSB(ctx, "part", part)
	if err != nil {
		t.Fatal(err)
	}
	record("plug_part")
	key := filepath.Join(m.SharedDir(), "k")
	os.WriteFile(key, []byte(guestPass), 0o600)
	sh(t, "", "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--uuid", guestOther,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", key, disk+"1")
	sh(t, "", "udevadm", "settle")
	record("format_part")
	if err := m.Unplug(ctx, "part"); err != nil {
		t.Fatal(err)
	}
	record("unplug_part")
	if err := m.Unplug(ctx, "luks"); err != nil {
		t.Fatal(err)
	}
	record("unplug_luks")
}
