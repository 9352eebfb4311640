package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/crypttab"
	"github.com/extdrive/extdrive/luksdrive/probe"
)

func newImportCmd(a *app) *cobra.Command {
	var ctPath, fsPath string
	var write bool
	cmd := &cobra.Command{
		Use:   "import [--crypttab FILE] [--fstab FILE] [--write]",
		Short: "Turn crypttab/fstab lines for backup drives into drive entries",
		Long: `Import reads crypttab(5) and fstab(5) and maps each crypttab line, with
the fstab line that mounts its mapping (/dev/mapper/NAME or LABEL=NAME),
onto a drive entry. It reports every line: mapped, skipped (swap, plain
dm-crypt, the system's own volumes) or not mappable, with the reason.

With --write the mapped drives are added to the configuration file, which
must already exist and load (it needs your [[source]] directories). If
any line is invalid or cannot be mapped, nothing is written: fix or
comment out those lines and run again. Drives already in the file are
left as they are.`,
		Example: `  extdrive import
  extdrive import --crypttab /etc/crypttab --fstab /etc/fstab --write`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), a, ctPath, fsPath, write)
		},
	}
	cmd.Flags().StringVar(&ctPath, "crypttab", "/etc/crypttab", "crypttab file to read")
	cmd.Flags().StringVar(&fsPath, "fstab", "/etc/fstab", "fstab file to read (\"\" for none)")
	cmd.Flags().BoolVar(&write, "write", false, "add the mapped drives to the configuration file")
	return cmd
}

func runImport(ctx context.Context, a *app, ctPath, fsPath string, write bool) error {
	open := func(p string) (io.Reader, func(), error) {
		if p == "" {
			return nil, func() {}, nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, &luksdrive.OpError{Op: "import", Device: p, Err: err}
		}
		return f, func() { f.Close() }, nil
	}
	ct, closeCT, err := open(ctPath)
	if err != nil {
		return err
	}
	defer closeCT()
	fs, closeFS, err := open(fsPath)
	if err != nil {
		return err
	}
	defer closeFS()
	results, err := crypttab.Import(ct, fs, &crypttab.ImportOptions{
		CrypttabName: ctPath, FstabName: fsPath,
		// A drive named by path or PARTUUID is looked up if plugged in.
		ResolveUUID: func(dev string) (string, error) {
			node, err := luksdrive.Find(ctx, dev, &luksdrive.FindOptions{Logger: a.log})
			if err != nil {
				return "", err
			}
			r, err := probe.Device(node)
			if err != nil {
				return "", err
			}
			if r.Type != "crypto_LUKS" {
				return "", fmt.Errorf("%s holds %q, not LUKS", node, r.Type)
			}
			return r.UUID, nil
		},
	})
	if err != nil {
		return err
	}
	bad := 0
	var drives []config.Drive
	for _, r := range results {
		switch r.Status {
		case crypttab.Mapped:
			if d := r.Drive; d != nil {
				drives = append(drives, *d)
				mp := d.MountPoint
				if mp == "" {
					mp = "(default)"
				}
				fmt.Fprintf(a.stdout, "%s:%d: mapped: drive %s, UUID %s, key %s, mount point %s\n", r.File, r.Line, d.Name, d.UUID, d.Key, mp)
			} else {
				fmt.Fprintf(a.stdout, "%s:%d: mapped: %s\n", r.File, r.Line, r.Reason)
			}
		case crypttab.Skipped:
			fmt.Fprintf(a.stdout, "%s:%d: skipped: %s\n", r.File, r.Line, r.Reason)
		default:
			bad++
			fmt.Fprintf(a.stdout, "%s:%d: %s: %s\n", r.File, r.Line, r.Status, r.Reason)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(a.stdout, "    note: %s\n", n)
		}
	}
	if bad > 0 {
		what := "nothing written"
		if !write {
			what = "fix them before --write"
		}
		return fmt.Errorf("%w: %d line(s) above; %s", crypttab.ErrUnmappable, bad, what)
	}
	if len(drives) == 0 {
		fmt.Fprintln(a.stdout, "No backup drives found in these files.")
		return nil
	}
	if !write {
		fmt.Fprintf(a.stdout, "Run again with --write to add %d drive(s) to %s.\n", len(drives), a.configPath)
		return nil
	}
	// Conflicts are found before anything is written.
	cfg, err := config.Load(a.configPath)
	if err != nil && !errors.Is(err, config.ErrNoConfig) && !errors.Is(err, config.ErrInvalid) {
		return err
	}
	var add []config.Drive
	for _, d := range drives {
		if cfg == nil {
			add = append(add, d)
			continue
		}
		byName, nameUsed := cfg.Drive(d.Name)
		byUUID, uuidUsed := cfg.Drive(d.UUID)
		switch {
		case nameUsed && strings.EqualFold(byName.UUID, d.UUID):
			fmt.Fprintf(a.stdout, "%s: already in %s, left as it is\n", d.Name, a.configPath)
		case nameUsed:
			return fmt.Errorf("%w: drive name %q is already used by UUID %s in %s; rename the crypttab line or the configured drive", config.ErrDuplicate, d.Name, byName.UUID, a.configPath)
		case uuidUsed:
			return fmt.Errorf("%w: UUID %s is already drive %q in %s", config.ErrDuplicate, d.UUID, byUUID.Name, a.configPath)
		default:
			add = append(add, d)
		}
	}
	if len(add) == 0 {
		return nil
	}
	needSource, err := config.AddDrives(a.configPath, add, nil)
	if err != nil {
		return err
	}
	for _, d := range add {
		fmt.Fprintf(a.stdout, "%s: added to %s\n", d.Name, a.configPath)
	}
	if needSource {
		fmt.Fprintf(a.stdout, "Now add your [[source]] directories to %s (see extdrive config check).\n", a.configPath)
	}
	return nil
}
