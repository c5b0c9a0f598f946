#!/usr/bin/env bash
# The quickstart's deploy command: bakery runs it to deploy the sample app
# (examples/quickstart/app) as a local process.
#
#   usage: deploy.sh ENVIRONMENT PORT
#          deploy.sh --stop ENVIRONMENT   (stop the environment's process: a canary's cleanup)
#
# It reads what bakery passes to every deploy command:
#   BAKERY_VERSION    the version being deployed
#   BAKERY_ARTIFACT   the path of the built app binary
# and, optionally:
#   BAKERY_DEMO_DIR             where pid and log files go (default ${TMPDIR:-/tmp}/bakery-demo)
#   BAKERY_DEMO_DEPLOY_SECONDS  pause this long first, to make a deploy visibly take time
#
# Steps: stop the environment's previous process, start the new version
# fully detached from this script (it keeps running after the script, and
# bakery, exit), then wait until it answers on /healthz with the new version.
set -euo pipefail

die() { echo "deploy.sh: error: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: deploy.sh ENVIRONMENT PORT, or deploy.sh --stop ENVIRONMENT (got $# arguments)"
STOP=
if [ "$1" = --stop ]; then
  STOP=yes
  set -- "$2" 1
fi
ENVIRONMENT=$1
PORT=$2
[[ $ENVIRONMENT =~ ^[A-Za-z0-9._-]+$ ]] || die "ENVIRONMENT must be a plain name like staging, not '$ENVIRONMENT'"
[[ $PORT =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "PORT must be a number from 1 to 65535, not '$PORT'"
VERSION=${BAKERY_VERSION:-}
ARTIFACT=${BAKERY_ARTIFACT:-}
if [ -z "$STOP" ]; then
  [ -n "$VERSION" ] || die "BAKERY_VERSION is not set: bakery sets it; by hand, run BAKERY_VERSION=v1 BAKERY_ARTIFACT=/path/to/app $0 $*"
  [ -n "$ARTIFACT" ] || die "BAKERY_ARTIFACT is not set: it must be the path of the built app (go build -o app ./examples/quickstart/app)"
  [ -f "$ARTIFACT" ] && [ -x "$ARTIFACT" ] || die "BAKERY_ARTIFACT=$ARTIFACT is not an executable file: build it with go build -o $ARTIFACT ./examples/quickstart/app"
  case $ARTIFACT in /*) ;; *) ARTIFACT="$PWD/$ARTIFACT" ;; esac
fi
DEMO_DIR=${BAKERY_DEMO_DIR:-${TMPDIR:-/tmp}/bakery-demo}
mkdir -p "$DEMO_DIR"
PIDFILE="$DEMO_DIR/$ENVIRONMENT.pid"
LOG="$DEMO_DIR/$ENVIRONMENT.log"
URL="http://127.0.0.1:$PORT"

step() { echo "--> $*"; }

# alive PID: is PID a process that has not exited? (kill -0 also succeeds
# for one that exited and waits to be reaped.)
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0 # no /proc to look closer: trust kill -0
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# running PID: is PID a live process of this environment's app? (A pid file
# can outlive its process, and the pid be reused by something else.)
running() {
  local envs
  alive "$1" || return 1
  [ -d /proc ] || return 0
  envs=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null) || return 1
  grep -qx "APP_ENV=$ENVIRONMENT" <<<"$envs"
}

stop_previous() {
  if [ ! -f "$PIDFILE" ]; then
    step "no previous $ENVIRONMENT process to stop"
    return
  fi
  local pid
  pid=$(tr -dc '0-9' <"$PIDFILE")
  if [ -z "$pid" ] || ! running "$pid"; then
    step "previous $ENVIRONMENT process ${pid:+(pid $pid) }is already gone"
    rm -f "$PIDFILE"
    return
  fi
  step "stopping the previous $ENVIRONMENT process (pid $pid): SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    if ! running "$pid"; then
      step "previous process stopped"
      rm -f "$PIDFILE"
      return
    fi
    sleep 0.1
  done
  step "still running after 5s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    running "$pid" || break
    sleep 0.1
  done
  if running "$pid"; then die "could not stop the previous $ENVIRONMENT process (pid $pid)"; fi
  rm -f "$PIDFILE"
  step "previous process killed"
}

if [ -n "$STOP" ]; then
  echo "==> stopping $ENVIRONMENT${BAKERY_CANARY_OUTCOME:+ (its canary was $BAKERY_CANARY_OUTCOME)}"
  stop_previous
  exit 0
fi

echo "==> deploying $VERSION to $ENVIRONMENT on port $PORT"
if [ -n "${BAKERY_DEMO_DEPLOY_SECONDS:-}" ]; then
  step "taking ${BAKERY_DEMO_DEPLOY_SECONDS}s (BAKERY_DEMO_DEPLOY_SECONDS)"
  sleep "$BAKERY_DEMO_DEPLOY_SECONDS"
fi

stop_previous

step "starting $ARTIFACT (log: $LOG)"
# setsid: a session and process group of its own, so stopping this deploy
# (bakery kills the deploy command's whole group) leaves the app running;
# nohup and the redirections: no terminal, and no hold on this script's
# output pipe, which bakery reads until everything writing to it is gone.
echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) deploying $VERSION" >>"$LOG"
logged=$(wc -l <"$LOG")
show_log() { echo "deploy.sh: $1; its log ($LOG) says:" >&2; tail -n "+$((logged + 1))" "$LOG" | tail -n 20 >&2 || true; }
detach=(setsid nohup)
command -v setsid >/dev/null 2>&1 || detach=(nohup) # no setsid (macOS): still runs, but shares the deploy's process group
PORT=$PORT APP_ENV=$ENVIRONMENT APP_VERSION=$VERSION \
  "${detach[@]}" "$ARTIFACT" >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"
step "started, pid $pid"

step "waiting for $URL/healthz (up to 10s)"
healthy=
deadline=$((SECONDS + 10))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! alive "$pid"; then
    show_log "the new $ENVIRONMENT process (pid $pid) exited"
    rm -f "$PIDFILE"
    die "$VERSION did not start in $ENVIRONMENT"
  fi
  if "$ARTIFACT" -check "$URL/healthz" >/dev/null 2>&1; then
    healthy=yes
    break
  fi
  sleep 0.1
done
if [ -z "$healthy" ]; then
  show_log "the new $ENVIRONMENT process (pid $pid) is not answering"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  die "$VERSION never became healthy on $URL/healthz within 10s; stopped it (pid $pid)"
fi
# Make sure it is this process answering, not something else on the port.
if ! out=$("$ARTIFACT" -check "$URL/version" -want-version "$VERSION" 2>&1); then
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  die "$out; stopped the new process (pid $pid)"
fi
step "healthy: $ENVIRONMENT serves $VERSION at $URL/"
