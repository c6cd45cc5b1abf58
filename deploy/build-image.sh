#!/usr/bin/env bash
# Builds the paxoskv container image (default tag paxoskv:dev).
#
#   deploy/build-image.sh                      full multi-stage build from source (slow: the
#                                              build stage compiles everything, -j2)
#   deploy/build-image.sh --prebuilt build/bin fast path: package binaries already built on
#                                              this Debian 12 host (same library versions)
#   --image NAME:TAG   image name (or env PAXOSKV_IMAGE)
#   --jobs N           parallel compile jobs in the full build (default 2)
#
# Builds the base image first when it is missing (deploy/build-base-image.sh, offline).
# The prebuilt context is a temporary directory with deploy/bin/<stripped binaries> only, so
# it uploads in a second and the runtime layers come from Docker's cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
IMAGE=${PAXOSKV_IMAGE:-paxoskv:dev}
BINARIES=(paxoskv-replica paxoskv-master kvctl kvbench paxoskv-health-probe)
prebuilt=""
jobs=2
quiet=()
while (($#)); do
  case "$1" in
    --prebuilt) prebuilt="$2"; shift ;;
    --prebuilt=*) prebuilt="${1#--prebuilt=}" ;;
    --image) IMAGE="$2"; shift ;;
    --image=*) IMAGE="${1#--image=}" ;;
    --jobs) jobs="$2"; shift ;;
    --jobs=*) jobs="${1#--jobs=}" ;;
    --quiet|-q) quiet=(-q) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

command -v docker >/dev/null 2>&1 || { echo "build-image: docker not found" >&2; exit 1; }
"$here/build-base-image.sh"

if [[ -z "$prebuilt" ]]; then
  echo "build-image: full build of $IMAGE (compiles inside the image; several minutes)"
  docker build "${quiet[@]}" -f "$here/Dockerfile" --build-arg "BUILD_JOBS=$jobs" \
    -t "$IMAGE" "$repo"
  echo "build-image: built $IMAGE (full)"
  exit 0
fi

ctx=$(mktemp -d /tmp/paxoskv-image-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/deploy/bin"
for b in "${BINARIES[@]}"; do
  if [[ ! -x "$prebuilt/$b" ]]; then
    echo "build-image: $prebuilt/$b missing; build it first (cmake --build BUILD --target $b)" >&2
    exit 1
  fi
  if command -v strip >/dev/null 2>&1; then
    strip -o "$ctx/deploy/bin/$b" "$prebuilt/$b"
  else
    cp "$prebuilt/$b" "$ctx/deploy/bin/$b"
  fi
done
docker build "${quiet[@]}" -f "$here/Dockerfile" --target prebuilt -t "$IMAGE" "$ctx"
echo "build-image: built $IMAGE from prebuilt binaries in $prebuilt"
