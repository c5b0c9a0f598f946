package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	var selector, state string
	cmd := &cobra.Command{
		Use:   "status [SERVICE | --selector team=payments] [--state locked]",
		Short: "Show what each environment runs and what its next promotion waits for",
		Long: `Show, for every environment of SERVICE (or of every service), the version it
runs, since when, whether it is locked, and what the next promotion into it
waits for and until when.

--selector shows only the services whose labels match (key=value pairs joined
by commas, all of which must hold); --state only those with an environment
locked, baking, canary, failed, or waiting for a window.

--json prints {"service": ..., "environments": [{"name", "version", "locked", ...}]}
for one service, or {"services": [...]} for all.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var services []api.ServiceView
			if len(args) == 1 && (selector != "" || state != "") {
				return fmt.Errorf("give a service or --selector/--state, not both: the filters pick services from the list of all")
			}
			if len(args) == 1 {
				var s api.ServiceView
				if err := c.do(cmd.Context(), "GET", "/api/v1/services/"+url.PathEscape(args[0]), nil, &s); err != nil {
					return fmt.Errorf("error getting status of %s: %w", args[0], err)
				}
				if asJSON {
					return printJSON(g.out, s)
				}
				services = []api.ServiceView{s}
			} else {
				var all struct {
					Services []api.ServiceView `json:"services"`
				}
				// The list comes in pages; follow them to the end.
				for after := ""; ; {
					var page api.ServiceList
					q := url.Values{"limit": {"1000"}}
					if after != "" {
						q.Set("after", after)
					}
					if selector != "" {
						q.Set("selector", selector)
					}
					if state != "" {
						q.Set("state", state)
					}
					path := "/api/v1/services?" + q.Encode()
					if err := c.do(cmd.Context(), "GET", path, nil, &page); err != nil {
						return fmt.Errorf("error getting status: %w", err)
					}
					all.Services = append(all.Services, page.Services...)
					if page.Next == "" {
						break
					}
					after = page.Next
				}
				if asJSON {
					return printJSON(g.out, all)
				}
				services = all.Services
			}
			printStatus(g.out, services, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&selector, "selector", "", "only services whose labels match, e.g. team=payments,tier=1")
	cmd.Flags().StringVar(&state, "state", "", "only services in this state: locked, baking, canary, failed, window")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printStatus(w io.Writer, services []api.ServiceView, now time.Time) {
	for i, s := range services {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", termSafe(s.Service))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ENVIRONMENT\tVERSION\tSINCE\tSTATE\tNEXT PROMOTION")
		for _, e := range s.Environments {
			version := "-"
			if e.Version != nil {
				version = *e.Version
			}
			since := "-"
			if e.Since != nil {
				since = humanDuration(now.Sub(*e.Since)) + " ago"
			}
			state := e.State
			if e.Deployment != nil {
				state += " " + e.Deployment.Version
			}
			next := e.Waiting.Message
			if e.Waiting.Until != nil {
				next += fmt.Sprintf(" (%s left)", humanDuration(e.Waiting.Until.Sub(now)))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", termSafe(e.Name), termSafe(version), since, termSafe(state), termSafe(next))
		}
		tw.Flush()
		for _, e := range s.Environments {
			if e.PileUp != nil {
				fmt.Fprintf(w, "  ! %s: %s\n", termSafe(e.Name), termSafe(e.PileUp.Message))
			}
			if x := e.Exposure; x != nil {
				fmt.Fprintf(w, "  ~ %s: exposure of %s in %s: %s\n", termSafe(e.Name), termSafe(x.Version), termSafe(x.Environment), exposureText(*x))
				if x.Problem != "" {
					fmt.Fprintf(w, "  ! %s: %s\n", termSafe(e.Name), termSafe(x.Problem))
				}
			}
		}
		for _, e := range s.Environments {
			if e.Changes != nil {
				fmt.Fprintf(w, "  %s: %s\n", termSafe(e.Name), termSafe(e.Changes.Message))
			}
		}
		if s.GitHub != nil {
			fmt.Fprintf(w, "  ! %s\n", termSafe(s.GitHub.Message))
		}
		printQueues(w, s, now)
	}
}

// queueShown is how many releases `status` lists per environment.
const queueShown = 10

// printQueues lists, per environment, the releases between it and the one
// below, newest first, with the state the server's read model gives each
// (the same the engine decides on): baking with its end, baked, failed
// bake, superseded, rejected... The one running there and those that ran
// before it are left out.
func printQueues(w io.Writer, s api.ServiceView, now time.Time) {
	for _, e := range s.Environments {
		var rows []api.QueuedReleaseView
		for _, q := range e.Releases {
			if q.State != "live" && q.State != "earlier" {
				rows = append(rows, q)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "  releases for %s:\n", termSafe(e.Name))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for k, q := range rows {
			if k == queueShown {
				fmt.Fprintf(tw, "    … and %d more\n", len(rows)-queueShown)
				break
			}
			line := queueLine(q, now)
			if q.ExpectedAt != nil && len(s.Environments) > 0 {
				line += "; " + expectedLine(s.Environments[len(s.Environments)-1].Name, *q.ExpectedAt, now)
			}
			fmt.Fprintf(tw, "    %s\t%s\n", termSafe(q.Version), termSafe(line))
		}
		tw.Flush()
	}
}

// queueLine is one release's state in words.
func queueLine(q api.QueuedReleaseView, now time.Time) string {
	state := strings.ReplaceAll(q.State, "_", " ")
	switch q.State {
	case "baking":
		if q.BakeStarted != nil && q.BakeUntil != nil {
			return fmt.Sprintf("baking since %s until %s (%s left)", q.BakeStarted.UTC().Format(time.RFC3339),
				q.BakeUntil.UTC().Format(time.RFC3339), humanDuration(q.BakeUntil.Sub(now)))
		}
	case "baked", "bake_skipped":
		if q.BakeStarted != nil && q.BakeUntil != nil {
			return fmt.Sprintf("%s (bake %s to %s)", state, q.BakeStarted.UTC().Format(time.RFC3339), q.BakeUntil.UTC().Format(time.RFC3339))
		}
	case "lower", "failed_below", "failed", "deploying", "canary":
		return q.Message
	}
	return state
}

// humanDuration rounds a duration for people: 3s, 4m10s, 2h5m.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}

// expectedLine says when a waiting release should reach the last
// environment if nothing holds it, in local time: "expected in production
// at 15:05 if nothing holds it" (with the date when it is not today).
func expectedLine(last string, at, now time.Time) string {
	at, now = at.Local(), now.Local()
	when := at.Format("15:04")
	if y, m, d := at.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		when = at.Format("Mon 2 Jan 15:04")
	}
	return fmt.Sprintf("expected in %s at %s if nothing holds it", last, when)
}

// exposureText is an exposure gate's progress: "212 of 500 requests, 1 of
// 3 people".
func exposureText(x api.ExposureView) string {
	var parts []string
	if x.RequestsNeeded > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d requests", x.Requests, x.RequestsNeeded))
	}
	if x.PeopleNeeded > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d people", x.People, x.PeopleNeeded))
	}
	s := strings.Join(parts, ", ")
	if x.MaxWait != "" {
		s += fmt.Sprintf(" (max_wait %s, then %s)", x.MaxWait, x.AfterMaxWait)
	}
	return s
}
