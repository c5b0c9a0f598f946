package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newWatchCmd(g *globals) *cobra.Command {
	var interval, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch SERVICE [VERSION]",
		Short: "Follow a release live until it reaches the last environment (or fails)",
		Long: `Follow a release of SERVICE (the newest one if VERSION is not given) through
its environments, with a progress bar and countdown for each bake. Exits 0
when the release runs in the last environment, and non-zero when it fails,
is superseded by a newer release, or --timeout passes.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			service := args[0]
			var version string
			if len(args) == 2 {
				version = args[1]
			} else {
				var out struct {
					Releases []api.ReleaseView `json:"releases"`
				}
				if err := c.do(cmd.Context(), "GET", "/api/v1/services/"+url.PathEscape(service)+"/releases?limit=1", nil, &out); err != nil {
					return fmt.Errorf("error finding the newest release of %s: %w", service, err)
				}
				if len(out.Releases) == 0 {
					return fmt.Errorf("%s has no releases yet: create one with 'bakery release create %s VERSION'", service, service)
				}
				version = out.Releases[0].Version
			}
			path := "/api/v1/services/" + url.PathEscape(service) + "/releases/" + url.PathEscape(version)
			r := &watchRenderer{w: g.out, tty: isTTY(g.out)}
			var deadline <-chan time.Time
			if timeout > 0 {
				deadline = time.After(timeout)
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				var p api.ReleaseProgress
				if err := c.do(cmd.Context(), "GET", path, nil, &p); err != nil {
					return fmt.Errorf("error following %s %s: %w", service, version, err)
				}
				r.render(p, time.Now())
				if p.Done {
					r.finish()
					fmt.Fprintf(g.out, "%s\n", termSafe(p.Message))
					return nil
				}
				if p.Failed {
					r.finish()
					return errors.New(termSafe(p.Message))
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-deadline:
					r.finish()
					return fmt.Errorf("gave up after %s: %s is still on its way", timeout, version)
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to ask the server")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0 = never)")
	return cmd
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watchRenderer draws a release's progress. On a terminal it redraws in
// place every tick (so countdowns move); elsewhere it prints a line only
// when something other than the countdown changes.
type watchRenderer struct {
	w         io.Writer
	tty       bool
	drawn     int
	lastLines []string
	header    bool
}

func (r *watchRenderer) render(p api.ReleaseProgress, now time.Time) {
	if !r.header {
		msg := strings.SplitN(p.Release.Message, "\n", 2)[0]
		fmt.Fprintf(r.w, "%s %s", termSafe(p.Release.Service), termSafe(p.Release.Version))
		if msg != "" {
			fmt.Fprintf(r.w, "  \"%s\"", termSafe(msg))
		}
		if p.Release.Author != "" {
			fmt.Fprintf(r.w, " by %s", termSafe(p.Release.Author))
		}
		fmt.Fprintln(r.w)
		r.header = true
	}
	lines := make([]string, len(p.Environments))
	stable := make([]string, len(p.Environments))
	for i, st := range p.Environments {
		lines[i], stable[i] = stageLine(st, now)
	}
	if r.tty {
		if r.drawn > 0 {
			fmt.Fprintf(r.w, "\x1b[%dA", r.drawn)
		}
		for _, l := range lines {
			fmt.Fprintf(r.w, "\x1b[2K%s\n", l)
		}
		r.drawn = len(lines)
		return
	}
	for i := range stable {
		if i >= len(r.lastLines) || r.lastLines[i] != stable[i] {
			fmt.Fprintln(r.w, lines[i])
		}
	}
	r.lastLines = stable
}

func (r *watchRenderer) finish() {}

const barWidth = 24

// stageLine draws one environment; the second result leaves out what
// changes every second (for non-terminal output).
func stageLine(st api.ReleaseStageView, now time.Time) (string, string) {
	name := fmt.Sprintf("  %-12s", termSafe(st.Name))
	switch st.State {
	case "succeeded":
		at := ""
		if st.FinishedAt != nil {
			at = " at " + st.FinishedAt.Local().Format("15:04:05")
		}
		s := name + "✓ deployed" + at
		return s, s
	case "running", "pending":
		if c := st.Canary; c != nil && c.State == "running" {
			filled := c.Weight * barWidth / 100
			bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
			left := ""
			if c.StepEndsAt != nil {
				left = ", " + humanDuration(c.StepEndsAt.Sub(now)) + " left in the step"
			}
			s := fmt.Sprintf("%scanary %s %3d%% of traffic, step %d of %d", name, bar, c.Weight, c.Step, c.Steps)
			return s + left, s
		}
		if c := st.Canary; c != nil && c.State == "promoting" {
			s := name + "… canary passed; replacing the stable version"
			return s, s
		}
		elapsed := ""
		if st.StartedAt != nil {
			elapsed = " " + humanDuration(now.Sub(*st.StartedAt))
		}
		s := name + "… deploying"
		return s + elapsed, s
	case "baking":
		if st.BakeStarted != nil && st.BakeUntil != nil {
			total := st.BakeUntil.Sub(*st.BakeStarted)
			done := now.Sub(*st.BakeStarted)
			frac := 1.0
			if total > 0 {
				frac = float64(done) / float64(total)
			}
			frac = min(max(frac, 0), 1)
			filled := int(frac * barWidth)
			bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
			left := st.BakeUntil.Sub(now)
			s := fmt.Sprintf("%sbaking %s %3.0f%% %s left", name, bar, frac*100, humanDuration(left))
			return s, name + "baking until " + st.BakeUntil.Local().Format("15:04:05")
		}
	case "failed", "cancelled":
		s := name + "✗ " + termSafe(st.State) + ": " + termSafe(st.Message)
		return s, s
	case "superseded":
		s := name + "- superseded: " + termSafe(st.Message)
		return s, s
	}
	s := name + "waiting"
	if st.Message != "" {
		s += ": " + termSafe(st.Message)
	}
	return s, s
}
