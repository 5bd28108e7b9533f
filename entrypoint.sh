#!/bin/sh
# Entrypoint of the OpenMS Workflow Server appliance (under tini, which is PID 1).
# Checks the settings, prepares the volumes, then runs supervisord, which runs Redis, the RQ
# workers, Streamlit, the workspace clean-up and, if enabled, rq-dashboard. Everything runs as
# one unprivileged user: "openms" (uid 10001, group 0) when the container starts as root, else
# whatever uid the container was given (any uid in group 0 works: what is written is group-0
# writable). It waits for supervisord and exits with code 70 when a critical program went FATAL
# (docker/fatal_listener.py), so restart policies and orchestrators see the failure.
# Any other command is run as given, e.g.  docker run --rm IMAGE rq --version
set -eu
umask 0002

APP_UID=10001

fail() {
  echo "entrypoint: ERROR: $*" >&2
  exit "$EXIT_BAD_CONFIG"
}

note() {
  echo "entrypoint: $*"
}

# Every rule about a setting (ranges, true/false spellings, defaults, what needs what) is declared
# once in src/core/settings/spec.py. The check applies them to this environment; it prints the
# reason and exits with its code for a refused configuration when the container cannot start,
# else the checked values as shell assignments (ROLE, RQ_WORKER_COUNT, WORKER_STOP_WAIT,
# RQ_DASHBOARD_ENABLED, SCALE_OUT, TRUSTED_PROXIES, FORWARDED_ALLOW_IPS, STREAMLIT_SERVER_COUNT,
# MAX_REQUEST_BYTES), the true/false switches spelled as supervisord wants them, and what this
# script shares with Python (EXIT_BAD_CONFIG, EXIT_FATAL, FATAL_FILE, WEB_PORT_BASE,
# REDIS_URL_SHOWN: the Redis URL without its password, APP_VERSION), so that none of it is spelled here.
check_settings() {
  checked=$(python -m src.core.settings --check --shell) || exit $?
  eval "$checked"
  export ROLE RQ_WORKER_COUNT WORKER_STOP_WAIT RQ_DASHBOARD_ENABLED SCALE_OUT TRUSTED_PROXIES \
    FORWARDED_ALLOW_IPS STREAMLIT_SERVER_COUNT MAX_REQUEST_BYTES EXIT_FATAL FATAL_FILE WEB_PORT_BASE
}

# HAProxy on port 8501 in front of the STREAMLIT_SERVER_COUNT web servers (WEB_PORT_BASE + 1, ...).
configure_proxy() {
  proxy_config=/tmp/openms-haproxy.cfg
  cp /app/docker/haproxy.cfg "$proxy_config"
  server=1
  while [ "$server" -le "$STREAMLIT_SERVER_COUNT" ]; do
    printf '    server web%d 127.0.0.1:%d cookie web%d check\n' "$server" "$((WEB_PORT_BASE + server))" "$server" >> "$proxy_config"
    server=$((server + 1))
  done
  # The outer proxies whose X-Forwarded-For HAProxy believes (FORWARDED_ALLOW_IPS), one per line.
  # shellcheck disable=SC2086 # one address or range per word
  printf '%s\n' $TRUSTED_PROXIES > /tmp/openms-trusted-proxies.lst
  if is_root; then chown "$APP_UID:0" "$proxy_config" /tmp/openms-trusted-proxies.lst; fi
}

is_root() {
  [ "$(id -u)" = 0 ]
}

# As root: hand the volumes to the app's user. As any other uid: they must be writable already
# (a fresh named volume is: it copies the image's group-0-writable folder). Nobody outside the
# app's group may list the workspaces (a run's tools, whose uids are in no group of the app's,
# only reach their own visitor's: src/core/execution/sandbox.py) or enter Redis's folder.
prepare_volumes() {
  mkdir -p "$WORKSPACES_DIR" /data/redis 2>/dev/null || true
  if is_root; then
    chown "$APP_UID:0" "$WORKSPACES_DIR" /data/redis
    chmod g+rwx "$WORKSPACES_DIR" /data/redis
  fi
  for dir in "$WORKSPACES_DIR" /data/redis; do
    [ -d "$dir" ] && [ -w "$dir" ] || is_root \
      || fail "$dir is not writable by uid $(id -u) (group $(id -g)); make the volume writable for that uid or for group 0 (chgrp -R 0 and chmod -R g+rwX on it)."
  done
  chmod o-rw "$WORKSPACES_DIR" 2>/dev/null || note "WARNING: could not take the listing of $WORKSPACES_DIR from other users (chmod o-rw); the tools could list every workspace."
  chmod -R o-rwx /data/redis 2>/dev/null || note "WARNING: could not make /data/redis private to the app (chmod -R o-rwx)."
}

