package cli

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
)

// lockPath is the API path of the lock on SERVICE ENV, or on every
// service's ENV with --all, or on the services --selector matches.
func lockPath(all bool, selector string, args []string) (string, string, error) {
	if selector != "" {
		if all {
			return "", "", errors.New("give --all or --selector, not both: --all brakes every service, --selector those whose labels match")
		}
		if len(args) != 1 {
			return "", "", errors.New("with --selector give only the environment: bakery lock --selector team=payments ENV --reason R")
		}
		sel, err := config.ParseSelector(selector)
		if err != nil {
			return "", "", fmt.Errorf("--selector: %w", err)
		}
		return "/api/v1/environments/" + url.PathEscape(args[0]) + "/lock", sel.String() + "/" + args[0], nil
	}
	if all {
		if len(args) != 1 {
			return "", "", errors.New("with --all give only the environment: bakery lock --all ENV --reason R")
		}
		return "/api/v1/environments/" + url.PathEscape(args[0]) + "/lock", "every service's " + args[0], nil
	}
	if len(args) != 2 {
		return "", "", errors.New("give SERVICE and ENV (or --all ENV for every service, or --selector team=payments ENV)")
	}
	return "/api/v1/services/" + url.PathEscape(args[0]) + "/environments/" + url.PathEscape(args[1]) + "/lock",
		args[0] + "/" + args[1], nil
}

func newLockCmd(g *globals) *cobra.Command {
	var all bool
	var selector string
	var reason string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "lock (SERVICE ENV | --all ENV | --selector K=V ENV) --reason R [--expires 2h]",
		Short: "Stop automatic promotions into an environment (the brake)",
		Long: `Lock ENV of SERVICE, or of every service with --all (the incident button),
or of every service whose labels match --selector (key=value pairs joined by
commas, all of which must hold). A selector lock is one lock, shown as such
("locked: team=payments/production by ana: ..."); it holds every service
whose labels match when a promotion is decided, including services a later
config reload adds, and stops holding services relabelled out of it. It may
match no service now (the answer says so); it then waits for one.
While locked, no automatic promotion into ENV starts; once this command
returns, the lock holds — even for a promotion that was about to start.
Deployments already running finish. Lower environments keep deploying:
locking production never holds staging. The lock records who, why and when,
and holds until 'bakery unlock' or until --expires passes.`,
		Example: `  bakery lock web production --reason "checkout errors since 3f2c1ab"
  bakery lock --all production --reason "incident 42" --expires 2h
  bakery lock --selector team=payments production --reason "card network change freeze" --expires 2h`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, what, err := lockPath(all, selector, args)
			if err != nil {
				return err
			}
			if reason == "" {
				return errors.New("--reason is required: say why you lock (it goes on the record and in the status)")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			req := api.LockRequest{Reason: reason, Selector: canonical(selector)}
			if expires > 0 {
				req.Expires = expires.String()
			}
			var l api.LockView
			if err := c.do(cmd.Context(), "POST", path, req, &l); err != nil {
				return fmt.Errorf("error locking %s: %w", what, err)
			}
			fmt.Fprintf(g.out, "locked %s: %s", termSafe(what), termSafe(l.Reason))
			if l.ExpiresAt != nil {
				fmt.Fprintf(g.out, " (until %s)", l.ExpiresAt.Local().Format(time.DateTime))
			}
			fmt.Fprintln(g.out)
			if l.Matching != nil {
				fmt.Fprintf(g.out, "%s matches %d service(s) with %s now; it holds every service that matches when it decides\n",
					termSafe(l.Selector), *l.Matching, termSafe(l.Environment))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "lock ENV of every service")
	cmd.Flags().StringVar(&selector, "selector", "", "lock ENV of every service whose labels match, e.g. team=payments,tier=1 (one lock)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "release the lock by itself after this long (default: hold until unlocked)")
	return cmd
}

func newUnlockCmd(g *globals) *cobra.Command {
	var all bool
	var selector string
	var reason string
	cmd := &cobra.Command{
		Use:   "unlock (SERVICE ENV | --all ENV | --selector K=V ENV) [--reason R]",
		Short: "Release a lock; held promotions go at once",
		Long: `Release the lock on ENV of SERVICE (or, with --all, the lock on every
service's ENV, or with --selector the selector lock: the same selector, key
order and spaces do not matter). A release that is baked and inside its
window is promoted at once. Unlocking a service held only by the lock on
every service or by a selector lock says which lock to release.`,
		Example: `  bakery unlock web production --reason "fixed in 9d1e0c2"
  bakery unlock --selector team=payments production --reason "freeze over"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, what, err := lockPath(all, selector, args)
			if err != nil {
				return err
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Released api.LockView `json:"released"`
			}
			if err := c.do(cmd.Context(), "DELETE", path, api.UnlockRequest{Reason: reason, Selector: canonical(selector)}, &out); err != nil {
				return fmt.Errorf("error unlocking %s: %w", what, err)
			}
			fmt.Fprintf(g.out, "unlocked %s (locked by %s since %s: %s)\n", termSafe(what), termSafe(out.Released.Actor),
				out.Released.Since.Local().Format(time.DateTime), termSafe(out.Released.Reason))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "release the lock on ENV of every service")
	cmd.Flags().StringVar(&selector, "selector", "", "release the selector lock on ENV, e.g. team=payments")
	cmd.Flags().StringVar(&reason, "reason", "", "why (optional, goes on the record)")
	return cmd
}

// canonical is a selector in canonical form (lockPath checked it parses),
// "" for none.
func canonical(selector string) string {
	if selector == "" {
		return ""
	}
	sel, err := config.ParseSelector(selector)
	if err != nil {
		return selector
	}
	return sel.String()
}
