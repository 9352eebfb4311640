package spindown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Watch stops each disk once it has seen no I/O for opts.After, and logs
// when I/O spins it up again, until ctx is done (then it returns nil).
// Before stopping a disk it syncs every filesystem mounted on it (through
// partitions and dm-crypt), so a disk whose filesystem is being written is
// never stopped. A disk that takes no stop command is reported once and
// then only watched. Watch returns an error wrapping luksdrive.ErrNoDevice
// once every disk is gone.
func Watch(ctx context.Context, disks []Disk, opts *WatchOptions) error {
	if err := opts.check(); err != nil {
		return opErr("watch", "", err)
	}
	tk := time.NewTicker(opts.interval())
	defer tk.Stop()
	log := discardLogger
	if opts.Logger != nil {
		log = opts.Logger
	}
	w := &watcher{
		opts:  opts,
		log:   log,
		now:   time.Now,
		tick:  tk.C,
		stats: readDiskstats,
		flush: func(d Disk) error { return syncFilesystems(sysfs{root: "/sys", dev: "/dev"}, d) },
		stop:  func(ctx context.Context, d Disk) (Method, error) { return d.StandbyNow(ctx, opts.Power) },
	}
	names := make([]string, len(disks))
	for i, d := range disks {
		names[i] = d.Path
	}
	return opErr("watch", fmt.Sprint(names), w.run(ctx, slices.Clone(disks)))
}

func readDiskstats() ([]DiskStat, error) {
	f, err := os.Open("/proc/diskstats")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseDiskstats(f)
}

// syncFilesystems runs syncfs(2) on every read-write filesystem mounted
// from the disk or anything stacked on it.
func syncFilesystems(s sysfs, d Disk) error {
	stack, err := s.stack(d)
	if err != nil {
		return err
	}
	ms, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		_, on := stack[[2]uint32{uint32(m.Major), uint32(m.Minor)}]
		return !on, false
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if slices.Contains(strings.Split(m.Options, ","), "ro") {
			continue
		}
		fd, err := unix.Open(m.Mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", m.Mountpoint, err))
			continue
		}
		if err := unix.Syncfs(fd); err != nil {
			errs = append(errs, fmt.Errorf("syncfs %s: %w", m.Mountpoint, err))
		}
		unix.Close(fd)
	}
	return errors.Join(errs...)
}
