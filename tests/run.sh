#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, .venv with pinned requirements) and runs
# the whole test suite. Extra arguments go to pytest, e.g. `bash tests/run.sh -k pages`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --dev
mkdir -p test-artifacts
exec .venv/bin/python -m pytest --junitxml=test-artifacts/junit.xml "$@"
