package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/probe"
)

// Inspect runs Prepare's refusal checks on device (a whole disk) and
// returns what it holds, without changing anything.
func Inspect(ctx context.Context, device string, opts *InspectOptions) (*DeviceInfo, error) {
	var min int64
	if opts != nil {
		min = opts.MinSize
	}
	return realSystem.inspectPath(device, min)
}

func (s system) inspectPath(device string, minSize int64) (*DeviceInfo, error) {
	num, err := devNum(device)
	if err != nil {
		return nil, &luksdrive.OpError{Op: "prepare", Device: device, Err: err}
	}
	info, err := s.inspect(device, num, minSize)
	if err != nil {
		return nil, &luksdrive.OpError{Op: "prepare", Device: device, Err: err}
	}
	if res, err := probe.Device(device); err == nil {
		info.Contents = res
	}
	for i := range info.Partitions {
		if res, err := probe.Device(filepath.Join(s.dev, info.Partitions[i].Name)); err == nil {
			info.Partitions[i].Contents = res
		}
	}
	return info, nil
}

var driveNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Prepare erases device and makes it a backup drive: one GPT partition,
// LUKS2 with the recovery passphrase in keyslot 0, a new random key file
// (on the key stick or the host) in its own keyslot with an
// extdrive-keyfile token, ext4 labelled opts.Label, a header backup in
// opts.HeaderDir and an entry in opts.ConfigPath.
//
// Everything that can be checked is checked before opts.Confirm is asked
// and before the disk is touched: the disk (see Inspect), the name, the
// config, the key stick and that the key file does not exist yet. After
// that, the first failing step stops Prepare with a *StepError; the disk
// is then in an unknown state and Prepare can simply be run again.
func Prepare(ctx context.Context, device string, opts *PrepareOptions) (*Prepared, error) {
	if opts == nil {
		return nil, &luksdrive.OpError{Op: "prepare", Device: device, Err: errors.New("no options: a name, a passphrase and a Confirm callback are required")}
	}
	o := *opts
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fail := func(err error) (*Prepared, error) {
		return nil, &luksdrive.OpError{Op: "prepare", Device: device, Err: err}
	}
	step := func(s string) {
		log.Info("prepare", "step", s, "device", device)
		if o.OnStep != nil {
			o.OnStep(s)
		}
	}

	// Arguments first: nothing below may fail for a typo after the disk
	// has been erased.
	if !driveNameRE.MatchString(o.Name) {
		return fail(fmt.Errorf("drive name %q: want 1-64 letters, digits, '.', '_' or '-'", o.Name))
	}
	if o.Label == "" && len(o.Name) <= 16 {
		o.Label = o.Name
	}
	if o.Label == "" || len(o.Label) > 16 {
		return fail(fmt.Errorf("filesystem label %q: ext4 labels are 1-16 bytes; pass a shorter label", o.Label))
	}
	if len(o.Passphrase) == 0 {
		return fail(errors.New("no recovery passphrase: it is the way in when the key stick is lost"))
	}
	if o.Confirm == nil {
		return fail(errors.New("no Confirm callback: Prepare does not erase a disk unasked"))
	}
	if o.StickTimeout == 0 {
		o.StickTimeout = defaultStickTimeout
	}
	if o.KeyStick != "" && o.KeyFile == "" {
		o.KeyFile = "/extdrive/" + o.Name + ".key"
	}
	if o.KeyStick == "" && !filepath.IsAbs(o.KeyFile) {
		return fail(errors.New("no key stick and no absolute key file path: say where the new key file goes"))
	}
	if o.ConfigPath != "" {
		if err := checkConfig(o.ConfigPath, o.Name); err != nil {
			return fail(err)
		}
	}

	step("check")
	info, err := realSystem.inspectPath(device, o.MinSize)
	if err != nil {
		return nil, err
	}
	var stick, stickUUID string
	if o.FormatStick != "" {
		if info.Stick, err = checkBlankStick(o.KeyStick, o.FormatStick, info); err != nil {
			return fail(err)
		}
	} else if o.KeyStick != "" {
		if stick, stickUUID, err = findStick(ctx, o.KeyStick, o.StickTimeout, log); err != nil {
			return fail(err)
		}
		if disk, _ := diskOf(stick); disk == info.Name {
			return fail(fmt.Errorf("the key stick %s is on the disk being erased", stick))
		}
		if err := stickHasNo(ctx, stick, o.KeyFile, log); err != nil {
			return fail(err)
		}
	} else if _, err := os.Lstat(o.KeyFile); err == nil {
		return fail(fmt.Errorf("key file %s: %w; move it away or choose another path (it may be the key to another drive)", o.KeyFile, ErrExists))
	}
	if err := o.Confirm(info); err != nil {
		return fail(err)
	}

	r := newRunner(o.OnCommand, log)
	res := &Prepared{Device: device, PassphraseSlot: 0}
	uuid, err := newUUID()
	if err != nil {
		return nil, err
	}
	res.UUID = uuid

	if o.FormatStick != "" {
		step("key stick")
		if _, err := r.run(ctx, "key stick", nil, "mkfs.ext4", "-q", "-L", o.FormatStick, o.KeyStick); err != nil {
			return nil, err
		}
		fs, err := probe.Device(o.KeyStick)
		if err != nil || fs.UUID == "" {
			return fail(fmt.Errorf("the new filesystem on the key stick %s cannot be read back: %v", o.KeyStick, err))
		}
		stick, stickUUID = o.KeyStick, fs.UUID
	}

	step("partition")
	script := fmt.Sprintf("label: gpt\ntype=L, name=\"extdrive-%s\"\n", o.Name)
	if _, err := r.run(ctx, "partition", []byte(script), "sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions", "always", device); err != nil {
		return nil, err
	}
	part, err := waitPartition(ctx, info.Name)
	if err != nil {
		return fail(err)
	}
	res.Partition = part

	step("format")
	args := append([]string{"cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--uuid", uuid,
		"--label", o.Name, "--key-slot", "0", "--key-file", "-"}, o.KDF.args()...)
	if _, err := r.run(ctx, "format", o.Passphrase, append(args, part)...); err != nil {
		return nil, err
	}

	step("key file")
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	defer clear(key)
	keyPath, unmount := o.KeyFile, func() error { return nil }
	if stick != "" {
		dir, um, err := mountStick(ctx, stick, false, log)
		if err != nil {
			return fail(err)
		}
		unmount = um
		defer func() { unmount() }()
		if keyPath, err = keyPathIn(dir, o.KeyFile); err != nil {
			return fail(err)
		}
		res.Token.KeyDevice = "UUID=" + stickUUID
		res.Key = filepath.Clean(o.KeyFile) + ":UUID=" + stickUUID
	} else {
		res.Key = filepath.Clean(o.KeyFile)
	}
	if err := writeKeyFile(keyPath, key); err != nil {
		return fail(err)
	}
	res.KeySlot = 1
	res.Token.Keyslot, res.Token.KeyFile = 1, filepath.Clean(o.KeyFile)
	step("enroll key")
	if err := addKeyFile(ctx, r, part, res.KeySlot, []string{"--key-file", "-"}, o.Passphrase, keyPath, res.Token, o.KDF); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	if err := unmount(); err != nil {
		return fail(fmt.Errorf("unmount key stick %s: %w", stick, err))
	}
	unmount = func() error { return nil }

	step("filesystem")
	mapping := "extdrive-prepare-" + uuid[:8]
	if _, err := r.run(ctx, "filesystem", o.Passphrase, "cryptsetup", "open", "--key-file", "-", "--key-slot", "0", part, mapping); err != nil {
		return nil, err
	}
	_, mkfsErr := r.run(ctx, "filesystem", nil, "mkfs.ext4", "-q", "-m", "0", "-L", o.Label, "/dev/mapper/"+mapping)
	_, closeErr := r.run(context.WithoutCancel(ctx), "filesystem", nil, "cryptsetup", "close", mapping)
	if err := errors.Join(mkfsErr, closeErr); err != nil {
		return nil, err
	}

	if o.HeaderDir != "" {
		step("header backup")
		hb, err := BackupHeader(ctx, part, o.HeaderDir, &BackupOptions{Name: o.Name, OnCommand: o.OnCommand, Logger: log})
		if err != nil {
			return nil, err
		}
		res.HeaderBackup = hb
	}

	if o.ConfigPath != "" {
		step("config")
		d := config.Drive{Name: o.Name, UUID: uuid, Key: res.Key, MountPoint: o.MountPoint, Label: o.Label}
		needSource, err := config.AddDrives(o.ConfigPath, []config.Drive{d}, nil)
		if err != nil {
			return fail(err)
		}
		res.ConfigAdded, res.NeedSource = true, needSource
	}
	return res, nil
}

