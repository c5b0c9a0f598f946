package cli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
)

func newSkipBakeCmd(g *globals) *cobra.Command {
	var reason, selector string
	cmd := &cobra.Command{
		Use:   "skip-bake (SERVICE ENV | --selector K=V ENV) --reason R",
		Short: "End the bake of the newest release waiting for ENV now",
		Long: `The newest release waiting to enter ENV counts as baked now. The rest of the
gate still applies: a lock or a closed window still holds it.
With --selector it is done for every service whose labels match (each on
its own, on the record with the selector), and the services affected are
listed; a selector that matches no service is an error.`,
		Example: `  bakery skip-bake web production --reason "hotfix verified on staging"
  bakery skip-bake --selector team=payments production --reason "config-only change"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason is required: say why the bake may end early (it goes on the record)")
			}
			if selector != "" {
				if len(args) != 1 {
					return errors.New("with --selector give only the environment: bakery skip-bake --selector team=payments ENV --reason R")
				}
				sel, err := config.ParseSelector(selector)
				if err != nil {
					return fmt.Errorf("--selector: %w", err)
				}
				return skipBakeSelector(cmd, g, sel.String(), args[0], reason)
			}
			if len(args) != 2 {
				return errors.New("give SERVICE and ENV (or --selector team=payments ENV)")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Release api.ReleaseView `json:"release"`
			}
			path := "/api/v1/services/" + url.PathEscape(args[0]) + "/environments/" + url.PathEscape(args[1]) + "/skip-bake"
			if err := c.do(cmd.Context(), "POST", path, api.ReasonRequest{Reason: reason}, &out); err != nil {
				return fmt.Errorf("error skipping the bake into %s/%s: %w", args[0], args[1], err)
			}
			fmt.Fprintf(g.out, "%s counts as baked for %s; a lock or a closed window still holds it\n", termSafe(out.Release.Version), termSafe(args[1]))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&selector, "selector", "", "skip the bake into ENV of every service whose labels match, e.g. team=payments")
	return cmd
}

func skipBakeSelector(cmd *cobra.Command, g *globals, selector, env, reason string) error {
	c, err := newClient(g.server)
	if err != nil {
		return err
	}
	var out struct {
		Services []api.SkipBakeResult `json:"services"`
		Skipped  int                  `json:"skipped"`
	}
	path := "/api/v1/environments/" + url.PathEscape(env) + "/skip-bake"
	if err := c.do(cmd.Context(), "POST", path, api.SkipBakeRequest{Reason: reason, Selector: selector}, &out); err != nil {
		return fmt.Errorf("error skipping the bake into %s of the services matching %s: %w", env, selector, err)
	}
	for _, s := range out.Services {
		if s.Skipped && s.Release != nil {
			fmt.Fprintf(g.out, "%s: %s counts as baked for %s\n", termSafe(s.Service), termSafe(s.Release.Version), termSafe(env))
		} else {
			fmt.Fprintf(g.out, "%s: nothing skipped (%s)\n", termSafe(s.Service), termSafe(s.Why))
		}
	}
	fmt.Fprintf(g.out, "%d of %d service(s) matching %s skipped their bake; a lock or a closed window still holds them\n",
		out.Skipped, len(out.Services), termSafe(selector))
	return nil
}
