#!/bin/sh
# Entrypoint of the OpenMS Workflow Server appliance.
# Checks the settings, prepares the volumes, then hands over to supervisord, which runs Redis,
# the RQ workers, Streamlit, the workspace clean-up and, if enabled, rq-dashboard, all as the
# unprivileged "openms" user. Any other command is run as given, e.g.
#   docker run --rm IMAGE rq --version
set -eu

APP_USER=openms

fail() {
  echo "entrypoint: ERROR: $*" >&2
  exit 64
}

note() {
  echo "entrypoint: $*"
}

# Every rule about a setting (ranges, true/false spellings, defaults, what needs what) is declared
# once in src/core/settings_spec.py. The check applies them to this environment; it prints the
# reason and exits 64 when the container cannot start, else the checked values as shell
# assignments (ROLE, RQ_WORKER_COUNT, WORKER_STOP_WAIT, RQ_DASHBOARD_ENABLED, SCALE_OUT,
# FORWARDED_ALLOW_IPS), with the true/false switches spelled as supervisord wants them.
check_settings() {
  checked=$(python -m src.core.settings --check --shell) || exit 64
  eval "$checked"
  export ROLE RQ_WORKER_COUNT WORKER_STOP_WAIT RQ_DASHBOARD_ENABLED SCALE_OUT FORWARDED_ALLOW_IPS
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

# With a password, Redis gets a generated config that includes the image's; in scale-out mode it
# also listens on the container network (the check made sure there is a password then).
configure_redis() {
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
  export REDIS_CONFIG REDIS_URL RQ_DASHBOARD_REDIS_URL
}

# Worker-only containers take jobs from the appliance's Redis and share its workspace volume.
check_worker_volume_and_redis() {
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

if [ "${1:-}" = worker ]; then
  ROLE=worker
  export ROLE
  shift
fi
if [ "$#" -gt 0 ]; then
  exec "$@"
fi

check_settings
if [ "$ROLE" = worker ]; then
  check_worker_volume_and_redis
  write_runtime_env
  note "starting supervisord: $RQ_WORKER_COUNT worker(s) for the Redis at $(echo "$REDIS_URL" | sed 's#://[^@]*@#://***@#')."
  exec supervisord -c /app/docker/supervisord-worker.conf
fi
configure_redis
write_runtime_env
prepare_volumes
note "starting supervisord: redis, $RQ_WORKER_COUNT worker(s), streamlit on port 8501."
# supervisord runs every program as the unprivileged user (see supervisord.conf).
exec supervisord -c /app/supervisord.conf
