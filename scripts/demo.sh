#!/usr/bin/env bash
# The quickstart demo (the README's first command): builds bakery and a
# sample web app, starts bakery on the embedded database with
# examples/quickstart/bakery.yaml, and registers three releases, so you can
# watch one travel staging -> bake -> production.
#
#   bakery dashboard  http://127.0.0.1:8080/ (sign in with the printed token)
#   staging           http://127.0.0.1:8081/
#   production        http://127.0.0.1:8082/
#
# Ctrl-C stops bakery; the sample app's processes keep running until the
# next demo replaces them (or: kill $(cat .bakery-demo/*.pid)).
set -euo pipefail
cd "$(dirname "$0")/.."
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
DEMO="$PWD/.bakery-demo"
mkdir -p "$DEMO"
echo "==> building bakery and the sample app (the first build takes about a minute)"
go build -o "$DEMO/bakery" ./cmd/bakery
go build -o "$DEMO/app" ./examples/quickstart/app
# The demo's bad release: the same app built to fail 30% of page requests.
go build -ldflags "-X main.builtInErrorRate=0.3" -o "$DEMO/app-bad" ./examples/quickstart/app

export BAKERY_DEMO_DIR="$DEMO"
export BAKERY_TOKEN="${BAKERY_TOKEN:-demo-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')}"
export BAKERY_BOOTSTRAP_TOKEN="$BAKERY_TOKEN"
export BAKERY_SERVER="http://127.0.0.1:8080"
bakery() { "$DEMO/bakery" "$@"; }

bakery serve --config examples/quickstart/bakery.yaml >"$DEMO/server.log" 2>&1 &
server=$!
users=
trap 'kill $server $users 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then break; fi
  if ! kill -0 $server 2>/dev/null; then cat "$DEMO/server.log" >&2; exit 1; fi
  sleep 0.1
done

cat <<MSG

bakery is running (log: $DEMO/server.log).
  dashboard   http://127.0.0.1:8080/   (sign in with the token $BAKERY_TOKEN)
  staging     http://127.0.0.1:8081/
  production  http://127.0.0.1:8082/   (bakery's canary router: stable :8092, canary :8093)
In another terminal:  export BAKERY_TOKEN=$BAKERY_TOKEN
                      $DEMO/bakery status web
                      $DEMO/bakery canary show web production

Simulated users send 20 requests a second to production (log: $DEMO/users.log).
Three releases follow: the first goes to production, the second through a
canary (25% then 50% of traffic), and the third, built to fail 30% of its
requests, is caught in its canary and rolled back with no one acting.

MSG
"$DEMO/app" -load http://127.0.0.1:8082/ -rps 20 >"$DEMO/users.log" 2>&1 &
users=$!
n=$(date +%H%M%S)
bakery release create web "demo-$n-1" --artifact "$DEMO/app" --message "Add the welcome page" --author "ana"
bakery watch web "demo-$n-1" || true
bakery release create web "demo-$n-2" --artifact "$DEMO/app" --message "Faster search" --author "ben"
bakery watch web "demo-$n-2" || true
bakery release create web "demo-$n-3" --artifact "$DEMO/app-bad" --message "New cache (has a bug)" --author "chen"
bakery watch web "demo-$n-3" || true
echo
bakery canary show web production -n 1 || true
echo
bakery status web
echo
bakery history web | tail -n 14
echo
echo "The bad release was caught by its canary: production still runs demo-$n-2 and is locked"
echo "until someone unlocks it (bakery unlock web production --reason ...). bakery keeps running: Ctrl-C to stop."
wait $server
