package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

func newLogCmd(a *app) *cobra.Command {
	var list bool
	c := &cobra.Command{
		Use:   "log DRIVE [RUN]",
		Short: "Show a rotation run's log (the newest by default)",
		Long: `Print the log of one rotation run of DRIVE: RUN is a run ID or a unique
prefix of one (for example 2026-11 or 20261122); without it, the newest.
--list shows every run still on record with its result.`,
		Args: wantArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(a.configPath)
			if err != nil {
				return err
			}
			d, ok := cfg.Drive(args[0])
			if !ok {
				return fmt.Errorf("drive %q: %w %s", args[0], rotate.ErrUnknownDrive, a.configPath)
			}
			if list {
				if len(args) > 1 {
					return usagef("--list takes no RUN")
				}
				return listRuns(a, cfg, d.Name)
			}
			run := ""
			if len(args) > 1 {
				run = args[1]
			}
			path, err := rotate.LogPath(cfg, d.Name, run)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(a.stdout, f)
			return err
		},
	}
	c.Flags().BoolVar(&list, "list", false, "list the drive's runs instead")
	return c
}

func listRuns(a *app, cfg *config.Config, drive string) error {
	h, err := rotate.ReadHistory(rotate.HostHistoryPath(cfg))
	if err != nil {
		return err
	}
	logs, err := rotate.ListLogs(cfg, drive)
	if err != nil {
		return err
	}
	haveLog := map[string]bool{}
	for _, id := range logs {
		haveLog[id] = true
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tRESULT\tSIZE\tTOOK\tLOG")
	n := 0
	for _, r := range h.Runs {
		if r.Drive != drive {
			continue
		}
		n++
		res := "ok"
		if !r.OK {
			res = "FAILED: " + r.Error
			if len(res) > 60 {
				res = res[:57] + "..."
			}
		}
		logCol := "rotated away"
		if haveLog[strings.TrimSuffix(r.Log, ".log")] {
			logCol = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.ID, res, config.Size(r.Bytes).Human(), r.Duration.Round(1e9), logCol)
	}
	if n == 0 {
		return fmt.Errorf("drive %s: %w: it has never run", drive, rotate.ErrNoRun)
	}
	return tw.Flush()
}
