#!/bin/sh
# `docker exec <container> backup > openms-backup.tar` (compose: `docker compose exec -T app backup`):
# writes a tar of the queue and the workspaces to stdout while the appliance runs. The queue
# (Redis) is taken first, at one moment, as an RDB snapshot over Redis's replication protocol
# (the server is not paused); the workspaces after it, so every job the snapshot knows has its
# workspace in the backup, and a run still going then is retried after a restore (its end, if it
# came meanwhile, is in its workspace and is kept: src/jobs/worker/tasks.py). Restore: restore.sh.
set -eu
if [ -r /tmp/openms-runtime.env ]; then
  # shellcheck source=/dev/null
  . /tmp/openms-runtime.env  # REDIS_URL with the password, when Redis has one (root-only file)
fi
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export REDIS_URL
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=openms --regid=0 --clear-groups "$0" "$@"
fi
WORKSPACES_DIR=${WORKSPACES_DIR:-/data/workspaces}
[ -t 1 ] && { echo "backup: stdout is a terminal; redirect it to a file: backup > openms-backup.tar (docker exec without -t)" >&2; exit 2; }

work=$(mktemp -d /tmp/openms-backup.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The password goes by the environment, not the command line, which other processes could read.
password=$(printf '%s' "$REDIS_URL" | sed -n 's#^redis://[^:@/]*:\([^@]*\)@.*#\1#p')
if [ -n "$password" ]; then
  REDISCLI_AUTH=$password
  export REDISCLI_AUTH
fi
redis-cli -u "$(printf '%s' "$REDIS_URL" | sed 's#//[^@/]*@#//#')" --rdb "$work/redis.rdb" >&2
(cd /app && python -c 'from src.core.version import VERSION; print(VERSION)') > "$work/VERSION"
# Files that change or go while tar reads them (a run writing its logs) are taken as they are.
status=0
tar -cf - --warning=no-file-changed --warning=no-file-removed --ignore-failed-read \
  -C "$work" VERSION redis.rdb -C "$(dirname "$WORKSPACES_DIR")" "$(basename "$WORKSPACES_DIR")" || status=$?
[ "$status" -le 1 ] || { echo "backup: ERROR: tar failed ($status); this backup is incomplete" >&2; exit "$status"; }
echo "backup: the queue and $(find "$WORKSPACES_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l) workspace(s) written" >&2
