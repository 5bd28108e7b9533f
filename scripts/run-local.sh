#!/usr/bin/env bash
# Starts the app in local mode (no Redis, no Docker) on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec .venv/bin/streamlit run app.py --server.port "${PORT:-8501}" "$@"
