package luksdrive_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
)

// Specs are written the way fstab and crypttab users already know.
func ExampleParseSpec() {
	for _, s := range []string{`UUID="6C1D7A52-3B0E-4F7E-8A91-D4C2E5F60B18"`, "LABEL=Offsite B", "/dev/sdb1", "SERIAL=123"} {
		sp, err := luksdrive.ParseSpec(s)
		if err != nil {
			fmt.Println("error:", errors.Is(err, luksdrive.ErrBadSpec))
			continue
		}
		fmt.Println(sp)
	}
	// Output:
	// UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18
	// LABEL=Offsite B
	// /dev/sdb1
	// error: true
}

// Unlock a drive with the key file on a USB stick and mount it; run again,
// it does nothing. Release unmounts and locks it.
func ExampleEnsure() {
	ctx := context.Background()
	key, err := luksdrive.ParseKeyFileSpec("/keys/offsite.key:LABEL=KEYS")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := &luksdrive.Drive{
		Name:       "offsite-A",
		Device:     "UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18",
		Key:        key,
		MountPoint: "/srv/backup",
		Policy:     luksdrive.MountPolicy{Sync: true, NoAtime: true},
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	st, err := luksdrive.Ensure(ctx, d, &luksdrive.EnsureOptions{FindTimeout: 30 * time.Second, Logger: log})
	switch {
	case errors.Is(err, luksdrive.ErrNoDevice):
		fmt.Println("plug the drive in")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println("backup target:", st.MountPoint)
	if err := luksdrive.Release(ctx, d, nil); err != nil {
		fmt.Println(err)
	}
}
