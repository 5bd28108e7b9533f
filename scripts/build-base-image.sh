#!/usr/bin/env bash
# Air-gapped path: builds the base image `debian:bookworm-slim` locally with debootstrap and
# `docker import`, for machines that cannot pull from a registry. On a machine that can pull,
# you do not need this: `docker build` fetches the official image.
# Usage: bash scripts/build-base-image.sh [--force]
set -euo pipefail

IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE is already present; use --force to rebuild it."
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "debootstrap is needed: apt-get install -y debootstrap" >&2
  exit 1
}
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "Bootstrapping a minimal Debian bookworm into $rootfs ..."
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
# Keep the image small like the official slim image: no apt lists, caches or docs.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null
echo "Built $IMAGE locally ($(docker image inspect "$IMAGE" --format '{{.Size}}') bytes)."
