package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

// bisectResult is what `bakery bisect --json` prints (the contract).
type bisectResult struct {
	Culprit string             `json:"culprit"`
	Tried   []bisectResultStep `json:"tried"`
	Deploys int                `json:"deploys"`
}

type bisectResultStep struct {
	Version string `json:"version"`
	Outcome string `json:"outcome"`
}

func newBisectCmd(g *globals) *cobra.Command {
	var good, bad, checkName, restore, reason string
	var repeat int
	var asJSON bool
	var cancel, follow int64
	var interval, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bisect SERVICE --good VERSION --bad VERSION --check NAME [--repeat 3] [--json]",
		Short: "Find the first release whose check fails by bisecting releases on staging",
		Long: `Find the first release after --good, up to and including --bad, whose bake check
--check fails: bakery deploys releases to the service's first environment
(staging) in binary-search order (the bad version first) and runs the check
--repeat times against each. The runs must agree: a probe whose runs disagree
(a flaky check) or cannot measure is reported as inconclusive and the search
stops there rather than guess. A release carrying migrations is never deployed
below a newer migration: the bisect stops there and says so.

While the bisect runs, automatic deploys into staging and promotions out of it
wait; a lock on staging stops the next probe. When it is done, staging returns
to the release it ran before (--restore good: to the newest release found
healthy), and the culprit is rejected: it is never promoted again.

Progress is shown live. Interrupting the command leaves the bisect running on
the server: follow it again with --follow ID, or stop it with --cancel ID.
Exits 0 when a culprit was found, non-zero otherwise. --json prints
{"culprit": "...", "tried": [{"version": "...", "outcome": "healthy|failing|inconclusive"}], "deploys": N}.`,
		Example: `  bakery bisect web --good v1 --bad v8 --check smoke
  bakery bisect web --good 3f2a9c1 --bad 9be01d4 --check error-rate --repeat 5 --json
  bakery bisect web --cancel 4 --reason "incident over"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cancel == 0 && follow == 0 {
				var missing []string
				for flag, v := range map[string]string{"--good": good, "--bad": bad, "--check": checkName} {
					if v == "" {
						missing = append(missing, flag)
					}
				}
				if len(missing) > 0 {
					return fmt.Errorf("%s missing: give the version that passes (--good), the one that fails (--bad) and the check's name (--check)",
						strings.Join(sortedStrings(missing), ", "))
				}
				if restore != "before" && restore != "good" {
					return fmt.Errorf("--restore is %q: give before (what staging ran) or good (the newest good release)", restore)
				}
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			service := args[0]
			base := "/api/v1/services/" + url.PathEscape(service) + "/bisects"
			var out struct {
				Bisect api.BisectView `json:"bisect"`
			}
			switch {
			case cancel > 0:
				if err := c.do(cmd.Context(), "POST", base+"/"+strconv.FormatInt(cancel, 10)+"/cancel", api.ReasonRequest{Reason: reason}, &out); err != nil {
					return fmt.Errorf("error cancelling bisect %d of %s: %w", cancel, service, err)
				}
				fmt.Fprintf(g.out, "bisect %d cancelled: %s\n", out.Bisect.ID, termSafe(out.Bisect.Result))
				return nil
			case follow > 0:
				out.Bisect.ID = follow
			default:
				req := api.BisectRequest{Good: good, Bad: bad, Check: checkName, Repeat: repeat, Restore: restore, Reason: reason}
				if err := c.do(cmd.Context(), "POST", base, req, &out); err != nil {
					return fmt.Errorf("error starting a bisect of %s: %w", service, err)
				}
			}
			path := base + "/" + strconv.FormatInt(out.Bisect.ID, 10)
			var deadline <-chan time.Time
			if timeout > 0 {
				deadline = time.After(timeout)
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			shown, lastProbe, header := 0, "", false
			for {
				if err := c.do(cmd.Context(), "GET", path, nil, &out); err != nil {
					return fmt.Errorf("error following bisect %d of %s: %w", out.Bisect.ID, service, err)
				}
				b := out.Bisect
				if !asJSON {
					if !header {
						fmt.Fprintf(g.out, "bisect %d of %s on %s: %s (good) .. %s (bad), check %s × %d\n", b.ID, termSafe(b.Service),
							termSafe(b.Environment), termSafe(b.Good), termSafe(b.Bad), termSafe(b.Check), b.Repeat)
						header = true
					}
					for ; shown < len(b.Tried); shown++ {
						p := b.Tried[shown]
						fmt.Fprintf(g.out, "  %-3d %-20s %-12s runs: %s\n", shown+1, termSafe(p.Version), termSafe(p.Outcome),
							termSafe(strings.Join(p.Runs, ", ")))
						if p.Outcome != "healthy" && p.Evidence != "" {
							fmt.Fprintf(g.out, "      %s\n", termSafe(firstLine(p.Evidence)))
						}
					}
					if b.Probe != "" && b.Probe != lastProbe {
						fmt.Fprintf(g.out, "  …   probing %s\n", termSafe(b.Probe))
					}
					lastProbe = b.Probe
				}
				if b.State != "running" {
					return bisectDone(g, b, asJSON)
				}
				select {
				case <-cmd.Context().Done():
					return fmt.Errorf("stopped following; bisect %d continues on the server (bakery bisect %s --follow %d, or --cancel %d)",
						b.ID, service, b.ID, b.ID)
				case <-deadline:
					return fmt.Errorf("gave up after %s; bisect %d continues on the server (bakery bisect %s --follow %d, or --cancel %d)",
						timeout, b.ID, service, b.ID, b.ID)
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().StringVar(&good, "good", "", "a version whose check passes")
	cmd.Flags().StringVar(&bad, "bad", "", "a newer version whose check fails")
	cmd.Flags().StringVar(&checkName, "check", "", "the name of a bake check of the service")
	cmd.Flags().IntVar(&repeat, "repeat", 3, "runs of the check per probe; they must agree")
	cmd.Flags().StringVar(&restore, "restore", "before", "where staging returns when done: before (what it ran) or good (the newest good release)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (goes on the record)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"culprit", "tried", "deploys"} as JSON when done`)
	cmd.Flags().Int64Var(&cancel, "cancel", 0, "cancel the running bisect with this ID")
	cmd.Flags().Int64Var(&follow, "follow", 0, "follow the bisect with this ID (started earlier)")
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to ask the server")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop following after this long (0 = never); the bisect goes on")
	return cmd
}

func bisectDone(g *globals, b api.BisectView, asJSON bool) error {
	if asJSON {
		res := bisectResult{Culprit: b.Culprit, Tried: []bisectResultStep{}, Deploys: b.Deploys}
		for _, p := range b.Tried {
			res.Tried = append(res.Tried, bisectResultStep{Version: p.Version, Outcome: p.Outcome})
		}
		enc := json.NewEncoder(g.out)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		if b.Culprit != "" {
			fmt.Fprintf(g.out, "culprit: %s (rejected) after %d probes and %d deploys\n", termSafe(b.Culprit), len(b.Tried), b.Deploys)
		}
		fmt.Fprintf(g.out, "%s: %s\n", termSafe(b.State), termSafe(b.Result))
	}
	if b.State == "found" {
		return nil
	}
	return errors.New("bisect " + strconv.FormatInt(b.ID, 10) + " " + termSafe(b.State) + " without a culprit: " + termSafe(b.Result))
}

func firstLine(s string) string {
	return strings.SplitN(strings.TrimSpace(s), "\n", 2)[0]
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