// checkConfig makes sure the drive can be added to the config file before
// the disk is erased: the file parses and the name is free. The UUID is
// not known yet; a fresh random one stands in.
func checkConfig(path, name string) error {
	probeUUID, err := newUUID()
	if err != nil {
		return err
	}
	_, err = config.AddDrives(path, []config.Drive{{Name: name, UUID: probeUUID, Key: "/check.key"}}, &config.AddOptions{DryRun: true})
	return err
}

// checkBlankStick runs the disk checks on a stick Prepare is to format
// (whole device, not mounted, not the system, not in a mapping) and
// refuses one that holds anything: only a blank stick is formatted
// unasked-for, since a stick with data may be someone's other key.
func checkBlankStick(stick, label string, disk *DeviceInfo) (*DeviceInfo, error) {
	if len(label) > 16 {
		return nil, fmt.Errorf("key stick label %q: ext4 labels are at most 16 bytes", label)
	}
	if !filepath.IsAbs(stick) {
		return nil, fmt.Errorf("formatting a key stick needs its /dev path, not %q (a blank stick has no UUID or label yet)", stick)
	}
	info, err := realSystem.inspectPath(stick, 1)
	if err != nil {
		return nil, err
	}
	if info.Name == disk.Name {
		return nil, fmt.Errorf("the key stick %s is the disk being erased", stick)
	}
	if info.Contents != nil || len(info.Partitions) > 0 {
		what := contentsOf(info)
		return nil, fmt.Errorf("key stick %s is not blank (%s): %w; only a blank stick is formatted, so format it yourself (mkfs.ext4 -L %s %s) or pick another", stick, what, ErrExists, label, stick)
	}
	return info, nil
}

