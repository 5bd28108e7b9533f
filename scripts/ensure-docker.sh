#!/usr/bin/env bash
# Makes sure a Docker daemon answers. If none does and this machine has `dockerd` (Debian's
# docker.io) but no service manager started it, starts it in the background and waits.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null || {
  echo "No Docker daemon answers and dockerd is not installed: apt-get install -y docker.io" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || {
  echo "No Docker daemon answers. Start it (e.g. sudo systemctl start docker) and try again." >&2
  exit 1
}
log=/var/log/dockerd.log
echo "Starting dockerd (log: $log) ..."
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd is up."
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2
exit 1
