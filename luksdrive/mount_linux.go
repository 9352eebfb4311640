package luksdrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/extdrive/extdrive/luksdrive/probe"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mount mounts the filesystem on device at target with nodev, nosuid and
// noexec plus opts.Policy, then reads the live mount back from
// /proc/self/mountinfo and fails (unmounting again) if anything enforced
// is missing.
//
// It is idempotent: if the same filesystem is already mounted at target
// with options at least as strict, Mount returns nil. Already mounted at
// target or elsewhere with weaker options is ErrPolicy, naming the missing
// option. The target must be an empty directory (ErrMountPoint).
func Mount(ctx context.Context, device, target string, opts *MountOptions) error {
	if opts == nil {
		opts = &MountOptions{}
	}
	log := logOrDiscard(opts.Logger)
	if err := ctx.Err(); err != nil {
		return opErr("mount", device, err)
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return opErr("mount", target, err)
	}
	target = abs

	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return opErr("mount", device, err)
	}
	same := sameSource(device, opts.FSType)
	for _, m := range mounts {
		if !same(m) {
			continue
		}
		if missing := missingOptions(m, opts.Policy, opts.ReadOnly); len(missing) > 0 {
			where := "at " + m.Mountpoint
			if m.Mountpoint != target {
				where = "elsewhere, at " + m.Mountpoint + ","
			}
			return opErr("mount", device, fmt.Errorf("%w: already mounted %s without %s; unmount it first", ErrPolicy, where, strings.Join(missing, ",")))
		}
		if m.Mountpoint == target {
			log.Info("already mounted", "device", device, "target", target)
			return nil
		}
	}
	for _, m := range mounts {
		if m.Mountpoint == target {
			return opErr("mount", target, fmt.Errorf("%w: %s is already mounted there; unmount it or pick another mount point", ErrMountPoint, m.Source))
		}
	}
	if err := checkMountPoint(target, opts.Create); err != nil {
		return opErr("mount", target, err)
	}

	fstype := opts.FSType
	if fstype == "" {
		res, err := probe.Device(device)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return opErr("mount", device, fmt.Errorf("%w: no such device", ErrNoDevice))
		case errors.Is(err, os.ErrPermission):
			return opErr("mount", device, fmt.Errorf("%w: reading the device needs root", ErrPermission))
		case errors.Is(err, probe.ErrUnknown):
			return opErr("mount", device, fmt.Errorf("%w: no filesystem found; format it or name the right partition", ErrNoFilesystem))
		case err != nil:
			return opErr("mount", device, err)
		case res.Type == "crypto_LUKS":
			return opErr("mount", device, fmt.Errorf("%w: this is a locked LUKS volume; unlock it first (extdrive unlock)", ErrNoFilesystem))
		case res.Type == "":
			return opErr("mount", device, fmt.Errorf("%w: this is a partitioned disk; name one of its partitions", ErrNoFilesystem))
		}
		fstype = res.Type
	}

	flags, data := mountFlags(fstype, opts)
	log.Info("mounting", "device", device, "target", target, "fstype", fstype, "options", optionString(flags, data))
	if err := unix.Mount(device, target, fstype, flags, data); err != nil {
		return opErr("mount", device, mountErrno(err, fstype))
	}
	if err := applyOwner(target, fstype, opts); err != nil {
		_ = unix.Unmount(target, 0)
		return opErr("mount", target, err)
	}
	if err := CheckMount(target, opts.Policy); err != nil {
		// A kernel or filesystem that silently drops an option must not
		// leave a weaker mount behind.
		_ = unix.Unmount(target, 0)
		return err
	}
	return nil
}