func contentsOf(d *DeviceInfo) string {
	switch {
	case d.Contents != nil && d.Contents.Type != "":
		return "holds " + d.Contents.Type
	case d.Contents != nil && d.Contents.PTType != "":
		return "has a " + d.Contents.PTType + " partition table"
	}
	return fmt.Sprintf("has %d partition(s)", len(d.Partitions))
}

// stickHasNo checks, on the stick mounted read-only, that the key file
// does not exist yet.
func stickHasNo(ctx context.Context, stick, file string, log *slog.Logger) error {
	dir, unmount, err := mountStick(ctx, stick, true, log)
	if err != nil {
		return err
	}
	defer unmount()
	p, err := keyPathIn(dir, file)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("key file %s on %s: %w; choose another --key-file (it may be the key to another drive)", file, stick, ErrExists)
	}
	return nil
}

// diskOf returns the whole disk a partition node belongs to.
func diskOf(node string) (string, error) {
	num, err := devNum(node)
	if err != nil {
		return "", err
	}
	link, err := os.Readlink(filepath.Join(realSystem.sys, "dev/block", num))
	if err != nil {
		return "", err
	}
	return realSystem.disksUnder(filepath.Base(link), 0)[0], nil
}

// waitPartition waits for the kernel (and devtmpfs) to show partition 1
// after sfdisk re-read the table.
func waitPartition(ctx context.Context, disk string) (string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p := realSystem.partitionNode(disk, 1); p != "" {
			return p, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("partition 1 of /dev/%s did not appear after partitioning (loop devices need losetup -P)", disk)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newUUID returns a random RFC 4122 UUID, chosen here so the LUKS UUID is
// known before cryptsetup runs.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
