//go:build linux

package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/rotate"
)

// TestJobFailedHook plays what systemd does around the job unit: a job
// that reports its own failure, and a job SIGKILLed mid-run (as the OOM
// killer or a stop timeout would), each followed by the OnFailure= unit's
// `handle-event --job-failed`. The dead job is told about once, with its
// run log; the one that reported is not told about twice.
func TestJobFailedHook(t *testing.T) {
	var mu sync.Mutex
	var pings []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pings = append(pings, r.URL.Path+": "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	got := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), pings...) }

	// timeout: a ping that takes longer than an attempt's timeout (10s by
	// default, which a loaded machine can reach) is sent again, and the
	// server above would count the same failure twice.
	cfg, dir := testConfig(t, `[notify]
ping_url = "`+srv.URL+`/check"
timeout = "5m"
on_failure = "sh -c 'echo \"$EXTDRIVE_ERROR\" >> {dir}/mail; cat >> {dir}/mail'"
[[drive]]
name = "A"
uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
key = "prompt"
`)
	mail := filepath.Join(dir, "mail")
	hook := func(env ...string) (int, string) {
		t.Helper()
		for _, k := range []string{"MONITOR_INVOCATION_ID", "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS"} {
			t.Setenv(k, "")
		}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		code, _, errs := runCmd(t, "--config", cfg, "handle-event", "--job-failed", "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9")
		return code, errs
	}

	// 1. The job fails on its own (no terminal to ask the passphrase on)
	// and reports it: one /fail ping, one mail.
	job := exec.Command(os.Args[0], "--", "--config", cfg, "rotate", "A", "--force")
	job.Env = append(os.Environ(), helperEnv+"=1", "INVOCATION_ID=inv-reported")
	out, err := job.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("job without a terminal: %v, want a failure\n%s", err, out)
	}
	if p := got(); len(p) != 1 || !strings.HasPrefix(p[0], "/check/fail: ") {
		t.Fatalf("pings after the reported failure %q, want one /fail", p)
	}
	code, errs := hook("MONITOR_INVOCATION_ID=inv-reported", "MONITOR_SERVICE_RESULT=exit-code", "MONITOR_EXIT_CODE=exited", "MONITOR_EXIT_STATUS=1")
	if code != exitOK || !strings.Contains(errs, "backup job failed") {
		t.Fatalf("hook after a reported failure: exit %d\n%s", code, errs)
	}
	if p := got(); len(p) != 1 {
		t.Errorf("the hook pinged again after the job reported: %q", p)
	}
	mail1, _ := os.ReadFile(mail)
	if !bytes.Contains(mail1, []byte("stdin is not a terminal")) {
		t.Fatalf("the job's own failure mail:\n%s", mail1)
	}

	// 2. The job waits for its passphrase on a terminal and is killed.
	ptm, pts := openPTY(t)
	job = exec.Command(os.Args[0], "--", "--config", cfg, "rotate", "A", "--force")
	job.Env = append(os.Environ(), helperEnv+"=1", "INVOCATION_ID=inv-killed")
	job.Stdin = pts
	stderr, err := job.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	defer ptm.Close()
	prompt := make(chan string, 1)
	go func() {
		var seen bytes.Buffer
		buf := make([]byte, 512)
		for {
			n, err := stderr.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), "Passphrase for A") || err != nil {
				prompt <- seen.String()
				return
			}
		}
	}()
	select {
	case s := <-prompt:
		if !strings.Contains(s, "Passphrase for A") {
			t.Fatalf("the job never asked for its passphrase:\n%s", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the job never asked for its passphrase")
	}
	job.Process.Signal(syscall.SIGKILL)
	job.Wait()
	if p := got(); len(p) != 1 {
		t.Fatalf("pings after the kill %q, want none new", p)
	}
	h, err := rotate.ReadHistory(filepath.Join(dir, "state", "history.json"))
	if err != nil || len(h.Runs) != 1 || h.Runs[0].Invocation != "inv-reported" {
		t.Fatalf("history after the kill: %+v, %v; want only the reported run", h, err)
	}

	code, errs = hook("MONITOR_INVOCATION_ID=inv-killed", "MONITOR_SERVICE_RESULT=signal", "MONITOR_EXIT_CODE=killed", "MONITOR_EXIT_STATUS=KILL")
	if code != exitOK || !strings.Contains(errs, "failed without reporting it") {
		t.Fatalf("hook after the kill: exit %d\n%s", code, errs)
	}
	p := got()
	if len(p) != 2 || !strings.HasPrefix(p[1], "/check/fail: the job's process ended with result=signal code=killed status=KILL\n") ||
		!strings.Contains(p[1], "rotation job starting") {
		t.Fatalf("pings after the hook %q, want a fail ping with the reason and the dead run's log", p)
	}
	mail2, _ := os.ReadFile(mail)
	added := strings.TrimPrefix(string(mail2), string(mail1))
	if !strings.HasPrefix(added, "the job's process ended with result=signal") || !strings.Contains(added, "rotation job starting") {
		t.Errorf("failure mail for the killed job:\n%s", added)
	}

	// The unit always passes a drive; one not configured is refused and
	// nothing is sent.
	code, errs = func() (int, string) {
		c, _, e := runCmd(t, "--config", cfg, "handle-event", "--job-failed", "B")
		return c, e
	}()
	if code != exitUsage || len(got()) != 2 {
		t.Errorf("unknown drive: exit %d, %d pings\n%s", code, len(got()), errs)
	}
}