// sameSource returns a matcher for mountinfo entries of the filesystem on
// device: by device number for block devices, by source name otherwise
// (tmpfs and other virtual filesystems).
func sameSource(device, fstype string) func(*mountinfo.Info) bool {
	var st unix.Stat_t
	if err := unix.Stat(device, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
		maj, min := int(unix.Major(st.Rdev)), int(unix.Minor(st.Rdev))
		return func(m *mountinfo.Info) bool { return m.Major == maj && m.Minor == min }
	}
	return func(m *mountinfo.Info) bool {
		return m.Source == device && (fstype == "" || m.FSType == fstype) && !strings.HasPrefix(device, "/")
	}
}

func checkMountPoint(target string, create bool) error {
	st, err := os.Stat(target)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return fmt.Errorf("%w: %s does not exist; create it (mkdir) or pass --create", ErrMountPoint, target)
		}
		return os.MkdirAll(target, 0o755)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrMountPoint, target)
	}
	d, err := os.Open(target)
	if err != nil {
		return err
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		// Mounting over files hides them; a backup script that "worked"
		// into the bare directory would then lose its output.
		return fmt.Errorf("%w: %s is not empty (holds %q); empty it or pick another mount point", ErrMountPoint, target, names[0])
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// unixOwnerless filesystems take ownership as mount options.
var unixOwnerless = []string{"vfat", "exfat", "ntfs", "ntfs3", "msdos"}

func mountFlags(fstype string, opts *MountOptions) (uintptr, string) {
	flags := uintptr(unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC)
	p := opts.Policy
	if p.Sync {
		flags |= unix.MS_SYNCHRONOUS
	}
	if p.NoAtime {
		flags |= unix.MS_NOATIME
	}
	if p.NoDirAtime {
		flags |= unix.MS_NODIRATIME
	}
	if opts.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	var data []string
	if o := p.Owner; o != nil && slices.Contains(unixOwnerless, fstype) {
		data = append(data, fmt.Sprintf("uid=%d", o.UID), fmt.Sprintf("gid=%d", o.GID))
		if o.Mode != 0 {
			data = append(data, fmt.Sprintf("umask=%03o", ^uint32(o.Mode.Perm())&0o777))
		}
	}
	if o := p.Owner; o != nil && fstype == "tmpfs" {
		data = append(data, fmt.Sprintf("uid=%d", o.UID), fmt.Sprintf("gid=%d", o.GID))
		if o.Mode != 0 {
			data = append(data, fmt.Sprintf("mode=%03o", uint32(o.Mode.Perm())))
		}
	}
	return flags, strings.Join(data, ",")
}

func optionString(flags uintptr, data string) string {
	var o []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NOEXEC, "noexec"},
		{unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"}} {
		if flags&f.bit != 0 {
			o = append(o, f.name)
		}
	}
	if data != "" {
		o = append(o, data)
	}
	return strings.Join(o, ",")
}

func applyOwner(target, fstype string, opts *MountOptions) error {
	o := opts.Policy.Owner
	if o == nil || slices.Contains(unixOwnerless, fstype) || fstype == "tmpfs" || opts.ReadOnly {
		return nil
	}
	if err := os.Lchown(target, o.UID, o.GID); err != nil {
		return err
	}
	if o.Mode != 0 {
		return os.Chmod(target, o.Mode.Perm())
	}
	return nil
}

func mountErrno(err error, fstype string) error {
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: the device is in use (mounted or opened exclusively elsewhere)", ErrBusy)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: mounting needs root", ErrPermission)
	case errors.Is(err, unix.ENOTBLK):
		return fmt.Errorf("%w: not a block device; attach an image with losetup first", ErrNoFilesystem)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: the kernel does not support filesystem type %s (load its module)", ErrUnsupported, fstype)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EUCLEAN):
		return fmt.Errorf("%w: %s superblock is invalid or the options are wrong for it; run fsck", ErrNoFilesystem, fstype)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	return err
}

