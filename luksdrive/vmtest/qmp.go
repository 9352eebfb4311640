package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// qmpClient speaks the QEMU Machine Protocol: one JSON object per line,
// commands answered in order by {"return":...} or {"error":...}, with
// asynchronous {"event":...} lines interleaved.
type qmpClient struct {
	conn io.ReadWriteCloser

	cmdMu sync.Mutex // one command in flight: QMP answers in order
	resp  chan qmpMessage

	mu     sync.Mutex
	subs   map[chan qmpMessage]struct{}
	err    error // set when the reader stops
	closed chan struct{}
}

type qmpMessage struct {
	Return json.RawMessage `json:"return,omitempty"`
	Error  *qmpError       `json:"error,omitempty"`
	Event  string          `json:"event,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	QMP    json.RawMessage `json:"QMP,omitempty"`
}

type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Class + ": " + e.Desc }

// dialQMP connects to QEMU's QMP socket, retrying until QEMU has created it,
// and negotiates capabilities.
func dialQMP(ctx context.Context, path string) (*qmpClient, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return newQMPClient(ctx, conn)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: connect %s: %w", path, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newQMPClient reads the greeting from conn and leaves capabilities
// negotiation mode.
func newQMPClient(ctx context.Context, conn io.ReadWriteCloser) (*qmpClient, error) {
	c := &qmpClient{conn: conn, resp: make(chan qmpMessage, 1), subs: map[chan qmpMessage]struct{}{}, closed: make(chan struct{})}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: read greeting: %w", err)
	}
	var greet qmpMessage
	if err := json.Unmarshal(line, &greet); err != nil || greet.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: unexpected greeting %q", line)
	}
	go c.read(br)
	if _, err := c.execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *qmpClient) read(br *bufio.Reader) {
	var err error
	for {
		var line []byte
		line, err = br.ReadBytes('\n')
		if err != nil {
			break
		}
		var m qmpMessage
		if jerr := json.Unmarshal(line, &m); jerr != nil {
			err = fmt.Errorf("qmp: bad message %q: %w", line, jerr)
			break
		}
		if m.Event != "" {
			c.mu.Lock()
			for s := range c.subs {
				select {
				case s <- m:
				default: // a subscriber that stopped listening must not stall QMP
				}
			}
			c.mu.Unlock()
			continue
		}
		c.resp <- m
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.closed)
}

// execute runs one command and returns its "return" value.
func (c *qmpClient) execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	select {
	case m := <-c.resp:
		if m.Error != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, m.Error)
		}
		return m.Return, nil
	case <-c.closed:
		return nil, fmt.Errorf("qmp %s: connection closed: %v", cmd, c.readErr())
	case <-ctx.Done():
		// The answer may still come; poison the connection rather than
		// hand it to the next command.
		c.conn.Close()
		return nil, fmt.Errorf("qmp %s: %w", cmd, ctx.Err())
	}
}

func (c *qmpClient) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// subscribe returns a channel receiving every event from now on. Subscribe
// before the command that triggers an event, or the event can be missed.
func (c *qmpClient) subscribe() (<-chan qmpMessage, func()) {
	ch := make(chan qmpMessage, 64)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// waitEvent waits on a subscription for an event that match accepts.
func (c *qmpClient) waitEvent(ctx context.Context, ch <-chan qmpMessage, name string, match func(json.RawMessage) bool) error {
	for {
		select {
		case m := <-ch:
			if m.Event == name && (match == nil || match(m.Data)) {
				return nil
			}
		case <-c.closed:
			return fmt.Errorf("qmp: waiting for %s: connection closed", name)
		case <-ctx.Done():
			return fmt.Errorf("qmp: waiting for %s: %w", name, ctx.Err())
		}
	}
}

func (c *qmpClient) Close() error { return c.conn.Close() }

// errDeviceGone tells deviceDel's caller QEMU no longer knows the device.
var errDeviceGone = errors.New("device not found")

// deviceDel unplugs a device and waits for QEMU to confirm the guest let go
// of it (DEVICE_DELETED); only then may its block node be removed.
func (c *qmpClient) deviceDel(ctx context.Context, id string) error {
	ch, unsub := c.subscribe()
	defer unsub()
	if _, err := c.execute(ctx, "device_del", map[string]any{"id": id}); err != nil {
		var qe *qmpError
		if errors.As(err, &qe) && qe.Class == "DeviceNotFound" {
			return fmt.Errorf("%w: %s", errDeviceGone, id)
		}
		return err
	}
	return c.waitEvent(ctx, ch, "DEVICE_DELETED", func(d json.RawMessage) bool {
		var v struct {
			Device string `json:"device"`
		}
		return json.Unmarshal(d, &v) == nil && v.Device == id
	})
}
