#!/bin/sh
# `rq` inside the appliance (`docker exec <container> rq info`): RQ's own command line, pointed at
# the appliance's Redis with its password (REDIS_URL, or the generated password the settings read
# from REDIS_PASSWORD_FILE), unless the caller names a URL (--url or RQ_REDIS_URL). Only root and
# the app's user can read that password; for anyone else rq reports that Redis wants one.
if [ -z "${RQ_REDIS_URL:-}" ]; then
  RQ_REDIS_URL=$(cd /app && python -c 'from src.core.settings import load_settings; print(load_settings().queue.redis_url)' 2>/dev/null) \
    && export RQ_REDIS_URL
fi
exec /opt/venv/bin/rq-cli "$@"
