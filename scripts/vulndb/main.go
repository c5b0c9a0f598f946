// Command vulndb turns the OSV reports shipped in the golang.org/x/vulndb
// module into the directory layout that govulncheck reads with
// -db file:///DIR, so the vulnerability scan of scripts/test.sh works
// without reaching the online database:
//
//	DIR/index/db.json       {"modified": T}, the newest modification of any entry
//	DIR/index/modules.json  [{"path": M, "vulns": [{"id", "modified", "fixed"}]}], sorted
//	DIR/index/vulns.json    [{"id", "modified", "aliases"}], sorted
//	DIR/ID/GO-YYYY-NNNN.json  the OSV entry itself
//
// The layout is the one x/vulndb's internal/database writes (cmd/indexdb)
// and x/vuln's internal/client reads; this program rebuilds it with the
// standard library only, so bakery's go.mod gains no requirement and the
// scan needs none of x/vulndb's own (cloud) dependencies.
//
// Usage:
//
//	go run ./scripts/vulndb -src "$(go mod download -json golang.org/x/vulndb@VERSION | …Dir)" -version VERSION -out DIR
//
// The output is written next to DIR and renamed into place when complete,
// so an interrupted run never leaves a half-built database behind.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	src := flag.String("src", "", "directory of the golang.org/x/vulndb module (its data/osv holds the OSV entries)")
	out := flag.String("out", "", "directory to write the database to (replaced when complete)")
	version := flag.String("version", "", "the x/vulndb module version; its pseudo-version time stamps entries that carry no modification time")
	flag.Parse()
	if *src == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: vulndb -src VULNDB_MODULE_DIR -out DIR [-version VERSION]")
		os.Exit(2)
	}
	start := time.Now()
	n, err := Build(*src, *out, *version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulndb: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "vulndb: %d entries written to %s in %s\n", n, *out, time.Since(start).Round(time.Millisecond))
}
