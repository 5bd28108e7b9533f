#!/bin/sh
# Entrypoint of the OpenMS Workflow Server appliance.
# Checks the environment, prepares the volumes, then hands over to supervisord, which runs
# Redis, the RQ workers, Streamlit, the workspace clean-up and, if enabled, rq-dashboard, all
# as the unprivileged "openms" user. Any other command is run as given, e.g.
#   docker run --rm IMAGE rq --version
set -eu

APP_USER=openms
WORKER_MIN=1
WORKER_MAX=32

fail() {
  echo "entrypoint: ERROR: $*" >&2
  exit 64
}

note() {
  echo "entrypoint: $*"
}

is_whole_number() {
  case "$1" in
    ''|*[!0-9]*) return 1 ;;
    *) return 0 ;;
  esac
}

check_worker_count() {
  if [ -z "${RQ_WORKER_COUNT:-}" ]; then
    RQ_WORKER_COUNT=2
    note "RQ_WORKER_COUNT is not set; starting the default of $RQ_WORKER_COUNT workers."
  fi
  is_whole_number "$RQ_WORKER_COUNT" \
    || fail "RQ_WORKER_COUNT must be a whole number from $WORKER_MIN to $WORKER_MAX, got '$RQ_WORKER_COUNT'."
  # Strip leading zeros (no octal surprises); more than 3 digits is out of range anyway.
  RQ_WORKER_COUNT=$(printf '%s' "$RQ_WORKER_COUNT" | sed 's/^0*//')
  RQ_WORKER_COUNT=${RQ_WORKER_COUNT:-0}
  if [ "${#RQ_WORKER_COUNT}" -gt 3 ] || [ "$RQ_WORKER_COUNT" -lt "$WORKER_MIN" ] \
    || [ "$RQ_WORKER_COUNT" -gt "$WORKER_MAX" ]; then
    fail "RQ_WORKER_COUNT must be from $WORKER_MIN to $WORKER_MAX, got $RQ_WORKER_COUNT. Without workers no run would ever start; to run workflows without the queue set QUEUE_ENABLED=false."
  fi
  cpus=$(nproc 2>/dev/null || echo 0)
  if [ "$cpus" -gt 0 ] && [ "$RQ_WORKER_COUNT" -gt "$cpus" ]; then
    note "WARNING: RQ_WORKER_COUNT=$RQ_WORKER_COUNT is more than the $cpus CPUs this container may use; runs will compete for CPU and finish later than with $cpus workers (see BENCHMARKS.md)."
  fi
  export RQ_WORKER_COUNT
}

check_stop_wait() {
  WORKER_STOP_WAIT=${WORKER_STOP_WAIT:-60}
  if ! is_whole_number "$WORKER_STOP_WAIT" || [ "${#WORKER_STOP_WAIT}" -gt 5 ] || [ "$WORKER_STOP_WAIT" -lt 1 ]; then
    fail "WORKER_STOP_WAIT must be a whole number of seconds from 1 to 99999, got '$WORKER_STOP_WAIT'."
  fi
  export WORKER_STOP_WAIT
}

check_dashboard() {
  case "${RQ_DASHBOARD_ENABLED:-false}" in
    true|TRUE|True|1|yes) RQ_DASHBOARD_ENABLED=true ;;
    false|FALSE|False|0|no|'') RQ_DASHBOARD_ENABLED=false ;;
    *) fail "RQ_DASHBOARD_ENABLED must be true or false, got '$RQ_DASHBOARD_ENABLED'." ;;
  esac
  if [ "$RQ_DASHBOARD_ENABLED" = true ]; then
    if [ -z "${RQ_DASHBOARD_USERNAME:-}" ] || [ -z "${RQ_DASHBOARD_PASSWORD:-}" ]; then
      fail "RQ_DASHBOARD_ENABLED=true needs RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD; the dashboard is never served without credentials."
    fi
    [ "${#RQ_DASHBOARD_PASSWORD}" -ge 8 ] || fail "RQ_DASHBOARD_PASSWORD must be at least 8 characters long."
    note "rq-dashboard enabled on port 9181 for user '$RQ_DASHBOARD_USERNAME'."
  fi
  export RQ_DASHBOARD_ENABLED
}

prepare_volumes() {
  mkdir -p "$WORKSPACES_DIR" /data/redis
  if [ "$(id -u)" = 0 ]; then
    chown "$APP_USER:$APP_USER" "$WORKSPACES_DIR" /data/redis
  fi
  for dir in "$WORKSPACES_DIR" /data/redis; do
    [ -w "$dir" ] || [ "$(id -u)" = 0 ] || fail "$dir is not writable by uid $(id -u); fix the volume's ownership."
  done
}

check_settings() {
  # The same validation the app runs, so a nonsense value stops the container with its reason.
  python -c 'from src.core.settings import load_settings; load_settings()' 2>/tmp/settings-error \
    || fail "invalid settings: $(tail -n 1 /tmp/settings-error)"
}

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

check_worker_count
check_stop_wait
check_dashboard
check_settings
prepare_volumes
note "starting supervisord: redis, $RQ_WORKER_COUNT worker(s), streamlit on port 8501."
# supervisord runs every program as the unprivileged user (see supervisord.conf).
exec supervisord -c /app/supervisord.conf
