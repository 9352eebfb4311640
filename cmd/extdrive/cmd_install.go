package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/udevwatch/install"
)

func newInstallCmd(a *app) *cobra.Command {
	var (
		dryRun   bool
		root     string
		ledGroup string
		exe      string
	)
	c := &cobra.Command{
		Use:   "install",
		Short: "Install the udev rule and systemd units that start the job on insertion",
		Long: `Write a udev rule matching every configured drive by its LUKS UUID, which
asks systemd for extdrive@<UUID>.service; that template unit runs
"extdrive rotate" bound to the drive's device, so pulling the drive stops
it, and starts extdrive-failed@.service when the job fails. With
--led-group, also the BlinkStick rule letting GROUP drive the LED.

What was written is recorded in /var/lib/extdrive/install-manifest.json;
"extdrive uninstall" removes exactly that. Files install did not write, or
that were edited since, are never overwritten.

Exit codes: 60 a target file is not ours, 62 a drive or path cannot go
into a rule, 63 unreadable manifest; 20-21 configuration errors.`,
		Args: noArgsUsage,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(a.configPath)
			if err != nil {
				return err
			}
			cfgPath, err := filepath.Abs(a.configPath)
			if err != nil {
				return err
			}
			if exe == "" {
				if exe, err = os.Executable(); err == nil {
					exe, err = filepath.EvalSymlinks(exe)
				}
				if err != nil {
					return fmt.Errorf("cannot tell where extdrive is installed (%v); pass --exec PATH", err)
				}
			}
			opts := &install.Options{Root: root, Exec: exe, ConfigPath: cfgPath}
			for _, d := range cfg.Drives {
				opts.Drives = append(opts.Drives, install.Drive{Name: d.Name, UUID: d.UUID})
			}
			if ledGroup != "" {
				if !validGroup(ledGroup) {
					return usagef("--led-group %q is not a valid group name (letters, digits, '_', '-')", ledGroup)
				}
				opts.LEDRule = blinkstick.UdevRule(ledGroup)
			}
			if dryRun {
				files, err := install.Plan(opts)
				if err != nil {
					return err
				}
				for _, f := range files {
					fmt.Fprintf(a.stdout, "# ==> %s <==\n%s\n", filepath.Join(rootOr(root), f.Path), f.Data)
				}
				return nil
			}
			files, err := install.Install(cmd.Context(), opts)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(a.stdout, "wrote", filepath.Join(rootOr(root), f.Path))
			}
			if rootOr(root) == "/" {
				fmt.Fprintln(a.stdout, "now run: udevadm control --reload && systemctl daemon-reload")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the files instead of writing them")
	c.Flags().StringVar(&root, "root", "/", "install under this directory (packaging, tests)")
	c.Flags().StringVar(&ledGroup, "led-group", "", "also install the BlinkStick rule giving this group the LED")
	c.Flags().StringVar(&exe, "exec", "", "extdrive binary the units run (default: this one)")
	return c
}

func newUninstallCmd(a *app) *cobra.Command {
	var root string
	c := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove exactly what extdrive install wrote",
		Long: `Remove the files listed in the install manifest, and the manifest. If any
of them was edited since, nothing is removed.

Exit codes: 60 a file was edited since install, 61 nothing installed,
63 unreadable manifest.`,
		Args: noArgsUsage,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := install.Uninstall(cmd.Context(), root)
			for _, p := range removed {
				fmt.Fprintln(a.stdout, "removed", filepath.Join(rootOr(root), p))
			}
			return err
		},
	}
	c.Flags().StringVar(&root, "root", "/", "uninstall from under this directory")
	return c
}

func rootOr(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// validGroup accepts what groupadd does, so the rule cannot be broken
// out of by a quote.
func validGroup(g string) bool {
	if g == "" || len(g) > 32 || g[0] == '-' {
		return false
	}
	for _, c := range g {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
