#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, .venv with pinned requirements, Docker,
# the appliance image) and runs the whole test suite. Extra arguments go to pytest, e.g.
# `bash tests/run.sh -k pages`. Set SKIP_IMAGE_BUILD=1 to reuse an image you built yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --dev
bash scripts/ensure-docker.sh
if [ "${SKIP_IMAGE_BUILD:-0}" != "1" ]; then
  # --host-ca: builds also work behind a TLS-intercepting proxy that this machine trusts.
  bash scripts/build-image.sh --host-ca
fi
mkdir -p test-artifacts
exec .venv/bin/python -m pytest --junitxml=test-artifacts/junit.xml "$@"
