#!/usr/bin/env bash
# Builds the appliance image (default tag openms-workflow-server:latest).
#   --host-ca   copy this machine's CA bundle into the build (TLS-intercepting proxies)
#   --no-cache  build from scratch
# If the base image debian:bookworm-slim is neither present nor pullable, it is built locally
# with scripts/build-base-image.sh (the air-gapped path).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${IMAGE_TAG:-openms-workflow-server:latest}"
build_args=()
for arg in "$@"; do
  case "$arg" in
    --host-ca) cp /etc/ssl/certs/ca-certificates.crt docker/ca-certificates/host-bundle.crt ;;
    --no-cache) build_args+=(--no-cache) ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  docker pull debian:bookworm-slim 2>/dev/null || bash scripts/build-base-image.sh
fi
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
docker build "${build_args[@]}" --build-arg REVISION="$revision" -t "$TAG" .
echo "Built $TAG"
