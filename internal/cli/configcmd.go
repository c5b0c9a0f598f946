package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Look at a configuration file the way bakery reads it",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newConfigShowCmd())
	return cmd
}

func newConfigShowCmd() *cobra.Command {
	var path string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SERVICE [--config FILE] [--json]",
		Short: "Print one service's effective configuration and where each value came from",
		Long: `Print the effective configuration of one service: the merge of defaults,
the defaults.where entries whose selector matches its labels, the templates
it uses (use:) and the service itself, lowest first, with files read through
include. Each value is followed by a comment naming the file and line that
set it and the layer:

  bake: 2h # services/base.yaml:6 (template base)

where the layer is (defaults), (where SELECTOR), (template NAME) or (service).
Values are printed as written: ${VAR} references, relative paths and the
names of secret variables are never resolved, and bakery's built-in
defaults (such as deploy.timeout 10m) are not added. The configuration is
read from disk; no server is asked.

--json prints {"service", "layers", "config", "values"}, where values lists
every value as {"field", "value", "file", "line", "from"}.

An unknown service is an error naming the services with close names. If the
configuration has problems, the service is still printed when it could be
merged, the problems go to stderr, and the exit status is 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = os.Getenv("BAKERY_CONFIG")
			}
			if path == "" {
				return errors.New("--config (or BAKERY_CONFIG) is required: the YAML file to read")
			}
			shown, err := config.Show(path, args[0])
			var verr *config.ValidationError
			if err != nil && !errors.As(err, &verr) {
				return err
			}
			if shown != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if err := enc.Encode(shown); err != nil {
						return err
					}
				} else {
					fmt.Fprint(cmd.OutOrStdout(), shown.YAML)
				}
			}
			if verr != nil {
				for _, p := range verr.Problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				}
				return fmt.Errorf("%s has %d problem(s)", path, len(verr.Problems))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML; default $BAKERY_CONFIG)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
