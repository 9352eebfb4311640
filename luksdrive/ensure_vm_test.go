//go:build vmguest

package luksdrive

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
	"github.com/moby/sys/mountinfo"
)

// TestGuestEnsure runs the whole chain on a hot-plugged USB drive: Ensure,
// Ensure again (nothing changes), GetStatus, Release, Release again.
func TestGuestEnsure(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := devCtx(t)
	key := devKey(t, "ensure key")
	img := devImage(t, m, "drive", 16<<20)
	const luksUUID = "22222222-3333-4444-8555-666666666666"
	devLUKSExt4(t, img, luksUUID, "bbbbbbbb-3333-4444-8555-666666666666", key)
	dev := devPlug(t, m, ctx, "drive", img)

	target := filepath.Join(t.TempDir(), "offsite")
	d := &Drive{
		Name:       "offsite-A",
		Device:     "UUID=" + luksUUID,
		Key:        Key{File: key, Slot: AnySlot},
		MountPoint: target,
		Policy:     MountPolicy{NoAtime: true},
	}
	st, err := Ensure(ctx, d, &EnsureOptions{CreateMountPoint: true, FindTimeout: 0})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if st.Device != dev || !st.Unlocked || !st.Mounted || st.Mapping.Name != DefaultMappingName(luksUUID) {
		t.Errorf("first Ensure: %+v (mapping %+v), want device %s, unlocked and mounted", st, st.Mapping, dev)
	}
	st, err = Ensure(ctx, d, nil)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if st.Unlocked || st.Mounted || st.MountPoint != target {
		t.Errorf("second Ensure did something: %+v", st)
	}
	ms, _ := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target))
	if len(ms) != 1 {
		t.Errorf("%d mounts at %s after two Ensures, want 1", len(ms), target)
	}

	s, err := GetStatus(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Present || !s.Unlocked || !s.Mounted || !s.PolicyOK || s.MountPoint != target || s.FSType != "ext4" ||
		s.FreeBytes == 0 || s.TotalBytes < s.FreeBytes || !slices.Contains(s.Options, "noexec") || s.LUKSUUID != luksUUID {
		t.Errorf("GetStatus while mounted: %+v", s)
	}

	if err := Release(ctx, d, nil); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if names := dmNames(t); len(names) != 0 {
		t.Errorf("mappings left after Release: %v", names)
	}
	if err := Release(ctx, d, nil); err != nil {
		t.Errorf("second Release: %v", err)
	}
	s, err = GetStatus(ctx, d)
	if err != nil || !s.Present || s.Unlocked || s.Mounted {
		t.Errorf("GetStatus after Release: %+v, %v", s, err)
	}

	// A failing mount (mount point not empty) leaves the drive locked.
	if err := os.WriteFile(filepath.Join(target, "stray"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, d, nil); !errors.Is(err, ErrMountPoint) {
		t.Errorf("Ensure onto a non-empty mount point: %v, want ErrMountPoint", err)
	}
	if names := dmNames(t); len(names) != 0 {
		t.Errorf("a failed Ensure left mappings open: %v", names)
	}
	os.Remove(filepath.Join(target, "stray"))

	// Pulled while mounted: Release still unmounts and locks.
	if _, err := Ensure(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Unplug(ctx, "drive"); err != nil {
		t.Fatal(err)
	}
	if err := Release(ctx, d, nil); err != nil {
		t.Fatalf("Release after the drive was pulled: %v", err)
	}
	if names := dmNames(t); len(names) != 0 {
		t.Errorf("mappings left after pulled Release: %v", names)
	}
	if ms, _ := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target)); len(ms) != 0 {
		t.Errorf("still mounted after pulled Release")
	}
	s, err = GetStatus(ctx, d)
	if err != nil || s.Present {
		t.Errorf("GetStatus after the pull: %+v, %v", s, err)
	}
}
