#!/usr/bin/env bash
# Scans bakery for known vulnerabilities its code can reach (in the Go
# standard library and in every module it requires), offline: govulncheck
# reads a local copy of the Go vulnerability database built from the
# golang.org/x/vulndb module (fetched once through the Go module proxy,
# like any module) by scripts/vulndb. scripts/test.sh runs it first.
#
# Exit status: 0 when nothing reachable is found; 1 when a vulnerability is
# reachable (the output names it, the call path and the fixed version), or
# when the scan cannot run under CI=true. Outside CI a scan that cannot run
# (no module proxy, no network) warns and exits 0.
#
# The database and the govulncheck binary are cached in
# ${BAKERY_VULNDB_CACHE:-${XDG_CACHE_HOME:-~/.cache}/bakery-vulndb}, keyed by
# their versions: raise VULNDB_VERSION below for newer reports.
#
#   ./scripts/vulncheck.sh                 scan ./... with Go 1.27.3
#   ./scripts/vulncheck.sh -show verbose   extra govulncheck flags go before the patterns
set -euo pipefail
cd "$(dirname "$0")/.."

# Build, test and scan with the Go release that has no known standard-library
# vulnerabilities (an outer GOTOOLCHAIN wins, to scan with another one).
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

cache="${BAKERY_VULNDB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bakery-vulndb}"
db="$cache/vulndb-$VULNDB_VERSION"
bin="$cache/govulncheck-$GOVULNCHECK_VERSION/govulncheck"

cannot_run() {
  if [ "${CI:-}" = true ]; then
    echo "vulncheck: the vulnerability scan cannot run: $*" >&2
    exit 1
  fi
  echo "vulncheck: WARNING: the vulnerability scan was skipped: $* (under CI=true this fails)" >&2
  exit 0
}

mkdir -p "$cache" || cannot_run "cannot create the cache directory $cache"

if [ ! -s "$db/index/modules.json" ]; then
  echo "vulncheck: building the vulnerability database $VULNDB_VERSION in $db"
  # Downloaded outside bakery's module so that its go.mod and go.sum stay as they are.
  src=$(cd "$cache" && GOFLAGS= go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
  [ -n "$src" ] && [ -d "$src/data/osv" ] || cannot_run "golang.org/x/vulndb@$VULNDB_VERSION could not be downloaded"
  go run ./scripts/vulndb -src "$src" -version "$VULNDB_VERSION" -out "$db" ||
    cannot_run "the database could not be built from $src"
fi
# A database that lost its standard-library entries would let every scan pass.
grep -q '"path":"stdlib"' "$db/index/modules.json" || cannot_run "the database in $db has no standard-library entries: delete it to rebuild"

if [ ! -x "$bin" ]; then
  echo "vulncheck: installing govulncheck $GOVULNCHECK_VERSION in $(dirname "$bin")"
  (cd "$cache" && GOFLAGS= GOBIN="$(dirname "$bin")" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION") ||
    cannot_run "govulncheck $GOVULNCHECK_VERSION could not be installed"
fi

echo "vulncheck: scanning with $(go env GOVERSION) and govulncheck $GOVULNCHECK_VERSION (database $VULNDB_VERSION)"
rc=0
"$bin" -db "file://$db" "$@" ./... || rc=$?
case $rc in
  0) ;;
  3) echo "vulncheck: FAILED: bakery reaches the known vulnerabilities listed above; upgrade what they name (Go: the GOTOOLCHAIN in the scripts and go.mod's go line)" >&2
     exit 1 ;;
  *) cannot_run "govulncheck exited with status $rc" ;;
esac
