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

# The spellings of true/false that src/core/settings.py accepts (case-insensitive, empty means
# false); prints "true" or "false", the form supervisord's autostart needs.
as_bool() {
  case "$(printf '%s' "$2" | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')" in
    1|true|yes|on) echo true ;;
    0|false|no|off|'') echo false ;;
    *) fail "$1 must be true or false, got '$2'." ;;
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
  RQ_DASHBOARD_ENABLED=$(as_bool RQ_DASHBOARD_ENABLED "${RQ_DASHBOARD_ENABLED:-}")
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

check_role() {
  ROLE=${ROLE:-appliance}
  case "$ROLE" in
    appliance|worker) ;;
    *) fail "ROLE must be 'appliance' (the default) or 'worker', got '$ROLE'." ;;
  esac
  export ROLE
}

# A Redis password becomes part of redis:// URLs, so it is kept to URL-safe characters.
check_redis_password() {
  [ -n "${REDIS_PASSWORD:-}" ] || return 0
  case "$REDIS_PASSWORD" in
    *[!A-Za-z0-9._~-]*) fail "REDIS_PASSWORD may only contain letters, digits and . _ ~ - (it goes into redis:// URLs)." ;;
  esac
  [ "${#REDIS_PASSWORD}" -ge 16 ] || fail "REDIS_PASSWORD must be at least 16 characters long."
}

# Scale-out: Redis also listens on the container network for worker containers, never without
# a password. Single-container mode keeps it on loopback only.
configure_redis() {
  SCALE_OUT=$(as_bool SCALE_OUT "${SCALE_OUT:-}")
  check_redis_password
  if [ "$SCALE_OUT" = true ] && [ -z "${REDIS_PASSWORD:-}" ]; then
    fail "SCALE_OUT=true makes Redis reachable from other containers; set REDIS_PASSWORD (16+ characters) so that only your workers can use it. Redis is not exposed without one."
  fi
  REDIS_CONFIG=/etc/openms/redis.conf
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    REDIS_CONFIG=/tmp/openms-redis.conf
    umask 077
    {
      echo "include /etc/openms/redis.conf"
      [ "$SCALE_OUT" = true ] && echo "bind * -::*"
      echo "requirepass $REDIS_PASSWORD"
    } > "$REDIS_CONFIG"
    umask 022
    [ "$(id -u)" = 0 ] && chown "$APP_USER:$APP_USER" "$REDIS_CONFIG"
    REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:6379/0"
    note "Redis requires a password$([ "$SCALE_OUT" = true ] && echo ' and listens on the container network for worker containers')."
  fi
  RQ_DASHBOARD_REDIS_URL=$REDIS_URL
  export REDIS_CONFIG REDIS_URL RQ_DASHBOARD_REDIS_URL SCALE_OUT
}

# Worker-only containers take jobs from the appliance's Redis and share its workspace volume.
check_worker_role() {
  case "${REDIS_URL:-}" in
    *\'*) fail "REDIS_URL must not contain a single quote." ;;
    ''|redis://127.0.0.1*|redis://localhost*|redis://:*@127.0.0.1*|redis://:*@localhost*)
      fail "ROLE=worker needs REDIS_URL pointing at the appliance's Redis, e.g. redis://:PASSWORD@app:6379/0 (this container runs no Redis of its own)." ;;
  esac
  [ -d "$WORKSPACES_DIR" ] || fail "$WORKSPACES_DIR is missing: mount the appliance's workspace volume there."
  python -m src.jobs.worker --check 2>/tmp/redis-check || fail "$(tail -n 1 /tmp/redis-check)"
}

# What `docker exec` sessions (the health check) cannot see in their own environment: the role
# and the Redis URL with its password. Root-only, like the password file of Redis itself.
write_runtime_env() {
  umask 077
  printf "ROLE='%s'\nREDIS_URL='%s'\n" "$ROLE" "$REDIS_URL" > /tmp/openms-runtime.env
  umask 022
}

check_settings() {
  # The same validation the app runs, so a nonsense value stops the container with its reason.
  python -c 'from src.core.settings import load_settings; load_settings()' 2>/tmp/settings-error \
    || fail "invalid settings: $(tail -n 1 /tmp/settings-error)"
}

if [ "${1:-}" = worker ]; then
  ROLE=worker
  shift
fi
if [ "$#" -gt 0 ]; then
  exec "$@"
fi

check_role
check_worker_count
check_stop_wait
check_settings
if [ "$ROLE" = worker ]; then
  check_worker_role
  write_runtime_env
  note "starting supervisord: $RQ_WORKER_COUNT worker(s) for the Redis at $(echo "$REDIS_URL" | sed 's#://[^@]*@#://***@#')."
  exec supervisord -c /app/docker/supervisord-worker.conf
fi
check_dashboard
configure_redis
write_runtime_env
prepare_volumes
note "starting supervisord: redis, $RQ_WORKER_COUNT worker(s), streamlit on port 8501."
# supervisord runs every program as the unprivileged user (see supervisord.conf).
exec supervisord -c /app/supervisord.conf
