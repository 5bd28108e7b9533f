#!/usr/bin/env bash
# Container smoke test: starts the image, waits until Docker reports it healthy (Streamlit, Redis
# and the workers alive), checks that `rq info` lists exactly RQ_WORKER_COUNT workers, that the
# app answers on its published port and that Redis is not published. Removes the container.
# Usage: bash scripts/smoke-test.sh [IMAGE]     (default openms-workflow-server:latest)
set -euo pipefail

IMAGE="${1:-openms-workflow-server:latest}"
WORKERS=2
TIMEOUT=120
name="openms-smoke-$$"

fail() {
  echo "SMOKE TEST FAILED: $*" >&2
  docker logs --tail 60 "$name" >&2 || true
  exit 1
}
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT

docker run -d --name "$name" -e RQ_WORKER_COUNT="$WORKERS" -p 127.0.0.1::8501 "$IMAGE" >/dev/null
echo "Started $name from $IMAGE; waiting up to ${TIMEOUT} s for it to be healthy ..."
start=$(date +%s)
while :; do
  status=$(docker inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null || echo gone)
  [ "$status" = healthy ] && break
  [ "$status" != gone ] || fail "the container is gone"
  [ "$(docker inspect --format '{{.State.Running}}' "$name")" = true ] || fail "the container stopped"
  [ $(($(date +%s) - start)) -lt "$TIMEOUT" ] || fail "not healthy after ${TIMEOUT} s (status $status)"
  sleep 2
done
echo "healthy after $(($(date +%s) - start)) s"

info=$(docker exec "$name" rq info) || fail "rq info did not run"
count=$(printf '%s\n' "$info" | sed -n 's/^\([0-9][0-9]*\) workers, .*/\1/p')
[ "$count" = "$WORKERS" ] || fail "rq info lists '${count:-no}' workers, expected $WORKERS"
echo "rq info lists $count workers"

port=$(docker port "$name" 8501/tcp | head -n 1 | sed 's/.*://')
body=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/_stcore/health") || fail "the app does not answer on port $port"
[ "$body" = ok ] || fail "the app's health endpoint said '$body'"
echo "the app answers on port $port"

published=$(docker port "$name")
if printf '%s\n' "$published" | grep -q '^6379/'; then
  fail "Redis is published: $published"
fi
echo "SMOKE TEST PASSED"
