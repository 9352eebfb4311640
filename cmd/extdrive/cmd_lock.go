package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive"
)

func newLockCmd(a *app) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "lock [--name NAME] DEVICE|UUID=…|LABEL=…|DRIVE|MAPPING",
		Short: "Flush, unmount and lock a drive",
		Long: `Lock flushes and unmounts every mount of the drive's LUKS mapping and
closes the mapping. What is already undone is skipped. It also works after
the drive was pulled, given the configured drive or the mapping name.`,
		Example: `  extdrive lock UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18
  extdrive lock offsite-A
  extdrive lock luks-6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLock(cmd.Context(), a, name, args[0])
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "device-mapper name of the mapping (default: the open mapping of the device)")
	return cmd
}

func runLock(ctx context.Context, a *app, name, arg string) error {
	var d *luksdrive.Drive
	// A bare open mapping name, as dmsetup ls shows it.
	if !strings.ContainsAny(arg, "/=") {
		if _, err := os.Stat("/dev/mapper/" + arg); err == nil {
			d = &luksdrive.Drive{MappingName: arg}
		}
	}
	if d == nil {
		var err error
		if d, _, err = resolveDrive(a, arg); err != nil {
			return err
		}
	}
	if name != "" {
		d.MappingName = name
	}
	led := interactiveLED(ctx, a)
	defer led.Close()
	if err := luksdrive.Release(ctx, d, &luksdrive.ReleaseOptions{Logger: a.log}); err != nil {
		led.Set(ctx, blinkstick.Failed)
		return err
	}
	led.Set(ctx, blinkstick.Done) // locked: safe to remove
	fmt.Fprintf(a.stdout, "locked %s\n", arg)
	return nil
}
