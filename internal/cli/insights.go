package cli

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/insights"
)

func newInsightsCmd(g *globals) *cobra.Command {
	var asJSON bool
	var since, until, failureWindow string
	cmd := &cobra.Command{
		Use:   "insights [SERVICE]",
		Short: "Show delivery metrics: deployment frequency, lead time and where it went, change failure rate, recovery, locks",
		Long: `Show delivery insights computed from the event log, for SERVICE or for every
service: production deployments and their frequency, lead time (commit to
production; p50, p90) and its breakdown into time to staging, bake, held by
a lock, by a window, by checks, canary and the way to production; change
failure rate, releases caught before production, failed deployment recovery
time, rework rate, and each lock with the releases that piled up behind it.
The definitions are in docs/INSIGHTS.md.

--since is an age (30d, 12h, 90m) or an RFC3339 time; so is --until.`,
		Example: `  bakery insights
  bakery insights web --since 7d
  bakery insights --since 2026-01-01T00:00:00Z --until 2026-02-01T00:00:00Z --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			q := url.Values{}
			for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
				if f.v == "" {
					continue
				}
				if _, err := api.ParseSince(f.v, now); err != nil {
					return fmt.Errorf("--%s %q: %v; write an age like 30d, 12h or 90m, or an RFC3339 time like 2026-01-02T15:04:05Z", f.name, f.v, err)
				}
				q.Set(f.name, f.v)
			}
			if failureWindow != "" {
				if d, err := api.ParseAge(failureWindow); err != nil || d <= 0 {
					return fmt.Errorf("--failure-window %q is not a positive duration: write it like 24h or 2d", failureWindow)
				}
				q.Set("failure_window", failureWindow)
			}
			if len(args) == 1 {
				q.Set("service", args[0])
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var rep insights.Report
			if err := c.do(cmd.Context(), "GET", "/api/v1/insights?"+q.Encode(), nil, &rep); err != nil {
				return fmt.Errorf("error getting insights: %w", err)
			}
			if asJSON {
				return printJSON(g.out, rep)
			}
			printInsights(g, rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&since, "since", "30d", "start of the period: an age (30d, 12h) or an RFC3339 time")
	cmd.Flags().StringVar(&until, "until", "", "end of the period (default now)")
	cmd.Flags().StringVar(&failureWindow, "failure-window", "", "how soon after a production deployment an emergency deploy makes it a failed change (default: the server's server.insights.failure_window, else 24h)")
	return cmd
}

// human writes seconds as 1h05m, 3d4h, 45s.
func human(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func percent(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*part/whole)
}

func printInsights(g *globals, r insights.Report) {
	who := "every service"
	if r.Service != "" {
		who = termSafe(r.Service)
	}
	fmt.Fprintf(g.out, "Delivery insights for %s, %s to %s\n\n", who, r.Since, r.Until)
	tw := tabwriter.NewWriter(g.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "production deployments\t%d\t(%.2f a day)\n", r.Deployments, r.DeploymentFrequencyPerDay)
	lt := r.LeadTimeSeconds
	if lt.N > 0 {
		fmt.Fprintf(tw, "lead time\tp50 %s\tp90 %s, mean %s over %d changes\n", human(lt.P50), human(lt.P90), human(lt.Mean), lt.N)
	} else {
		fmt.Fprintf(tw, "lead time\t-\tno change reached production\n")
	}
	fmt.Fprintf(tw, "change failure rate\t%.1f%%\t%d of %d production deployments\n", 100*r.ChangeFailureRate, r.ChangeFailures, r.Deployments)
	fmt.Fprintf(tw, "caught before production\t%d\treleases stopped by a failed bake check or canary\n", r.CaughtBeforeProduction)
	if rec := r.FailedDeploymentRecoverySeconds; rec.N > 0 {
		fmt.Fprintf(tw, "failed deployment recovery\tp50 %s\tover %d failures\n", human(rec.P50), rec.N)
	} else {
		fmt.Fprintf(tw, "failed deployment recovery\t-\tno failure recovered\n")
	}
	fmt.Fprintf(tw, "rework rate\t%.1f%%\t%d rollbacks, %d emergency deploys\n", 100*r.ReworkRate, r.Rollbacks, r.EmergencyDeploys)
	_ = tw.Flush()
	if lt.N > 0 {
		b := r.LeadTimeBreakdownSeconds
		fmt.Fprintf(g.out, "\nWhere lead time went (mean per change)\n")
		tw = tabwriter.NewWriter(g.out, 0, 0, 2, ' ', 0)
		for _, p := range []struct {
			name string
			v    float64
		}{{"to staging", b.ToStaging}, {"bake", b.Bake}, {"held by a lock", b.HeldByLock}, {"held by a window", b.HeldByWindow},
			{"held by checks", b.HeldByChecks}, {"canary", b.Canary}, {"to production", b.ToProduction}} {
			bar := strings.Repeat("█", int(20*p.v/b.Total()+0.5))
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.name, human(p.v), percent(p.v, b.Total()), bar)
		}
		_ = tw.Flush()
	}
	if len(r.Locks) > 0 {
		fmt.Fprintf(g.out, "\nLocks\n")
		tw = tabwriter.NewWriter(g.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVICE\tENVIRONMENT\tSINCE\tHELD\tPILED UP\tBY\tREASON")
		for _, l := range r.Locks {
			held := human(l.HeldSeconds)
			if l.Held {
				held += " (still held)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\n", termSafe(l.Service), termSafe(l.Environment), l.Since.Local().Format(time.DateTime),
				held, l.ReleasesPiledUp, termSafe(l.By), termSafe(l.Reason))
		}
		_ = tw.Flush()
	}
}
