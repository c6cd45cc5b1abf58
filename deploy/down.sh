#!/usr/bin/env bash
# Stops the paxoskv compose cluster and removes its containers, network and (by default) its
# volumes, i.e. all data. --keep-volumes keeps the data for the next deploy/up.sh.
# The certificates (deploy/certs, made by deploy/certs.sh) are kept: the next deploy/up.sh reuses
# them. Delete that folder to start over with a new CA.
#   deploy/down.sh [--keep-volumes] [--project NAME]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$here/lib.sh"

project=${COMPOSE_PROJECT_NAME:-paxoskv}
volumes=(-v)
while (($#)); do
  case "$1" in
    --keep-volumes) volumes=() ;;
    --project) project="$2"; shift ;;
    --project=*) project="${1#--project=}" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "down: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

paxoskv_have_docker || { echo "down: Docker is not available" >&2; exit 1; }
paxoskv_find_compose || { echo "down: neither 'docker compose' nor 'docker-compose' found" >&2; exit 1; }
# The spare profiles are included so their containers and volumes go too.
"${COMPOSE[@]}" -f "$repo/docker-compose.yml" -p "$project" --profile spare --profile spare-replica down \
  "${volumes[@]}" --remove-orphans
