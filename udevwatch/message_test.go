package udevwatch

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"
	"testing"
)

// kernelMsg and udevMsg encode messages the way the kernel and
// systemd-udevd do, for tests of what comes after parsing. The parser
// itself is tested on recorded messages (fixtures_test.go).
func kernelMsg(action, devpath string, kv ...string) []byte {
	b := []byte(action + "@" + devpath + "\x00")
	b = append(b, "ACTION="+action+"\x00DEVPATH="+devpath+"\x00"...)
	for _, s := range kv {
		b = append(b, s+"\x00"...)
	}
	return b
}

func udevMsg(kv ...string) []byte {
	props := []byte(strings.Join(kv, "\x00") + "\x00")
	h := make([]byte, udevHeaderSize)
	copy(h, udevPrefix)
	binary.BigEndian.PutUint32(h[8:], udevMagic)
	binary.NativeEndian.PutUint32(h[12:], udevHeaderSize)
	binary.NativeEndian.PutUint32(h[16:], udevHeaderSize)
	binary.NativeEndian.PutUint32(h[20:], uint32(len(props)))
	return append(h, props...)
}

func TestParseMalformed(t *testing.T) {
	good := udevMsg("ACTION=add", "DEVPATH=/devices/x/block/sda", "SUBSYSTEM=block")
	withOff := func(off, n uint32) []byte {
		b := append([]byte(nil), good...)
		binary.NativeEndian.PutUint32(b[16:], off)
		binary.NativeEndian.PutUint32(b[20:], n)
		return b
	}
	badMagic := append([]byte(nil), good...)
	badMagic[8] = 0
	for name, b := range map[string][]byte{
		"empty":               {},
		"go-udev panic":       []byte("add@"),
		"no NUL":              []byte("add@/devices/x"),
		"no at":               []byte("add/devices/x\x00ACTION=add\x00"),
		"unknown action":      kernelMsg("explode", "/devices/x"),
		"relative devpath":    kernelMsg("add", "devices/x"),
		"dotdot devpath":      kernelMsg("add", "/devices/../../etc"),
		"empty component":     kernelMsg("add", "/devices//x"),
		"header mismatch":     []byte("add@/devices/x\x00ACTION=remove\x00DEVPATH=/devices/x\x00"),
		"devpath mismatch":    []byte("add@/devices/x\x00ACTION=add\x00DEVPATH=/devices/y\x00"),
		"no equals":           kernelMsg("add", "/devices/x", "JUNK"),
		"empty key":           kernelMsg("add", "/devices/x", "=v"),
		"duplicate key":       kernelMsg("add", "/devices/x", "A=1", "A=2"),
		"devname escape":      kernelMsg("add", "/devices/x", "DEVNAME=../etc/shadow"),
		"devname abs":         kernelMsg("add", "/devices/x", "DEVNAME=/etc/shadow"),
		"devpath_old dotdot":  kernelMsg("move", "/devices/x", "DEVPATH_OLD=/devices/.."),
		"udev short":          good[:39],
		"udev magic":          badMagic,
		"udev off past end":   withOff(udevHeaderSize, 1<<31),
		"udev off wraps":      withOff(0xffffffff, 2),
		"udev off in header":  withOff(8, uint32(len(good)-8)),
		"udev no action":      udevMsg("DEVPATH=/devices/x"),
		"udev no devpath":     udevMsg("ACTION=add"),
		"oversized":           append(kernelMsg("add", "/devices/x"), make([]byte, maxMessageSize)...),
		"udev truncated prop": good[:len(good)-20],
	} {
		m, err := ParseMessage(b)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseMessage = %+v, %v; want ErrMalformed", name, m, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

func TestTrusted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     sender
		group uint32
		ok    bool
	}{
		{"kernel", sender{pid: 0, groups: 1, hasCred: true}, groupKernel, true},
		{"udevd", sender{pid: 412, groups: 2, hasCred: true}, groupUdev, true},
		{"kernel group from user space", sender{pid: 999, groups: 1, hasCred: true}, groupKernel, false},
		{"unicast", sender{pid: 0, groups: 0, hasCred: true}, groupKernel, false},
		{"non-root udev", sender{pid: 412, groups: 2, hasCred: true, uid: 1000}, groupUdev, false},
		{"no credentials", sender{pid: 412, groups: 2}, groupUdev, false},
		{"wrong group", sender{pid: 0, groups: 2, hasCred: true}, groupKernel, false},
	} {
		if err := trusted(tc.s, tc.group); (err == nil) != tc.ok {
			t.Errorf("%s: trusted = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
