package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeQEMU answers QMP the way QEMU 7.2 does; script maps a command to the
// lines sent back (replies and events, in order). It records the commands.
func fakeQEMU(t *testing.T, script map[string][]string) (net.Conn, <-chan map[string]any) {
	t.Helper()
	client, server := net.Pipe()
	got := make(chan map[string]any, 16)
	go func() {
		defer server.Close()
		w := bufio.NewWriter(server)
		w.WriteString(`{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian"}, "capabilities": ["oob"]}}` + "\r\n")
		w.Flush()
		sc := bufio.NewScanner(server)
		for sc.Scan() {
			var cmd map[string]any
			if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
				return
			}
			got <- cmd
			name, _ := cmd["execute"].(string)
			reply, ok := script[name]
			if !ok {
				reply = []string{`{"return": {}}`}
			}
			for _, l := range reply {
				w.WriteString(l + "\r\n")
			}
			w.Flush()
		}
	}()
	return client, got
}

func TestQMPDeviceDelWaitsForEvent(t *testing.T) {
	conn, got := fakeQEMU(t, map[string][]string{
		"device_del": {
			`{"return": {}}`,
			`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/other/virtio-backend"}}`,
			`{"timestamp": {"seconds": 1, "microseconds": 3}, "event": "DEVICE_DELETED", "data": {"device": "other", "path": "/machine/peripheral/other"}}`,
			`{"timestamp": {"seconds": 1, "microseconds": 4}, "event": "DEVICE_DELETED", "data": {"device": "stick1", "path": "/machine/peripheral/stick1"}}`,
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := newQMPClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.deviceDel(ctx, "stick1"); err != nil {
		t.Fatal(err)
	}
	var cmds []map[string]any
	for len(got) > 0 {
		cmds = append(cmds, <-got)
	}
	want := []map[string]any{
		{"execute": "qmp_capabilities"},
		{"execute": "device_del", "arguments": map[string]any{"id": "stick1"}},
	}
	if diff := cmp.Diff(want, cmds); diff != "" {
		t.Errorf("commands sent (-want +got):\n%s", diff)
	}
}

func TestQMPErrorReply(t *testing.T) {
	conn, _ := fakeQEMU(t, map[string][]string{
		"device_add": {`{"error": {"class": "GenericError", "desc": "Bus 'ahci.0' does not support hotplugging"}}`},
		"device_del": {`{"error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := newQMPClient(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.execute(ctx, "device_add", map[string]any{"driver": "ide-hd"})
	var qe *qmpError
	if !errors.As(err, &qe) || qe.Class != "GenericError" || !strings.Contains(err.Error(), "does not support hotplugging") {
		t.Errorf("device_add error = %v", err)
	}
	if err := c.deviceDel(ctx, "x"); !errors.Is(err, errDeviceGone) {
		t.Errorf("device_del of a missing device = %v, want errDeviceGone", err)
	}
	// The connection stays usable after errors.
	if _, err := c.execute(ctx, "query-status", nil); err != nil {
		t.Errorf("query-status after errors: %v", err)
	}
}

func TestQMPClosedConnection(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		server.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
		sc := bufio.NewScanner(server)
		sc.Scan() // qmp_capabilities
		server.Write([]byte(`{"return": {}}` + "\n"))
		sc.Scan()
		server.Close() // QEMU died mid-command
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := newQMPClient(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.execute(ctx, "device_del", map[string]any{"id": "a"}); err == nil || ctx.Err() != nil {
		t.Errorf("execute on a dying QEMU = %v (ctx %v), want a prompt error", err, ctx.Err())
	}
}

func TestQMPBadGreeting(t *testing.T) {
	client, server := net.Pipe()
	go func() { server.Write([]byte("not json\n")); server.Close() }()
	if _, err := newQMPClient(context.Background(), client); err == nil {
		t.Error("a bad greeting was accepted")
	}
}
