#!/usr/bin/env bash
# Builds the Prometheus image of the compose cluster (default tag paxoskv-prometheus:dev):
# Debian 12's `prometheus` package on the local debian:bookworm-slim (deploy/prometheus/
# Dockerfile), with prometheus.yml, alerts.yml and the rules' unit tests checked by promtool
# during the build. Nothing to compile; the first build installs the package (about a minute),
# later ones reuse Docker's cache (seconds).
#
#   deploy/prometheus/build-image.sh [--image NAME:TAG] [--quiet]
#   --image NAME:TAG   image name (or env PAXOSKV_PROMETHEUS_IMAGE)
#
# Builds the base image first when it is missing (deploy/build-base-image.sh, offline).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=${PAXOSKV_PROMETHEUS_IMAGE:-paxoskv-prometheus:dev}
quiet=()
while (($#)); do
  case "$1" in
    --image) IMAGE="$2"; shift ;;
    --image=*) IMAGE="${1#--image=}" ;;
    --quiet|-q) quiet=(-q) ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build-prometheus-image: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

command -v docker >/dev/null 2>&1 || { echo "build-prometheus-image: docker not found" >&2; exit 1; }
"$here/../build-base-image.sh"
# The context is this folder (a few small files).
docker build "${quiet[@]}" -f "$here/Dockerfile" -t "$IMAGE" "$here"
echo "build-prometheus-image: built $IMAGE"
