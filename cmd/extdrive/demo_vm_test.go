//go:build vmguest

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestGuestDemo runs extdrive demo as a user would, then checks what it
// claims: both drives got a snapshot with the right contents (read back
// here with cryptsetup and mount, not through extdrive), the second
// rotation of offsite-a was refused as not due, and nothing is left
// behind: no mapping, no mount, no loop device.
func TestGuestDemo(t *testing.T) {
	vmtest.Guest(t)
	loopsBefore := demoSh(t, "losetup", "-a")
	work := filepath.Join(t.TempDir(), "demo")

	cmd := exec.Command("extdrive", "demo", "--dir", work, "--keep")
	out, err := cmd.CombinedOutput()
	t.Logf("extdrive demo --dir %s --keep:\n%s", work, out)
	if err != nil {
		t.Fatalf("extdrive demo: %v", err)
	}
	o := string(out)

	snapRE := regexp.MustCompile(`(?m)^(offsite-[ab]): copied \d+ files .*, snapshot (\S+); the drive is locked`)
	copied := map[string]string{}
	for _, m := range snapRE.FindAllStringSubmatch(o, -1) {
		copied[m[1]] = m[2]
	}
	if copied["offsite-a"] == "" || copied["offsite-b"] == "" || len(copied) != 2 {
		t.Errorf("want one snapshot line each for offsite-a and offsite-b, got %v", copied)
	}
	if !strings.Contains(o, "not due") || !strings.Contains(o, "exit 22, as expected") {
		t.Errorf("the second rotate of offsite-a did not report not due (exit 22)")
	}

	demoLeftNothing(t, "the demo", work, loopsBefore)

	// The job's history on the host: two good runs, none for the refusal.
	cfg, err := config.Load(filepath.Join(work, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := rotate.ReadHistory(rotate.HostHistoryPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range h.Runs {
		if !r.OK || r.Snapshot == "" {
			t.Errorf("run %s: ok=%v snapshot=%q error=%q", r.ID, r.OK, r.Snapshot, r.Error)
		}
		got = append(got, r.Drive+" "+r.Snapshot)
	}
	if want := []string{"offsite-a " + copied["offsite-a"], "offsite-b " + copied["offsite-b"]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("host history runs %q, want %q", got, want)
	}

	// What is really on the drives, read with the reference tools and the
	// key file from the stick: offsite-a has the text from before the
	// change, offsite-b the changed one.
	stick := demoAttach(t, filepath.Join(work, "images", "keystick.img"))
	stickMnt := filepath.Join(t.TempDir(), "stick")
	os.Mkdir(stickMnt, 0o700)
	demoSh(t, "mount", "-o", "ro", stick, stickMnt)
	t.Cleanup(func() { exec.Command("umount", stickMnt).Run() })
	for name, want := range map[string]string{
		"offsite-a": "Written before offsite-a's first copy.",
		"offsite-b": "Changed after offsite-a went off-site.",
	} {
		d, ok := cfg.Drive(name)
		if !ok {
			t.Fatalf("%s not in the demo config", name)
		}
		keyPath, _, _ := strings.Cut(d.Key, ":")
		disk := demoAttach(t, filepath.Join(work, "images", name+".img"))
		mapping := "demo-check-" + name
		part := disk + "p1"
		// devtmpfs adds the node just after the partition scan, later
		// still under emulation: wait for it, and say so if it never comes.
		for deadline := time.Now().Add(time.Minute); ; {
			if _, err := os.Stat(part); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s did not appear within a minute of losetup --partscan", name, part)
			}
			time.Sleep(100 * time.Millisecond)
		}
		demoSh(t, "cryptsetup", "open", "--readonly", "--key-file", filepath.Join(stickMnt, keyPath), part, mapping)
		t.Cleanup(func() { exec.Command("cryptsetup", "close", mapping).Run() })
		mnt := filepath.Join(t.TempDir(), name)
		os.Mkdir(mnt, 0o700)
		demoSh(t, "mount", "-o", "ro", "/dev/mapper/"+mapping, mnt)
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		snap := filepath.Join(mnt, cfg.Copy.Dir, "documents", copied[name])
		notes, err := os.ReadFile(filepath.Join(snap, "notes.txt"))
		if err != nil || strings.TrimSpace(string(notes)) != want {
			t.Errorf("%s: notes.txt = %q (%v), want %q", name, notes, err, want)
		}
		if _, err := os.Stat(filepath.Join(snap, "scratch.tmp")); err == nil {
			t.Errorf("%s: the excluded scratch.tmp was copied", name)
		}
		if l, err := os.Readlink(filepath.Join(snap, "first-letter")); err != nil || l != "year-2017/letter-001.txt" {
			t.Errorf("%s: symlink first-letter -> %q (%v)", name, l, err)
		}
		ents, _ := os.ReadDir(filepath.Join(snap, "year-2017"))
		if len(ents) != 30 {
			t.Errorf("%s: %d files in year-2017, want 30", name, len(ents))
		}
	}
}

func demoSh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && name != "dmsetup" {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// demoAttach attaches an image read-only with its partitions.
func demoAttach(t *testing.T, img string) string {
	t.Helper()
	dev := strings.TrimSpace(demoSh(t, "losetup", "--find", "--show", "--partscan", "--read-only", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// TestGuestDemoInterrupted sends the demo SIGINT (Ctrl-C) as the first
// rotation starts: it must stop with a non-zero exit and still remove
// every mapping, mount, loop device and its work directory.
func TestGuestDemoInterrupted(t *testing.T) {
	vmtest.Guest(t)
	loopsBefore := demoSh(t, "losetup", "-a")
	work := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command("extdrive", "demo", "--dir", work)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !sent && strings.Contains(line, "msg=copying") {
			// The job is copying onto the unlocked, mounted drive.
			cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	err = cmd.Wait()
	t.Logf("extdrive demo, SIGINT while copying:\n%s", out.String())
	if !sent {
		t.Fatal("the demo never started copying")
	}
	if err == nil {
		t.Error("the interrupted demo exited 0")
	}
	demoLeftNothing(t, "the interrupted demo", work, loopsBefore)
	if _, err := os.Lstat(work); err == nil {
		t.Errorf("%s still exists after the interrupted demo", work)
	}
}

// demoLeftNothing checks that after run no mapping, no mount under work
// and no loop device beyond loopsBefore (losetup -a's earlier output) is
// left.
func demoLeftNothing(t *testing.T, run, work, loopsBefore string) {
	t.Helper()
	if ls := demoSh(t, "dmsetup", "ls"); !strings.Contains(ls, "No devices found") {
		t.Errorf("mappings left after %s:\n%s", run, ls)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), work) {
		t.Errorf("mounts left under %s after %s:\n%s", work, run, mi)
	}
	if after := demoSh(t, "losetup", "-a"); after != loopsBefore {
		t.Errorf("loop devices after %s:\n%s\nbefore:\n%s", run, after, loopsBefore)
	}
}
