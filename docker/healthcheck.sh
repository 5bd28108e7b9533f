#!/bin/sh
# Container health: the appliance needs Streamlit, Redis and a worker; a worker-only container
# needs Redis (the appliance's) and a worker of its own. entrypoint.sh records the role and the
# Redis URL (which may hold a password) in a file only its user can read, since this runs via
# `docker exec`; the check itself runs as the app's user, like everything else in the container.
set -eu
if [ -r /tmp/openms-runtime.env ]; then
  # shellcheck source=/dev/null
  . /tmp/openms-runtime.env
  export ROLE REDIS_URL STREAMLIT_SERVER_COUNT WEB_PORT_BASE
fi
cd /app
# A `docker exec` health check runs as the container's user: as root it becomes the app's user
# first (so nothing it might write is root's); any other uid already is the app's user.
as_app_user=""
if [ "$(id -u)" = 0 ]; then
  as_app_user="setpriv --reuid=openms --regid=0 --clear-groups"
fi
if [ "${ROLE:-appliance}" = worker ]; then
  exec $as_app_user python -m src.jobs.ops.health --quiet --this-host
fi
# Every web server, and the proxy in front of them; slow ones count as busy, not dead, and a
# proxy that sends visitors nowhere while the servers answer is unhealthy.
urls="--door-url http://127.0.0.1:8501/_stcore/health"
server=1
while [ "$server" -le "${STREAMLIT_SERVER_COUNT:-1}" ]; do
  urls="$urls --app-url http://127.0.0.1:$((WEB_PORT_BASE + server))/_stcore/health"
  server=$((server + 1))
done
# shellcheck disable=SC2086 # the arguments are split on purpose
exec $as_app_user python -m src.jobs.ops.health --quiet $urls
