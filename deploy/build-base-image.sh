#!/usr/bin/env bash
# Builds the base image debian:bookworm-slim locally when no registry is reachable.
#
# `docker build` of deploy/Dockerfile starts FROM debian:bookworm-slim. Where that image cannot
# be pulled, this script makes an equivalent one: debootstrap a minimal Debian 12 root file
# system (Debian's default mirror) and `docker import` it under the same name. Idempotent: does
# nothing when the image already exists. Needs root (debootstrap) and the debootstrap package
# (installed by scripts/setup.sh).
#
# Usage: deploy/build-base-image.sh [--force] [--include pkg1,pkg2]
#   --force     rebuild even if the image exists
#   --include   bake extra packages into the base image (for build stages that cannot reach
#               Debian's packages themselves)
#   env BASE_IMAGE overrides the image name (default debian:bookworm-slim).
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
SUITE=bookworm
force=0
include=""
while (($#)); do
  case "$1" in
    --force) force=1 ;;
    --include) include="$2"; shift ;;
    --include=*) include="${1#--include=}" ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-base-image: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v docker >/dev/null 2>&1; then
  echo "build-base-image: docker not found" >&2
  exit 1
fi
if ((force == 0)) && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "build-base-image: $BASE_IMAGE already present"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-base-image: debootstrap not found (run scripts/setup.sh)" >&2
  exit 1
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

rootfs=$(mktemp -d /tmp/paxoskv-rootfs.XXXXXX)
cleanup() { $SUDO rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

args=(--variant=minbase)
if [[ -n "$include" ]]; then args+=("--include=$include"); fi
echo "build-base-image: debootstrap $SUITE into $rootfs (about a minute)"
$SUDO debootstrap "${args[@]}" "$SUITE" "$rootfs" >"$rootfs.log" 2>&1 || {
  echo "build-base-image: debootstrap failed; last lines of its log:" >&2
  tail -n 20 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"
# Slim it like the official image: no apt lists or caches, no docs.
$SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
$SUDO tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$BASE_IMAGE" >/dev/null
echo "build-base-image: imported $BASE_IMAGE"
