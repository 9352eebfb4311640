package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/extdrive/extdrive/luksdrive"
)

type mountFlags struct {
	check    bool
	fstype   string
	readOnly bool
	create   bool
	timeout  time.Duration
	policy   policyFlags
}

func newMountCmd(a *app) *cobra.Command {
	f := &mountFlags{}
	cmd := &cobra.Command{
		Use:   "mount [flags] DEVICE|UUID=…|LABEL=…|DRIVE [DIR]",
		Short: "Mount an unlocked drive with nodev,nosuid,noexec",
		Long: `Mount mounts a filesystem with nodev,nosuid,noexec always, plus the policy
flags, and checks the live mount options afterwards. A LUKS device whose
mapping is open is mounted through the mapping. DIR must be an empty
directory (--create makes it); for a configured DRIVE it defaults to the
drive's mount point. Mounting what is already mounted there is success.

With --check, nothing is mounted: the live mount at DIR (or the drive's
mount point) is checked against the policy; exit 8 names what is missing,
exit 18 means nothing is mounted there.`,
		Example: `  extdrive mount --sync --noatime UUID=3b4e28ba-2fa1-11d2-883f-0016d3cca427 /srv/backup
  extdrive mount offsite-A
  extdrive mount --check --sync /srv/backup`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("mount takes DEVICE and DIR (DIR may be left out for a configured drive); see extdrive mount --help")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMount(cmd.Context(), a, f, cmd.Flags(), args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.check, "check", false, "only check the live mount at DIR against the policy")
	fl.StringVar(&f.fstype, "fstype", "", "filesystem type (default: detected from the superblock)")
	fl.BoolVar(&f.readOnly, "read-only", false, "mount read-only")
	fl.BoolVar(&f.create, "create", false, "create the mount point if it does not exist")
	fl.DurationVar(&f.timeout, "timeout", 0, "wait this long for the device to appear")
	f.policy.add(fl)
	return cmd
}

func runMount(ctx context.Context, a *app, f *mountFlags, fl *pflag.FlagSet, args []string) error {
	if f.check {
		return runMountCheck(a, f, fl, args)
	}
	d, _, err := resolveDrive(a, args[0])
	if err != nil {
		return err
	}
	if len(args) == 2 {
		d.MountPoint = args[1]
	}
	if d.MountPoint == "" {
		return usagef("no mount point: give DIR")
	}
	if err := f.policy.apply(fl, &d.Policy); err != nil {
		return err
	}
	dev, err := luksdrive.Find(ctx, d.Device, &luksdrive.FindOptions{Timeout: f.timeout, Logger: a.log})
	if err != nil {
		return err
	}
	src := mappedDevice(a, dev)
	err = luksdrive.Mount(ctx, src, d.MountPoint, &luksdrive.MountOptions{
		Policy: d.Policy, FSType: f.fstype, ReadOnly: f.readOnly || d.ReadOnly, Create: f.create, Logger: a.log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "mounted %s at %s\n", src, d.MountPoint)
	return nil
}

// mappedDevice returns the open mapping's node for a LUKS device, or the
// device itself.
func mappedDevice(a *app, dev string) string {
	m, err := luksdrive.OpenMappingFor(dev)
	if err != nil {
		a.log.Debug("no mapping lookup", "device", dev, "err", err)
		return dev
	}
	if m != nil {
		return m.Path
	}
	return dev
}

func runMountCheck(a *app, f *mountFlags, fl *pflag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usagef("mount --check takes one DIR or DRIVE")
	}
	target := args[0]
	var pol luksdrive.MountPolicy
	if st, err := os.Stat(target); err != nil || !st.IsDir() {
		d, _, err := resolveDrive(a, target)
		if err != nil {
			return err
		}
		if d.MountPoint == "" {
			return usagef("mount --check: %s is not a directory", target)
		}
		target, pol = d.MountPoint, d.Policy
	}
	if err := f.policy.apply(fl, &pol); err != nil {
		return err
	}
	if err := luksdrive.CheckMount(target, pol); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s meets the policy\n", target)
	return nil
}