# supervisord and its programs never run as root. Started as root, the entrypoint gives the
# container's stdout and stderr (pipes only root may reopen) to the app's user, whom supervisord
# then runs as; it waits for supervisord, so that a FATAL program ends the container non-zero.
run_supervisord() {
  rm -f "$FATAL_FILE"
  if is_root; then
    chown "$APP_UID:0" /proc/self/fd/1 /proc/self/fd/2 \
      || note "WARNING: could not hand the container's output to uid $APP_UID; program logs may be missing."
    setpriv --reuid="$APP_UID" --regid=0 --clear-groups supervisord -c "$1" &
  else
    supervisord -c "$1" &
  fi
  supervisor_pid=$!
  trap 'kill -TERM "$supervisor_pid" 2>/dev/null' TERM INT
  status=0
  while kill -0 "$supervisor_pid" 2>/dev/null; do
    wait "$supervisor_pid" && status=0 || status=$?
  done
  if [ -s "$FATAL_FILE" ]; then
    echo "entrypoint: the container stops because a critical program failed: $(cat "$FATAL_FILE")" >&2
    exit "$EXIT_FATAL"
  fi
  exit "$status"
}

# Redis always asks for a password, so that only the app's processes can use it (a run's tools
# run as other uids, on the same loopback): REDIS_PASSWORD, else one generated at the first start
# and kept on the Redis volume (REDIS_PASSWORD_FILE, the app's user's only). Redis gets a
# generated config that includes the image's; in scale-out mode it also listens on the container
# network (the check made sure the operator set the password then).
configure_redis() {
  REDIS_CONFIG=/tmp/openms-redis.conf
  REDIS_PASSWORD_FILE=${REDIS_PASSWORD_FILE:-/data/redis/password}
  umask 077
  if [ -z "${REDIS_PASSWORD:-}" ]; then
    if [ ! -s "$REDIS_PASSWORD_FILE" ]; then
      python -c 'import secrets; print(secrets.token_hex(24))' > "$REDIS_PASSWORD_FILE.new"
      mv "$REDIS_PASSWORD_FILE.new" "$REDIS_PASSWORD_FILE"
      note "generated a Redis password (kept in $REDIS_PASSWORD_FILE)."
    fi
    REDIS_PASSWORD=$(cat "$REDIS_PASSWORD_FILE")
  fi
  {
    echo "include /etc/openms/redis.conf"
    [ "$SCALE_OUT" = true ] && echo "bind * -::*"
    echo "requirepass $REDIS_PASSWORD"
  } > "$REDIS_CONFIG"
  umask 0002
  if is_root; then chown "$APP_UID:0" "$REDIS_CONFIG" "$REDIS_PASSWORD_FILE" 2>/dev/null || true; fi
  REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:6379/0"
  [ "$SCALE_OUT" = true ] && note "Redis listens on the container network for worker containers."
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
  printf "ROLE='%s'\nREDIS_URL='%s'\nSTREAMLIT_SERVER_COUNT='%s'\nWEB_PORT_BASE='%s'\n" "$ROLE" "$REDIS_URL" \
    "$STREAMLIT_SERVER_COUNT" "$WEB_PORT_BASE" > /tmp/openms-runtime.env
  umask 0002
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
# The workflows the settings offer (WORKFLOWS) must be installed and load; it says which are offered.
python -m src.workflows --check || exit "$EXIT_BAD_CONFIG"
note "OpenMS Workflow Server $APP_VERSION ($ROLE)"
if [ "$ROLE" = worker ]; then
  check_worker_volume_and_redis
  write_runtime_env
  note "starting supervisord: $RQ_WORKER_COUNT worker(s) for the Redis at $REDIS_URL_SHOWN."
  run_supervisord /app/docker/supervisord-worker.conf
fi
prepare_volumes
configure_redis
configure_proxy
write_runtime_env
note "starting supervisord: redis, $RQ_WORKER_COUNT worker(s), $STREAMLIT_SERVER_COUNT web server(s) behind HAProxy on port 8501."
run_supervisord /app/supervisord.conf
