package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func newConfigCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with every default filled in",
		Long: `Validate the configuration file (--config) and print the effective
configuration. Every problem is reported as FILE:LINE: KEY: what is wrong;
unknown keys are errors, so a misspelt key cannot silently disable anything.`,
		Args: wantArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(a.configPath)
			if err != nil {
				var es config.Errors
				if errors.As(err, &es) && len(es) > 1 {
					// One line per problem so all of them get fixed in one go;
					// the summary line below carries the exit code.
					for _, e := range es {
						fmt.Fprintln(a.stderr, e)
					}
					return fmt.Errorf("%s: %d problems: %w", a.configPath, len(es), config.ErrInvalid)
				}
				return err
			}
			return config.Encode(a.stdout, cfg)
		},
	})
	return c
}
