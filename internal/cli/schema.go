package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

func newSchemaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "bakery's own database schema: take the newest migration back for a downgrade",
		Long: `bakery applies its schema migrations by itself when it starts. 'bakery schema
down' takes the newest one back, so that the previous version of bakery runs
on the database as before the upgrade.`,
	}
	cmd.AddCommand(newSchemaDownCmd(g))
	return cmd
}

func newSchemaDownCmd(g *globals) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "down --db URL",
		Short: "Take the newest schema migration back (stop every server using the database first)",
		Long: `Take bakery's newest schema migration back, to run the previous version of
bakery on this database again (one version back only).

It works only if the newest migration applied is the newest this bakery knows
and it ships a down migration; otherwise it says so and changes nothing (then
restore the backup taken before the upgrade). It runs in one transaction. No
server may be using the database: on SQLite the server's lock file is taken
(it refuses while a server holds it); on PostgreSQL stop every replica first.
River's (the job queue's) tables are left as they are.

--db defaults to BAKERY_DATABASE_URL (or the file BAKERY_DATABASE_URL_FILE
names).`,
		Example: `  systemctl stop bakery
  bakery schema down --db sqlite:///var/lib/bakery/bakery.db
  # install the previous bakery binary, then
  systemctl start bakery`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				v, err := secret.Lookup("BAKERY_DATABASE_URL")
				if err != nil {
					return err
				}
				db = v
			}
			if db == "" {
				return errors.New("--db is required: the database URL (sqlite://PATH or postgres://...), or set BAKERY_DATABASE_URL")
			}
			version, err := sqlstore.SchemaDown(cmd.Context(), db)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "took migration %s back; start the previous version of bakery on this database\n", version)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "database URL (sqlite://PATH or postgres://...)")
	return cmd
}
