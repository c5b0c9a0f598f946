#!/usr/bin/env bash
# Runs every test of bakery, setting up what the tests need first. This is
# the README's test command and what CI runs (.ci/run calls it).
#
# It builds and tests with Go 1.27.3 (GOTOOLCHAIN below) and fails when
# bakery's code reaches a known vulnerability (scripts/vulncheck.sh, offline;
# under CI=true also when that scan cannot run).
#
# What it sets up, when missing and running as root on Debian:
#   - PostgreSQL at 127.0.0.1:5432 (started if installed but stopped; installed otherwise)
#   - Chromium (Debian's chromium package) for the dashboard's browser tests
#   - Prometheus and sqlite3 (Debian packages) for the bake-check and migration tests
#   - MariaDB at 127.0.0.1:3306 (started if installed but stopped)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# bakery is built and tested with Go 1.27.3, the release with no known
# standard-library vulnerabilities: any go command from Go 1.21 on fetches
# that toolchain itself (once, about 76 MB, through the Go module proxy).
export GOTOOLCHAIN=go1.27.3
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
    echo "Go is not installed: install Go 1.21 or later (https://go.dev/doc/install); it fetches Go 1.27.3 itself" >&2; exit 1; fi
fi
if [ "$(go env GOVERSION 2>/dev/null)" != go1.27.3 ]; then
  echo "the go command ($(command -v go)) could not switch to Go 1.27.3: it needs Go 1.21 or later and the Go module proxy once" >&2; exit 1
fi

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: $* (run as root, or install them: apt-get install -y $*)" >&2
    return 1
  fi
  log "installing $*"
  if [ -z "${BAKERY_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    export BAKERY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! pg_ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql || true
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    log "starting PostgreSQL"
    for v in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || pg_ctlcluster "$v" main start || true
    done
    for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
  fi
fi
pg_ready && log "PostgreSQL is up at 127.0.0.1:5432" || log "PostgreSQL is not reachable: its tests will fail under CI=true and skip otherwise"

# The dashboard's end-to-end tests drive a real headless Chromium
# (test/e2e/dashboard_test.go looks for /usr/bin/chromium, or $BAKERY_CHROMIUM).
chromium_path="${BAKERY_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_path" ]; then
  apt_install chromium || true
fi
[ -x "$chromium_path" ] && log "Chromium is at $chromium_path" || log "Chromium is missing: the dashboard's browser tests will fail under CI=true and skip otherwise"

# Bake checks are tested against a real Prometheus server; the migration
# step's tests drive the sqlite3 command; the migration readers' tests use
# MariaDB (started if installed but stopped).
command -v prometheus >/dev/null 2>&1 || apt_install prometheus || true
command -v sqlite3 >/dev/null 2>&1 || apt_install sqlite3 || true
if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && [ -x /usr/sbin/mariadbd ]; then
  log "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 0.5; done
fi

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1; fi
log "go vet"
go vet ./...
log "vulnerability scan (scripts/vulncheck.sh)"
./scripts/vulncheck.sh
log "go test -race"
go test -race -count=1 -timeout 30m "$@" ./...
