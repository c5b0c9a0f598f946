// Command bakery is a deployment pipeline: every release goes to staging,
// bakes there, and is promoted to production by itself unless someone pulls
// the brake. Run 'bakery --help' for the commands.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bakery-deploy/bakery/internal/cli"
)

func main() {
	if err := cli.NewRoot().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bakery:", err)
		os.Exit(1)
	}
}
