package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

func newStatusCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json] [DEVICE|UUID=…|LABEL=…|DRIVE...]",
		Short: "Show whether drives are present, unlocked and mounted, and their free space",
		Long: `Status reports, for each drive named (or every drive in the configuration
file when none is named): present or not, unlocked (mapping name), mounted
(where, with which options, and whether they meet the policy) and free
space. With no drive named it also shows the rotation: where each drive is
(here or away), its last good copy, which drive is due next and when, and
the last failure. It never reads a key and never changes anything.`,
		Example: `  extdrive status
  extdrive status --json UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), a, asJSON, args)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"drives": [...], "rotation": {...}} as JSON`)
	return cmd
}

// statusJSON is the shape of status --json. Rotation is present only when
// the drives come from the configuration file.
type statusJSON struct {
	Drives   []*luksdrive.Status  `json:"drives"`
	Rotation *rotate.StatusReport `json:"rotation,omitempty"`
}

func runStatus(ctx context.Context, a *app, asJSON bool, args []string) error {
	var (
		drives []*luksdrive.Drive
		cfg    *config.Config
	)
	if len(args) == 0 {
		var err error
		if cfg, err = config.Load(a.configPath); err != nil {
			return fmt.Errorf("no drive named and %w", err)
		}
		for i := range cfg.Drives {
			d, err := cfg.Drives[i].LuksDrive()
			if err != nil {
				return err
			}
			drives = append(drives, d)
		}
	}
	for _, arg := range args {
		d, _, err := resolveDrive(a, arg)
		if err != nil {
			return err
		}
		drives = append(drives, d)
	}
	out := statusJSON{Drives: make([]*luksdrive.Status, 0, len(drives))}
	for _, d := range drives {
		s, err := luksdrive.GetStatus(ctx, d)
		if err != nil {
			return err
		}
		out.Drives = append(out.Drives, s)
	}
	if cfg != nil {
		rep, err := rotate.Report(ctx, cfg, time.Now())
		if err != nil {
			return err
		}
		out.Rotation = rep
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range out.Drives {
		fmt.Fprintln(a.stdout, statusLine(s))
	}
	if out.Rotation != nil {
		fmt.Fprintln(a.stdout)
		return out.Rotation.WriteText(a.stdout, cfg)
	}
	return nil
}

func statusLine(s *luksdrive.Status) string {
	var b strings.Builder
	if s.Name != "" {
		fmt.Fprintf(&b, "%s (%s): ", s.Name, s.Spec)
	} else {
		fmt.Fprintf(&b, "%s: ", s.Spec)
	}
	if !s.Present {
		b.WriteString("absent")
		switch {
		case s.Mounted:
			fmt.Fprintf(&b, ", but still mounted at %s from %s (pulled without locking?): run extdrive lock", s.MountPoint, s.Mapping)
		case s.Unlocked:
			fmt.Fprintf(&b, ", but its mapping %s is still open: run extdrive lock", s.Mapping)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "present %s", s.Device)
	switch {
	case s.LUKSUUID == "" && !s.Unlocked:
		b.WriteString(", not LUKS")
	case !s.Unlocked:
		b.WriteString(", locked")
		return b.String()
	default:
		fmt.Fprintf(&b, ", unlocked as %s", s.Mapping)
	}
	if !s.Mounted {
		b.WriteString(", not mounted")
		return b.String()
	}
	fmt.Fprintf(&b, ", mounted at %s (%s %s), %s free of %s", s.MountPoint, s.FSType,
		strings.Join(s.Options, ","), config.Size(s.FreeBytes).Human(), config.Size(s.TotalBytes).Human())
	if !s.PolicyOK {
		fmt.Fprintf(&b, ", POLICY VIOLATED: %s", s.PolicyProblem)
	}
	return b.String()
}
