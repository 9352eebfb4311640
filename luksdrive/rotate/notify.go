package rotate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// Pinger reports a job to a healthchecks.io-style endpoint: URL/start
// when it starts, URL on success, URL/fail on failure, with the log tail
// as the request body. The run ID is sent as rid so the service pairs
// start and end even when two drives' jobs overlap.
type Pinger struct {
	URL     string
	Timeout time.Duration // per attempt; 0 = 10s
	Retries int           // extra attempts after the first on network errors and 5xx
	Backoff time.Duration // first wait between attempts, doubled each time; 0 = 1s
	Client  *http.Client  // nil = a client with Timeout
	Logger  *slog.Logger
}

// configPinger is the Pinger the configuration's [notify] section sets up.
func configPinger(c *config.Config, log *slog.Logger) *Pinger {
	return &Pinger{URL: c.Notify.PingURL, Timeout: time.Duration(c.Notify.Timeout), Retries: c.Notify.Retries, Logger: log}
}

// Start pings URL/start.
func (p *Pinger) Start(ctx context.Context, rid string) error {
	return p.ping(ctx, "/start", rid, nil)
}

// Success pings URL with body.
func (p *Pinger) Success(ctx context.Context, rid string, body []byte) error {
	return p.ping(ctx, "", rid, body)
}

// Fail pings URL/fail with body.
func (p *Pinger) Fail(ctx context.Context, rid string, body []byte) error {
	return p.ping(ctx, "/fail", rid, body)
}

func (p *Pinger) ping(ctx context.Context, suffix, rid string, body []byte) error {
	if p == nil || p.URL == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimRight(p.URL, "/") + suffix)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if rid != "" {
		q := u.Query()
		q.Set("rid", rid)
		u.RawQuery = q.Encode()
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	wait := p.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	var last error
	for attempt := 0; attempt <= p.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("ping %s: %w (last error: %v)", redact(u), ctx.Err(), last)
			case <-t.C:
			}
			wait = min(wait*2, 30*time.Second)
		}
		retry, err := p.once(ctx, client, timeout, u, body)
		if err == nil {
			return nil
		}
		last = err
		logger(p.Logger).Debug("ping failed", "url", redact(u), "attempt", attempt+1, "err", err)
		if !retry {
			break
		}
	}
	return fmt.Errorf("ping %s: %w", redact(u), last)
}

func (p *Pinger) once(ctx context.Context, client *http.Client, timeout time.Duration, u *url.URL, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("HTTP %s", resp.Status)
	}
	return false, fmt.Errorf("HTTP %s (check notify.ping_url)", resp.Status)
}

// redact hides the check's secret part (its UUID or ping key) in logs.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	parts := strings.Split(c.Path, "/")
	for i, s := range parts {
		if len(s) >= 16 {
			parts[i] = s[:4] + "…"
		}
	}
	c.Path = strings.Join(parts, "/")
	return c.String()
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
