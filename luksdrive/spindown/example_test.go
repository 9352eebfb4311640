package spindown_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/extdrive/extdrive/luksdrive/spindown"
)

// The drive's own timer takes hdparm -S values; TimerFromDuration rounds
// a duration up to the next one the drive can hold.
func ExampleTimerFromDuration() {
	for _, d := range []time.Duration{10 * time.Minute, 25 * time.Minute, 2 * time.Hour} {
		v, err := spindown.TimerFromDuration(d)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%v: hdparm -S %d (%s)\n", d, v, v)
	}
	_, err := spindown.TimerFromDuration(8 * time.Hour)
	fmt.Println(err)
	// Output:
	// 10m0s: hdparm -S 120 (10 minutes)
	// 25m0s: hdparm -S 241 (30 minutes)
	// 2h0m0s: hdparm -S 244 (2 hours)
	// standby timer out of range: 8h0m0s is longer than the drive timer's 5h30m maximum; use the idle monitor (--watch) instead
}

// The monitor compares sectors moved, line by line of /proc/diskstats.
func ExampleParseDiskstats() {
	stats, err := spindown.ParseDiskstats(strings.NewReader(
		"   8       0 sda 2391 0 158318 20896 1102 1421 1024616 40118 0 13020 62440 0 0 0 0 93 1426\n" +
			" 254       0 dm-0 2234 0 152926 21900 2523 0 1024616 190356 0 13064 212256 0 0 0 0 0 0\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range stats {
		fmt.Printf("%s (%d:%d): %d sectors read, %d written\n", s.Name, s.Major, s.Minor, s.ReadSectors, s.WriteSectors)
	}
	// Output:
	// sda (8:0): 158318 sectors read, 1024616 written
	// dm-0 (254:0): 152926 sectors read, 1024616 written
}

// A typical use: find the disk under an unlocked backup drive and stop
// it. Resolve follows the dm-crypt mapping and the partition down to the
// disk, so the command never goes to the mapping itself.
func ExampleDisk_StandbyNow() {
	disks, err := spindown.Resolve("/dev/mapper/backup")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range disks {
		m, err := d.StandbyNow(context.Background(), nil)
		fmt.Println(d, m, err)
	}
}
