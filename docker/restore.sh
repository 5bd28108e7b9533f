#!/bin/sh
# Restores a tar that backup.sh wrote into new, empty volumes, before the appliance starts on them:
#   docker compose run --rm -T app restore < openms-backup.tar && docker compose up -d
# The workspaces are copied in; Redis loads the queue's snapshot with AOF off and then writes its
# AOF from it (CONFIG SET appendonly yes), which is what the appliance's Redis starts from.
set -eu
WORKSPACES_DIR=${WORKSPACES_DIR:-/data/workspaces}
REDIS_DIR=/data/redis
APP_UID=10001

fail() {
  echo "restore: ERROR: $*" >&2
  exit 1
}

# As root (docker compose run): the volumes go to the app's user, who does the rest.
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$WORKSPACES_DIR" "$REDIS_DIR"
  chown "$APP_UID:0" "$WORKSPACES_DIR" "$REDIS_DIR"
  exec setpriv --reuid="$APP_UID" --regid=0 --clear-groups "$0" "$@"
fi
[ -t 0 ] && fail "give the backup on stdin: restore < openms-backup.tar (docker run -i / compose run -T)"
[ -z "$(find "$WORKSPACES_DIR" -mindepth 1 -maxdepth 1 ! -name '.*' 2>/dev/null)" ] \
  || fail "$WORKSPACES_DIR already holds workspaces: restore into new volumes, so nothing in them is overwritten."
[ ! -e "$REDIS_DIR/appendonly" ] \
  || fail "$REDIS_DIR already holds a queue: restore into new volumes, so no job in it is overwritten."

work=$(mktemp -d /tmp/openms-restore.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xf - -C "$work" || fail "the input is not a readable tar (was it written with docker exec -t?)"
if [ ! -f "$work/redis.rdb" ] || [ ! -d "$work/$(basename "$WORKSPACES_DIR")" ]; then
  fail "this is not a backup written by 'backup' (it has no redis.rdb and workspaces)"
fi

cp -a "$work/$(basename "$WORKSPACES_DIR")/." "$WORKSPACES_DIR/"
mv "$work/redis.rdb" "$REDIS_DIR/restore.rdb"
socket="$work/redis.sock"
redis-server /etc/openms/redis.conf --port 0 --unixsocket "$socket" --appendonly no \
  --dbfilename restore.rdb >"$work/redis.log" 2>&1 &
redis=$!
tries=0
until redis-cli -s "$socket" ping >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 300 ] || fail "Redis did not load the backup: $(tail -n 5 "$work/redis.log")"
  sleep 0.1
done
redis-cli -s "$socket" config set appendonly yes >/dev/null
until redis-cli -s "$socket" info persistence | grep -q '^aof_rewrite_in_progress:0' \
  && redis-cli -s "$socket" info persistence | grep -q '^aof_rewrite_scheduled:0' \
  && [ -f "$REDIS_DIR/appendonly/appendonly.aof.manifest" ]; do
  sleep 0.1
done
keys=$(redis-cli -s "$socket" dbsize)
redis-cli -s "$socket" shutdown >/dev/null 2>&1 || true
wait "$redis" || true
rm -f "$REDIS_DIR/restore.rdb"
echo "restore: $(find "$WORKSPACES_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l) workspace(s) and the queue ($keys keys, backup of version $(cat "$work/VERSION")) restored; start the appliance on these volumes."
