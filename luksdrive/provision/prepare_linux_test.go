package provision

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
)

// TestPrepareArguments: bad options are refused before the device is
// even looked at (the device here does not exist).
func TestPrepareArguments(t *testing.T) {
	ok := func() PrepareOptions {
		return PrepareOptions{Name: "A", Passphrase: []byte("pw"), KeyFile: "/k.key", Confirm: func(*DeviceInfo) error { return nil }}
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if _, err := config.AddDrives(cfg, []config.Drive{{Name: "A", UUID: "aaaaaaaa-1b3d-4f5a-9c7e-0d2f4a6b8c1e", Key: "prompt"}}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*PrepareOptions)
		want   error
		msg    string
	}{
		{"bad name", func(o *PrepareOptions) { o.Name = "a b" }, nil, `drive name "a b"`},
		{"long label", func(o *PrepareOptions) { o.Name = "a-very-long-drive-name" }, nil, "ext4 labels are 1-16 bytes"},
		{"no passphrase", func(o *PrepareOptions) { o.Passphrase = nil }, nil, "no recovery passphrase"},
		{"no confirm", func(o *PrepareOptions) { o.Confirm = nil }, nil, "no Confirm callback"},
		{"relative key", func(o *PrepareOptions) { o.KeyFile = "k.key" }, nil, "absolute key file path"},
		{"name in config", func(o *PrepareOptions) { o.ConfigPath = cfg }, config.ErrDuplicate, `drive name "A" is already used`},
		{"no device", func(o *PrepareOptions) {}, luksdrive.ErrNoDevice, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok()
			tt.change(&o)
			_, err := Prepare(context.Background(), "/dev/extdrive-test-none", &o)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Prepare = %v, want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
	if _, err := Prepare(context.Background(), "/dev/x", nil); err == nil {
		t.Error("nil options accepted")
	}
}
