package cli

import (
	"encoding/json"

	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newCanaryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Show, promote or abort the canary rollout into an environment",
		Long: `An environment with a canary block takes each automatic promotion as a canary:
the release runs beside the stable version with a growing share of traffic,
step by step, judged against the stable version every analysis interval. A
failed judgement aborts it by itself (weight 0, release rejected, environment
locked); these commands let a person look, finish it early, or stop it.`,
	}
	cmd.AddCommand(newCanaryShowCmd(g), newCanaryActionCmd(g, "promote"), newCanaryActionCmd(g, "abort"))
	return cmd
}

func canaryPath(service, env string) string {
	return "/api/v1/services/" + url.PathEscape(service) + "/environments/" + url.PathEscape(env) + "/canary"
}

func newCanaryShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	var n int
	cmd := &cobra.Command{
		Use:     "show SERVICE ENV",
		Short:   "The canary's step, weight and latest judgements (metrics, samples, p-values, verdict)",
		Example: "  bakery canary show web production\n  bakery canary show web production --json",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Canary      *api.CanaryView     `json:"canary"`
				Judgements  []api.JudgementView `json:"judgements"`
				Holding     string              `json:"holding"`
				RouterError string              `json:"router_error"`
			}
			if err := c.do(cmd.Context(), "GET", canaryPath(args[0], args[1]), nil, &out); err != nil {
				return fmt.Errorf("error reading the canary of %s/%s: %w", args[0], args[1], err)
			}
			if asJSON {
				enc := json.NewEncoder(g.out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if n >= 0 && len(out.Judgements) > n {
				out.Judgements = out.Judgements[:n]
			}
			printCanary(g.out, args[0], args[1], out.Canary, out.Judgements, out.Holding, out.RouterError)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON (every judgement with its samples)")
	cmd.Flags().IntVarP(&n, "judgements", "n", 3, "how many judgements to show")
	return cmd
}

type judgementDetail struct {
	Metrics []struct {
		Name           string     `json:"name"`
		Outcome        string     `json:"outcome"`
		Critical       bool       `json:"critical"`
		BaselineCount  int        `json:"baseline_count"`
		CanaryCount    int        `json:"canary_count"`
		BaselineMedian *float64   `json:"baseline_median"`
		CanaryMedian   *float64   `json:"canary_median"`
		PValue         *float64   `json:"p_value"`
		Canary         []*float64 `json:"canary"`
		Reason         string     `json:"reason"`
	} `json:"metrics"`
	Checks []struct {
		Name    string `json:"name"`
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	} `json:"checks"`
}

func num(p *float64) string {
	if p == nil || math.IsNaN(*p) {
		return "-"
	}
	return fmt.Sprintf("%.4g", *p)
}

func printCanary(w io.Writer, service, env string, c *api.CanaryView, js []api.JudgementView, holding, routerErr string) {
	if c == nil {
		fmt.Fprintf(w, "%s/%s has had no canary yet: the first release into it deploys plainly; later ones go through the canary\n", service, env)
		return
	}
	fmt.Fprintf(w, "%s/%s canary %s: %s", termSafe(service), termSafe(env), termSafe(c.Version), termSafe(c.State))
	if c.State == "running" {
		fmt.Fprintf(w, " at %d%% (step %d of %d)", c.Weight, c.Step, c.Steps)
		if c.StepEndsAt != nil {
			fmt.Fprintf(w, ", step ends in %s", time.Until(*c.StepEndsAt).Round(time.Second))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %s\n", termSafe(holding))
	if routerErr != "" {
		fmt.Fprintf(w, "  ! built-in router: %s\n", termSafe(routerErr))
	}
	for _, j := range js {
		fmt.Fprintf(w, "\njudgement at %s of the traffic since %s (step %d, %d%%): %s, score %.0f\n", j.At.Local().Format("15:04:05"),
			j.From.Local().Format("15:04:05"), j.Step, j.Weight, termSafe(strings.ToUpper(j.Verdict)), j.Score)
		fmt.Fprintf(w, "  %s\n", termSafe(j.Reason))
		var d judgementDetail
		if json.Unmarshal(j.Detail, &d) != nil {
			continue
		}
		if len(d.Metrics) > 0 {
			fmt.Fprintf(w, "  %-14s %-7s %8s %8s %10s %10s %9s\n", "METRIC", "RESULT", "N(BASE)", "N(CAN)", "MED(BASE)", "MED(CAN)", "P")
		}
		for _, m := range d.Metrics {
			name := m.Name
			if m.Critical {
				name += "*"
			}
			fmt.Fprintf(w, "  %-14s %-7s %8d %8d %10s %10s %9s\n", termSafe(name), termSafe(m.Outcome), m.BaselineCount, m.CanaryCount,
				num(m.BaselineMedian), num(m.CanaryMedian), num(m.PValue))
		}
		for _, ch := range d.Checks {
			fmt.Fprintf(w, "  check %s: %s: %s\n", termSafe(ch.Name), termSafe(ch.Outcome), termSafe(ch.Reason))
		}
	}
}

func newCanaryActionCmd(g *globals, action string) *cobra.Command {
	var reason string
	short, long, example := "", "", ""
	switch action {
	case "promote":
		short = "Finish the running canary now: skip its remaining steps and replace the stable version"
		long = `Finish the running canary now: its remaining steps are skipped, all traffic
moves to the canary, the environment's deploy command replaces the stable
version, and traffic returns to (the new) stable. Refused while the
environment is locked: a lock is a brake; unlock first, or abort.`
		example = `  bakery canary promote web production --reason "verified by hand; metrics look fine"`
	default:
		short = "Abort the running canary now: all traffic back to stable, release rejected"
		long = `Abort the running canary now: its weight goes to 0 (all traffic to the stable
version), its deployment fails and its release is rejected, so it is never
promoted automatically again.`
		example = `  bakery canary abort web production --reason "wrong feature flag"`
	}
	cmd := &cobra.Command{
		Use:     action + " SERVICE ENV --reason R",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return fmt.Errorf("--reason is required: say why you %s the canary (it goes on the record)", action)
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Canary api.CanaryView `json:"canary"`
			}
			if err := c.do(cmd.Context(), "POST", canaryPath(args[0], args[1])+"/"+action, api.ReasonRequest{Reason: reason}, &out); err != nil {
				return fmt.Errorf("error %s the canary of %s/%s: %w", map[string]string{"promote": "promoting", "abort": "aborting"}[action],
					args[0], args[1], err)
			}
			switch action {
			case "promote":
				fmt.Fprintf(g.out, "%s: canary promoted; the stable version in %s is being replaced (follow with: bakery watch %s)\n",
					termSafe(out.Canary.Version), args[1], args[0])
			default:
				fmt.Fprintf(g.out, "%s: canary aborted; all traffic in %s goes to the stable version, and %s is rejected\n",
					termSafe(out.Canary.Version), args[1], termSafe(out.Canary.Version))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}
