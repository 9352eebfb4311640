package spindown

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Options tune the power commands; a nil *Options means the defaults.
type Options struct {
	// Timeout bounds each command inside the kernel; 0 means 15 s, what
	// hdparm uses. A spinning-up drive can take several seconds to answer.
	Timeout time.Duration
	// Logger receives debug records of each command and fallback; nil
	// discards them.
	Logger *slog.Logger
}

func (o *Options) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return 15 * time.Second
	}
	return o.Timeout
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return discardLogger
	}
	return o.Logger
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// ctxErr stops before a command is sent: SG_IO itself cannot be
// interrupted, so the context is honoured between commands.
func ctxErr(ctx context.Context) error { return ctx.Err() }
