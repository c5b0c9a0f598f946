package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [--server URL] [--timeout 3s]",
		Short: "Exit 0 if the server's /healthz answers 200 (for Docker's HEALTHCHECK), 1 otherwise",
		Long: `GET the server's /healthz (no token needed) and exit 0 if it answers 200
with {"status": "ok"}, 1 otherwise, printing why. The server is --server,
BAKERY_SERVER or http://127.0.0.1:8080; BAKERY_CA_CERT is honoured for
https:// servers with a private certificate.

The container image has no curl: its HEALTHCHECK runs this.`,
		Example: `  bakery healthcheck
  HEALTHCHECK CMD ["/bakery", "healthcheck"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			base := g.server
			if base == "" {
				base = os.Getenv("BAKERY_SERVER")
			}
			if base == "" {
				base = "http://127.0.0.1:8080"
			}
			if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
				return fmt.Errorf("server %q must start with http:// or https://", base)
			}
			hc := &http.Client{Timeout: timeout}
			if ca := os.Getenv("BAKERY_CA_CERT"); ca != "" {
				tr, err := caTransport(ca)
				if err != nil {
					return err
				}
				hc.Transport = tr
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/healthz", nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			var st struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			}
			_ = json.Unmarshal(body, &st)
			if resp.StatusCode != http.StatusOK || st.Status != "ok" {
				why := st.Error
				if why == "" {
					why = strings.TrimSpace(string(body))
				}
				return fmt.Errorf("unhealthy: HTTP %d: %s", resp.StatusCode, termSafe(why))
			}
			fmt.Fprintln(g.out, "healthy")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}
