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
		Long: `Check a configuration file, and the files it includes, and report every
problem with file, line and field. A problem in a value set by defaults, a
where entry or a template names the file and line where that value is
written, the field there (templates.base.environments[production].bake) and
the services it applied to. 'bakery config show SERVICE' prints what one
service ends up with.`,
		Args: cobra.NoArgs,
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
			files := ""
			if len(cfg.Files) > 0 {
				files = fmt.Sprintf(" from %d included file(s) and this one", len(cfg.Files))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d service(s), %d environment(s)%s\n", path, len(cfg.Services), envs, files)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	return cmd
}