// CheckMount reads the live mount at target from /proc/self/mountinfo and
// returns ErrPolicy naming every enforced or policy option it lacks, or
// ErrNotMounted when nothing is mounted there.
func CheckMount(target string, p MountPolicy) error {
	m, err := mountAt(target)
	if err != nil {
		return opErr("check mount", target, err)
	}
	if missing := missingOptions(m, p, false); len(missing) > 0 {
		return opErr("check mount", target, fmt.Errorf("%w: live mount lacks %s; unmount and mount it with extdrive", ErrPolicy, strings.Join(missing, ",")))
	}
	if o := p.Owner; o != nil {
		var st unix.Stat_t
		if err := unix.Stat(target, &st); err != nil {
			return opErr("check mount", target, err)
		}
		if int(st.Uid) != o.UID || int(st.Gid) != o.GID {
			return opErr("check mount", target, fmt.Errorf("%w: mount root is owned by %d:%d, policy wants %d:%d", ErrPolicy, st.Uid, st.Gid, o.UID, o.GID))
		}
		if o.Mode != 0 && os.FileMode(st.Mode&0o777) != o.Mode.Perm() {
			return opErr("check mount", target, fmt.Errorf("%w: mount root has mode %03o, policy wants %03o", ErrPolicy, st.Mode&0o777, o.Mode.Perm()))
		}
	}
	return nil
}

// mountAt returns the topmost mount at target.
func mountAt(target string) (*mountinfo.Info, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(abs))
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: nothing is mounted at %s", ErrNotMounted, abs)
	}
	// Several mounts stacked at one point: the last one listed is on top
	// and is the one users see.
	return ms[len(ms)-1], nil
}

func missingOptions(m *mountinfo.Info, p MountPolicy, readOnly bool) []string {
	// Per-mount flags (nodev, noexec, noatime, ro) are in Options; "sync"
	// is a superblock flag and shows in VFSOptions.
	perMount := strings.Split(m.Options, ",")
	super := strings.Split(m.VFSOptions, ",")
	has := func(o string) bool { return slices.Contains(perMount, o) || slices.Contains(super, o) }
	var missing []string
	for _, o := range enforced {
		if !has(o) {
			missing = append(missing, o)
		}
	}
	if p.Sync && !has("sync") {
		missing = append(missing, "sync")
	}
	if p.NoAtime && !has("noatime") {
		missing = append(missing, "noatime")
	}
	if p.NoDirAtime && !has("nodiratime") && !has("noatime") {
		missing = append(missing, "nodiratime")
	}
	if readOnly && !has("ro") {
		missing = append(missing, "ro")
	}
	return missing
}

// Unmount flushes the filesystem at target (syncfs, so a drive pulled
// right after is consistent) and unmounts it. Nothing mounted there is
// success. A busy mount fails with ErrBusy naming the processes that hold
// it, as fuser -m would.
func Unmount(ctx context.Context, target string, opts *UnmountOptions) error {
	var log = discard
	if opts != nil {
		log = logOrDiscard(opts.Logger)
	}
	if err := ctx.Err(); err != nil {
		return opErr("unmount", target, err)
	}
	m, err := mountAt(target)
	if errors.Is(err, ErrNotMounted) {
		log.Info("not mounted", "target", target)
		return nil
	}
	if err != nil {
		return opErr("unmount", target, err)
	}
	target = m.Mountpoint
	if err := syncFS(target); err != nil {
		log.Warn("syncfs failed; unmount flushes anyway", "target", target, "err", err)
	}
	log.Info("unmounting", "target", target, "device", m.Source)
	err = unix.Unmount(target, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EBUSY):
		holders, herr := Holders(target)
		if herr != nil {
			log.Debug("listing holders failed", "err", herr)
		}
		return opErr("unmount", target, &BusyError{Target: target, Holders: holders})
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return opErr("unmount", target, fmt.Errorf("%w: unmounting needs root", ErrPermission))
	case errors.Is(err, unix.EINVAL):
		// Unmounted by someone else between the lookup and now.
		return nil
	}
	return opErr("unmount", target, err)
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
