package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
	"github.com/extdrive/extdrive/udevwatch"
	"github.com/extdrive/extdrive/udevwatch/install"
)

func newHandleEventCmd(a *app) *cobra.Command {
	var failed string
	c := &cobra.Command{
		Use:   "handle-event",
		Short: "Quick work for a udev RUN+= rule (logging); never the job itself",
		Long: `Read the udev environment (ACTION, DEVPATH, DEVNAME, ID_FS_UUID, ...) and log
what the event means for the configured drives. udev kills RUN+= programs
after a short timeout, so this never starts the backup: the installed
rule hands that to systemd. With --job-failed DRIVE it reports a failed
job instead (extdrive-failed@.service runs it): the LED turns red and,
when the job could not report the failure itself (it was killed, timed
out or crashed, as systemd's MONITOR_* variables tell), the failure ping
and the on_failure command run.

Exit codes: 65 the udev environment is missing or malformed; 20-21
configuration errors.`,
		Args: noArgsUsage,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(a.configPath)
			if err != nil {
				return err
			}
			if failed != "" {
				d, ok := cfg.Drive(failed)
				if !ok {
					return usagef("--job-failed %q: no such drive in %s", failed, a.configPath)
				}
				a.log.Error("backup job failed", "drive", d.Name, "uuid", d.UUID,
					"see", "journalctl -u "+install.InstanceUnit(d.UUID))
				_, err := rotate.ReportFailedJob(cmd.Context(), cfg, d, rotate.FailedJobFromEnv(os.Getenv), &rotate.FailureOptions{Logger: a.log})
				return err
			}
			env := map[string]string{}
			for _, kv := range os.Environ() {
				// Unset and empty are the same to a udev rule.
				if k, v, ok := strings.Cut(kv, "="); ok && v != "" {
					env[k] = v
				}
			}
			ev, err := udevwatch.EventFromEnv(env)
			if err != nil {
				return fmt.Errorf("%w (handle-event reads the environment udev gives RUN+= programs; run it from a udev rule)", err)
			}
			for _, d := range cfg.Drives {
				if (udevwatch.Matcher{LUKSUUID: d.UUID}).Match(ev) {
					a.log.Info("configured drive "+ev.Action.String(), "drive", d.Name, "dev", ev.DevNode, "serial", ev.Serial)
					return nil
				}
			}
			a.log.Debug("device is not a configured drive", "event", ev.String())
			return nil
		},
	}
	c.Flags().StringVar(&failed, "job-failed", "", "report that DRIVE's job failed")
	return c
}
