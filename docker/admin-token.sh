#!/bin/sh
# `docker exec <container> admin-token`: prints a one-time sign-in token for the Queue admin page,
# valid for 15 minutes, that no lockout refuses (src/jobs/ops/admin_auth.py). It needs the Redis URL
# (with its password, in scale-out mode) from the file only root and the app's user can read.
set -eu
if [ -r /tmp/openms-runtime.env ]; then
  # shellcheck source=/dev/null
  . /tmp/openms-runtime.env
  export REDIS_URL
fi
cd /app
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=openms --regid=0 --clear-groups python -m src.jobs.ops.admin_auth token
fi
exec python -m src.jobs.ops.admin_auth token
