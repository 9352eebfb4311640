package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/provision"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

func newHeaderBackupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "header-backup DIR [DRIVE...]",
		Short: "Back up and verify the LUKS header of every configured drive",
		Long: `Header-backup writes the LUKS header of each configured drive that is
plugged in (or only the DRIVEs named) into DIR with cryptsetup
luksHeaderBackup, records its SHA-256 in DIR/SHA256SUMS, and verifies the
copy against the drive and the checksum.

A damaged header makes the whole drive unreadable, whatever the keys. Keep
DIR somewhere other than the drives and this host's disk. Drives that are
not plugged in are listed; the command then exits 4 so a script notices.`,
		Example: `  extdrive header-backup /root/luks-headers
  extdrive header-backup /media/usb/headers offsite-A`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usagef("header-backup needs the directory to write to; see extdrive header-backup --help")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHeaderBackup(cmd.Context(), a, args[0], args[1:])
		},
	}
	return cmd
}

func runHeaderBackup(ctx context.Context, a *app, dir string, names []string) error {
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	drives := cfg.Drives
	if len(names) > 0 {
		drives = nil
		for _, n := range names {
			d, ok := cfg.Drive(n)
			if !ok {
				return fmt.Errorf("%q: %w %s", n, rotate.ErrUnknownDrive, a.configPath)
			}
			drives = append(drives, *d)
		}
	}
	if len(drives) == 0 {
		return fmt.Errorf("%w: no drives in %s", rotate.ErrUnknownDrive, a.configPath)
	}
	var missing []string
	done := 0
	for _, d := range drives {
		dev, err := luksdrive.Find(ctx, d.Spec(), &luksdrive.FindOptions{Logger: a.log})
		if errors.Is(err, luksdrive.ErrNoDevice) {
			fmt.Fprintf(a.stdout, "%s: not plugged in, skipped\n", d.Name)
			missing = append(missing, d.Name)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		hb, err := provision.BackupHeader(ctx, dev, dir, &provision.BackupOptions{
			Name:      d.Name,
			Logger:    a.log,
			OnCommand: func(argv []string) { fmt.Fprintf(a.stdout, "+ %s\n", strings.Join(argv, " ")) },
		})
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		done++
		fmt.Fprintf(a.stdout, "%s: %s (%d bytes, sha256 %s), verified against %s\n", d.Name, hb.File, hb.Size, hb.SHA256, dev)
	}
	if done > 0 {
		fmt.Fprintf(a.stdout, "Keep a copy of %s somewhere other than the drives and this host's disk; check it with: cd %s && sha256sum -c %s\n", dir, dir, provision.ChecksumFile)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %d of %d drives not plugged in (%s); plug them in and run again", luksdrive.ErrNoDevice, len(missing), len(drives), strings.Join(missing, ", "))
	}
	return nil
}
