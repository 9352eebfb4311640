package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
)

func newUmountCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "umount DIR|DEVICE|UUID=…|LABEL=…|DRIVE",
		Aliases: []string{"unmount"},
		Short:   "Flush and unmount a drive; name the processes that keep it busy",
		Long: `Umount flushes the filesystem (syncfs) and unmounts it. Given a device or
drive it unmounts every mount of the device or of its open LUKS mapping.
Nothing mounted is success. If the mount is busy, the processes holding it
are listed (like fuser -m) and exit code 6 is returned. The LUKS mapping
stays open: use lock to close it too.`,
		Example: `  extdrive umount /srv/backup
  extdrive umount UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUmount(cmd.Context(), a, args[0])
		},
	}
}

func runUmount(ctx context.Context, a *app, arg string) error {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		if err := luksdrive.Unmount(ctx, arg, &luksdrive.UnmountOptions{Logger: a.log}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "unmounted %s\n", arg)
		return nil
	}
	d, _, err := resolveDrive(a, arg)
	if err != nil {
		return err
	}
	var targets []string
	if d.MountPoint != "" {
		targets = append(targets, d.MountPoint)
	}
	dev, err := luksdrive.Find(ctx, d.Device, &luksdrive.FindOptions{Logger: a.log})
	switch {
	case err == nil:
		targets = append(targets, luksdrive.MountPoints(mappedDevice(a, dev))...)
		if src := mappedDevice(a, dev); src != dev {
			targets = append(targets, luksdrive.MountPoints(dev)...)
		}
	case len(targets) == 0:
		return err
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t] {
			continue
		}
		seen[t] = true
		if err := luksdrive.Unmount(ctx, t, &luksdrive.UnmountOptions{Logger: a.log}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "unmounted %s\n", t)
	}
	if len(seen) == 0 {
		fmt.Fprintf(a.stdout, "%s is not mounted\n", arg)
	}
	return nil
}
