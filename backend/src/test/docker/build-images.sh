#!/usr/bin/env bash
# Builds the container images the backend tests use, from a LOCAL Debian base (no image is pulled from any
# registry): periscope/debian-base:bookworm (debootstrap, imported) and periscope/postgres:15 (Debian's
# postgresql-15 listening on 5432 with a password). Idempotent: an image that exists is not rebuilt.
# Needs root (debootstrap) and a running docker daemon; without docker it says so and exits 0 so that the
# PostgreSQL test simply skips. Builds use the host network (a dockerd started with --iptables=false has no NAT).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "build-images: no docker daemon; container tests will be skipped" >&2
  exit 0
fi

if ! docker image inspect periscope/debian-base:bookworm >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "build-images: debootstrap missing (apt-get install -y debootstrap)" >&2; exit 1; }
  rootfs="$(mktemp -d /tmp/periscope-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  echo "build-images: debootstrap bookworm into $rootfs" >&2
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - periscope/debian-base:bookworm >/dev/null
fi

if ! docker image inspect periscope/postgres:15 >/dev/null 2>&1; then
  echo "build-images: building periscope/postgres:15" >&2
  docker build --network host -q -t periscope/postgres:15 "$here/postgres" >/dev/null
fi
echo "build-images: periscope/debian-base:bookworm and periscope/postgres:15 ready" >&2
