package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/config"
)

func newValidateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration file and report every problem with file, line and field",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = os.Getenv("BAKERY_CONFIG")
			}
			if path == "" {
				return errors.New("--config (or BAKERY_CONFIG) is required: the YAML file to check")
			}
			cfg, err := config.Load(path)
			var verr *config.ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				}
				return fmt.Errorf("%s has %d problem(s)", path, len(verr.Problems))
			}
			if err != nil {
				return err
			}
			envs := 0
			for _, s := range cfg.Services {
				envs += len(s.Environments)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d service(s), %d environment(s)\n", path, len(cfg.Services), envs)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	return cmd
}
