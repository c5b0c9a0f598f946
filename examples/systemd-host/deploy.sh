#!/bin/sh
# Deploys a binary to a host whose app runs as a systemd unit: copies
# BAKERY_ARTIFACT (a path on this host, or an https:// URL) into
# APP_DIR/releases/VERSION/, points APP_DIR/current at it, restarts the
# unit and waits until HEALTH_URL answers 200. If it does not within
# HEALTH_TIMEOUT seconds, current goes back to the previous release, the
# unit is restarted on it, and the deploy fails (bakery then records the
# failure; the host keeps running the old release).
#
# The unit runs APP_DIR/current/app, e.g.
#   ExecStart=/srv/web/current/app
#
# Settings (deploy.env in bakery.yaml):
#   APP_DIR         where releases are kept (default /srv/$BAKERY_SERVICE)
#   APP_UNIT        the systemd unit (default $BAKERY_SERVICE.service)
#   HEALTH_URL      e.g. http://127.0.0.1:8080/healthz
#   HEALTH_TIMEOUT  seconds to wait for health (default 30)
#   KEEP            releases kept on disk (default 5)
#   SYSTEMCTL       how to call systemctl (default "systemctl"; "sudo -n
#                   systemctl" with a sudoers rule allowing the restart)
# For a remote host run bakery there, or wrap this script in ssh.
set -eu

app_dir=${APP_DIR:-/srv/$BAKERY_SERVICE}
unit=${APP_UNIT:-$BAKERY_SERVICE.service}
: "${HEALTH_URL:?set HEALTH_URL in deploy.env}"
health_timeout=${HEALTH_TIMEOUT:-30}
keep=${KEEP:-5}
systemctl=${SYSTEMCTL:-systemctl}
src=${BAKERY_ARTIFACT:?the release has no artifact: create it with --artifact PATH-or-URL of the binary}
version=${BAKERY_VERSION:?}
case "$version" in
  *[!A-Za-z0-9._-]*) echo "deploy.sh: version '$version' cannot be a directory name" >&2; exit 2 ;;
esac

dir=$app_dir/releases/$version
mkdir -p "$dir"
case "$src" in
  https://*) curl -fsSL --retry 3 -o "$dir/app.new" "$src" ;;
  http://*) echo "deploy.sh: refusing to download a binary over plain http: $src" >&2; exit 2 ;;
  *) cp "$src" "$dir/app.new" ;;
esac
chmod 0755 "$dir/app.new"
mv -f "$dir/app.new" "$dir/app"

previous=$(readlink "$app_dir/current" 2>/dev/null || true)
switch() {
  ln -sfn "$1" "$app_dir/current.new"
  mv -fT "$app_dir/current.new" "$app_dir/current"
}

healthy() {
  i=0
  while [ "$i" -lt "$health_timeout" ]; do
    if curl -fsS --max-time 2 -o /dev/null "$HEALTH_URL" 2>/dev/null; then
      return 0
    fi
    i=$((i + 1))
    sleep 1
  done
  return 1
}

switch "releases/$version"
echo "restarting $unit on $version"
$systemctl restart "$unit"
if ! healthy; then
  echo "deploy.sh: $HEALTH_URL did not answer 200 within ${health_timeout}s after $version started" >&2
  if [ -n "$previous" ] && [ "$previous" != "releases/$version" ]; then
    switch "$previous"
    $systemctl restart "$unit"
    if healthy; then
      echo "deploy.sh: rolled the host back to $previous" >&2
    else
      echo "deploy.sh: $previous is not healthy either; the host needs a person" >&2
    fi
  fi
  exit 1
fi
echo "$unit runs $version and is healthy"

# Old releases go, the newest $keep stay (never the current one).
ls -1t "$app_dir/releases" | tail -n +"$((keep + 1))" | while read -r old; do
  [ "releases/$old" = "releases/$version" ] || rm -rf "${app_dir:?}/releases/$old"
done
