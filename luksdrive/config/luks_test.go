package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive"
)

func TestLuksDrive(t *testing.T) {
	c, err := Load(filepath.Join(testdata, "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	slot := 2
	c.Drives[1].KeySlot = &slot
	c.Drives[1].KeyOffset, c.Drives[1].KeySize = 512, 4096
	var got []*luksdrive.Drive
	for i := range c.Drives {
		d, err := c.Drives[i].LuksDrive()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []*luksdrive.Drive{
		{Name: "offsite-1", Device: "UUID=5b8f3a2e-1c4d-4e6f-9a0b-7c2d1e3f4a5b",
			Key:         luksdrive.Key{File: "/etc/extdrive/keys/offsite-1.key", Slot: luksdrive.AnySlot},
			MappingName: "extbackup1", MountPoint: "/extbackup",
			Policy: luksdrive.MountPolicy{NoAtime: true, NoDirAtime: true}},
		{Name: "offsite-2", Device: "UUID=c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
			Key: luksdrive.Key{File: "/file", FileDevice: "UUID=3f9c2b1a-7d6e-4f5a-8b9c-0d1e2f3a4b5c",
				Offset: 512, Size: 4096, Slot: 2, DeviceTimeout: 30 * time.Second},
			MappingName: "extbackup2", MountPoint: "/extbackup",
			Policy: luksdrive.MountPolicy{NoAtime: true, NoDirAtime: true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LuksDrive (-want +got):\n%s", diff)
	}

	// "prompt": no key source; the mapping defaults to the library's name.
	d := Drive{Name: "p", UUID: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", Key: KeyPrompt, Sync: true}
	ld, err := d.LuksDrive()
	if err != nil {
		t.Fatal(err)
	}
	if ld.Key.File != "" || ld.Key.Passphrase != nil || ld.Key.Slot != luksdrive.AnySlot ||
		ld.MappingName != "luks-0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9" || !ld.Policy.Sync || !ld.Policy.NoAtime {
		t.Errorf("prompt drive converted to %+v", ld)
	}
}
