package rotate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pingServer is a healthchecks.io stand-in on 127.0.0.1 recording every
// request; fail makes the first n requests answer with that status.
type pingServer struct {
	mu    sync.Mutex
	hits  []string // "path?rid=…: body"
	fails []int
	srv   *httptest.Server
}

func newPingServer(t *testing.T, fails ...int) *pingServer {
	p := &pingServer{fails: fails}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.hits = append(p.hits, r.Method+" "+r.URL.Path+" rid="+r.URL.Query().Get("rid")+": "+string(b))
		var code int
		if len(p.fails) > 0 {
			code, p.fails = p.fails[0], p.fails[1:]
		}
		p.mu.Unlock()
		if code != 0 {
			w.WriteHeader(code)
			return
		}
		io.WriteString(w, "OK")
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pingServer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hits...)
}

func TestPinger(t *testing.T) {
	ctx := context.Background()
	srv := newPingServer(t, 503, 500)
	p := &Pinger{URL: srv.srv.URL + "/ping/0b7c1e5e-6c9d-4b41", Retries: 3, Backoff: time.Millisecond}
	if err := p.Start(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Fail(ctx, "r1", []byte("copy failed: no space")); err != nil {
		t.Fatal(err)
	}
	if err := p.Success(ctx, "r2", []byte("fine")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"POST /ping/0b7c1e5e-6c9d-4b41/start rid=r1: ",
		"POST /ping/0b7c1e5e-6c9d-4b41/start rid=r1: ",
		"POST /ping/0b7c1e5e-6c9d-4b41/start rid=r1: ",
		"POST /ping/0b7c1e5e-6c9d-4b41/fail rid=r1: copy failed: no space",
		"POST /ping/0b7c1e5e-6c9d-4b41 rid=r2: fine",
	}
	if diff := cmp.Diff(want, srv.got()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestPingerGivesUp(t *testing.T) {
	ctx := context.Background()
	// A 404 is a wrong URL: retrying cannot help.
	srv := newPingServer(t, 404)
	p := &Pinger{URL: srv.srv.URL + "/x", Retries: 5, Backoff: time.Millisecond}
	if err := p.Start(ctx, ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Start = %v, want a 404 error", err)
	}
	if n := len(srv.got()); n != 1 {
		t.Errorf("%d requests for a 404, want 1", n)
	}
	// Retries are bounded.
	srv = newPingServer(t, 500, 500, 500, 500)
	p = &Pinger{URL: srv.srv.URL + "/x", Retries: 2, Backoff: time.Millisecond}
	if err := p.Start(ctx, ""); err == nil {
		t.Error("Start succeeded against a failing server")
	}
	if n := len(srv.got()); n != 3 {
		t.Errorf("%d requests with Retries 2, want 3", n)
	}
	// A dead server and a cancelled context end the retries.
	srv.srv.Close()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p = &Pinger{URL: srv.srv.URL + "/x", Retries: 20, Backoff: time.Hour}
	if err := p.Start(cctx, ""); err == nil {
		t.Error("Start succeeded with a closed server")
	}
	// No URL configured: nothing to do.
	if err := (&Pinger{}).Fail(ctx, "", nil); err != nil {
		t.Errorf("no URL: %v", err)
	}
}
