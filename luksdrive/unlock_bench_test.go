package luksdrive

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchVolume is a LUKS2 volume formatted at benchmark time with
// cryptsetup's own defaults for this machine (argon2id, its benchmarked
// time and memory cost, up to 1 GiB and 4 threads), so both sides pay
// the KDF cost a real drive made here would have.
type benchVolume struct {
	img     string
	key     Key
	csArgs  []string // cryptsetup key arguments
	csStdin []byte
	cliArgs []string // extdrive unlock key arguments
}

// cliPath is the extdrive command built for the benchmark, or "" if it
// does not build right now (the library comparison still runs).
var cliPath string

func cryptsetupRun(b *testing.B, stdin []byte, args ...string) {
	b.Helper()
	cmd := exec.Command("cryptsetup", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("cryptsetup %v: %v: %s", args, err, out)
	}
}

func newBenchImage(b *testing.B) string {
	img := filepath.Join(b.TempDir(), "bench.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		b.Fatal(err)
	}
	return img
}

// BenchmarkUnlockTest compares Unlock in Test mode, and the command
// `extdrive unlock --test`, with `cryptsetup open --test-passphrase` on
// the same image and key, in the same run. Each iteration runs all three;
// the metrics are the time (and minor page faults) of each per open and
// the ratios to cryptsetup: ratio (library call) and cli-ratio (command).
//
//	OneSlot:       one argon2id keyslot, cost as cryptsetup picks it here.
//	OneSlot1GiB:   one argon2id keyslot, 1 GiB, 4 threads, 4 iterations.
//	FourSlotsLast: four keyslots, the key file's in the last one and named
//	               by an extdrive-keyfile token; cryptsetup tries all four.
func BenchmarkUnlockTest(b *testing.B) {
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		b.Skip("cryptsetup not installed")
	}
	cli := filepath.Join(b.TempDir(), "extdrive")
	if out, err := exec.Command("go", "build", "-o", cli, "github.com/extdrive/extdrive/cmd/extdrive").CombinedOutput(); err != nil {
		b.Logf("extdrive command does not build, comparing the library call only: %v\n%s", err, out)
	} else {
		cliPath = cli
	}
	passFile := filepath.Join(b.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte("bench passphrase"), 0o600); err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(b.TempDir(), "bench.key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k3y-f1le"), 512), 0o600); err != nil {
		b.Fatal(err)
	}

	b.Run("OneSlot", func(b *testing.B) {
		img := newBenchImage(b)
		pass := []byte("bench passphrase")
		cryptsetupRun(b, pass, "luksFormat", "-q", "--type", "luks2", "--pbkdf", "argon2id", "--key-file", "-", img)
		runUnlockBench(b, benchVolume{img: img, key: Key{Passphrase: pass, Slot: AnySlot},
			csArgs: []string{"--key-file", "-"}, csStdin: pass, cliArgs: []string{"--passphrase-file", passFile}})
	})

	// A fixed, typical desktop cost: cryptsetup's own choice above shrinks
	// when the machine is busy, this one does not.
	b.Run("OneSlot1GiB", func(b *testing.B) {
		img := newBenchImage(b)
		pass := []byte("bench passphrase")
		cryptsetupRun(b, pass, "luksFormat", "-q", "--type", "luks2", "--pbkdf", "argon2id",
			"--pbkdf-memory", "1048576", "--pbkdf-parallel", "4", "--pbkdf-force-iterations", "4", "--key-file", "-", img)
		runUnlockBench(b, benchVolume{img: img, key: Key{Passphrase: pass, Slot: AnySlot},
			csArgs: []string{"--key-file", "-"}, csStdin: pass, cliArgs: []string{"--passphrase-file", passFile}})
	})

	b.Run("FourSlotsLast", func(b *testing.B) {
		img := newBenchImage(b)
		p0 := []byte("pass0")
		cryptsetupRun(b, p0, "luksFormat", "-q", "--type", "luks2", "--pbkdf", "argon2id", "--key-file", "-", img)
		for _, p := range []string{"pass1", "pass2"} {
			nf := filepath.Join(b.TempDir(), "new")
			if err := os.WriteFile(nf, []byte(p), 0o600); err != nil {
				b.Fatal(err)
			}
			cryptsetupRun(b, p0, "luksAddKey", "-q", "--pbkdf", "argon2id", "--key-file", "-", img, nf)
		}
		cryptsetupRun(b, p0, "luksAddKey", "-q", "--pbkdf", "argon2id", "--key-slot", "3", "--key-file", "-", img, keyFile)
		tok := []byte(`{"type":"extdrive-keyfile","keyslots":["3"],"key_file":"` + keyFile + `"}`)
		cryptsetupRun(b, tok, "token", "import", img)
		runUnlockBench(b, benchVolume{img: img, key: Key{File: keyFile, Slot: AnySlot},
			csArgs: []string{"--key-file", keyFile}, cliArgs: []string{"--key-file", keyFile}})
	})
}

func runUnlockBench(b *testing.B, v benchVolume) {
	ctx := context.Background()
	if h, err := readHeaderFile(v.img); err == nil {
		for _, ks := range h.keyslots {
			b.Logf("keyslot %d: %s time %d memory %d KiB threads %d", ks.id, ks.kdf.typ, ks.kdf.time, ks.kdf.memory, ks.kdf.cpus)
		}
	}
	var ours, theirs, cli time.Duration
	var ourFlt, theirFlt int64
	for b.Loop() {
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		t0 := time.Now()
		if _, err := Unlock(ctx, v.img, &UnlockOptions{Key: v.key, Test: true}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		ourFlt += ru1.Minflt - ru0.Minflt

		cmd := exec.Command("cryptsetup", append(append([]string{"open", "--test-passphrase"}, v.csArgs...), v.img)...)
		cmd.Stdin = bytes.NewReader(v.csStdin)
		t1 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("cryptsetup: %v: %s", err, out)
		}
		theirs += time.Since(t1)
		theirFlt += cmd.ProcessState.SysUsage().(*syscall.Rusage).Minflt

		if cliPath != "" {
			c := exec.Command(cliPath, append(append([]string{"unlock", "--test"}, v.cliArgs...), v.img)...)
			t2 := time.Now()
			if out, err := c.CombinedOutput(); err != nil {
				b.Fatalf("extdrive unlock --test: %v: %s", err, out)
			}
			cli += time.Since(t2)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "extdrive-ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/n, "cryptsetup-ns/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
	if cliPath != "" {
		b.ReportMetric(float64(cli.Nanoseconds())/n, "cli-ns/op")
		b.ReportMetric(float64(cli)/float64(theirs), "cli-ratio")
	}
	b.ReportMetric(float64(ourFlt)/n, "extdrive-minflt/op")
	b.ReportMetric(float64(theirFlt)/n, "cryptsetup-minflt/op")
}
