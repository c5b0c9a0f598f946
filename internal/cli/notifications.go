package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newNotificationsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "What bakery told Slack and webhooks, and re-sending what failed",
		Long: `Every event a notification destination asks for (the notifications
block of the configuration) is one delivery, sent in order per destination
and service, retried with an exponential back-off for more than 24 hours
with the same webhook-id. Needs a deployer token.`,
	}
	cmd.AddCommand(newDeliveriesCmd(g), newResendCmd(g))
	return cmd
}

func newDeliveriesCmd(g *globals) *cobra.Command {
	var failed, asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries [--failed]",
		Short: "List notification deliveries, newest first",
		Example: `  bakery notifications deliveries
  bakery notifications deliveries --failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			path := "/api/v1/notifications/deliveries?limit=" + strconv.Itoa(limit)
			if failed {
				path += "&failed=true"
			}
			var out struct {
				Deliveries []api.DeliveryView `json:"deliveries"`
			}
			if err := c.do(cmd.Context(), "GET", path, nil, &out); err != nil {
				return fmt.Errorf("error listing deliveries: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(g.out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if len(out.Deliveries) == 0 {
				fmt.Fprintln(g.out, "no deliveries")
				return nil
			}
			tw := tabwriter.NewWriter(g.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESTINATION\tSERVICE\tTYPE\tSTATE\tATTEMPTS\tWHEN\tLAST ERROR")
			for _, d := range out.Deliveries {
				when := d.CreatedAt.Local().Format(time.DateTime)
				if d.DeliveredAt != nil {
					when = d.DeliveredAt.Local().Format(time.DateTime)
				} else if d.NextAttempt != nil {
					when = "next " + d.NextAttempt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, termSafe(d.Destination), termSafe(d.Service), termSafe(d.Type),
					d.State, d.Attempts, when, termSafe(d.LastError))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&failed, "failed", false, "only deliveries that failed (re-send them with 'bakery notifications resend ID')")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (1-1000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}

func newResendCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resend ID",
		Short: "Send a delivery again (same webhook-id, so receivers can tell it is the same event)",
		Example: `  bakery notifications deliveries --failed
  bakery notifications resend 42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return errors.New("ID is the number in the first column of 'bakery notifications deliveries'")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Delivery api.DeliveryView `json:"delivery"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/notifications/deliveries/"+args[0]+"/resend", nil, &out); err != nil {
				return fmt.Errorf("error re-sending delivery %d: %w", id, err)
			}
			fmt.Fprintf(g.out, "delivery %d to %s is on its way again\n", id, termSafe(out.Delivery.Destination))
			return nil
		},
	}
}
