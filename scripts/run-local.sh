#!/usr/bin/env bash
# Starts the app in local mode (no Redis, no Docker) on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# src/web/server.py serves app.py with uploads streamed to disk in chunks.
exec .venv/bin/streamlit run src/web/server.py --server.port "${PORT:-8501}" "$@"
