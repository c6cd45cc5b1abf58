#!/usr/bin/env bash
# Starts the paxoskv cluster (3 shards x 3 replicas + master) under Docker Compose.
#
#   deploy/up.sh                        full image build from source, then start
#   deploy/up.sh --prebuilt build/bin   package binaries built on this host (fast)
#   deploy/up.sh --no-build             use the existing image as is
#   --spare          also start the spare shard (compose profile "spare") for AddShard demos
#   --project NAME   compose project name (default paxoskv, or COMPOSE_PROJECT_NAME)
#   --timeout S      how long to wait for every container to be healthy (default 180)
# Env: PAXOSKV_MASTER_PORT (published on 127.0.0.1, default 50051), PAXOSKV_IMAGE (paxoskv:dev).
# Installs nothing; needs Docker and Compose (v2 plugin or docker-compose 1.29).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$here/lib.sh"

export PAXOSKV_IMAGE=${PAXOSKV_IMAGE:-paxoskv:dev}
export PAXOSKV_MASTER_PORT=${PAXOSKV_MASTER_PORT:-50051}
project=${COMPOSE_PROJECT_NAME:-paxoskv}
build_args=()
build=1
spare=0
timeout_s=180
while (($#)); do
  case "$1" in
    --prebuilt) build_args+=(--prebuilt "$2"); shift ;;
    --prebuilt=*) build_args+=(--prebuilt "${1#--prebuilt=}") ;;
    --no-build) build=0 ;;
    --spare) spare=1 ;;
    --project) project="$2"; shift ;;
    --project=*) project="${1#--project=}" ;;
    --timeout) timeout_s="$2"; shift ;;
    --timeout=*) timeout_s="${1#--timeout=}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "up: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

paxoskv_have_docker || { echo "up: Docker is not available (is the daemon running?)" >&2; exit 1; }
paxoskv_find_compose || { echo "up: neither 'docker compose' nor 'docker-compose' found" >&2; exit 1; }

if ((build)); then
  "$here/build-image.sh" --image "$PAXOSKV_IMAGE" "${build_args[@]}"
elif ! docker image inspect "$PAXOSKV_IMAGE" >/dev/null 2>&1; then
  echo "up: image $PAXOSKV_IMAGE not found (drop --no-build)" >&2
  exit 1
fi

compose=("${COMPOSE[@]}" -f "$repo/docker-compose.yml" -p "$project")
if ((spare)); then compose+=(--profile spare); fi
echo "up: starting project $project (master on 127.0.0.1:$PAXOSKV_MASTER_PORT)"
"${compose[@]}" up -d
if ! paxoskv_wait_healthy "$timeout_s" "${compose[@]}"; then
  echo "up: cluster did not become healthy; recent logs:" >&2
  "${compose[@]}" logs --tail=20 >&2 || true
  exit 1
fi

m=127.0.0.1:$PAXOSKV_MASTER_PORT
# Flags that address this same cluster again (non-default project or port).
again=""
[[ $project != paxoskv ]] && again+=" --project $project"
env_prefix=""
[[ $PAXOSKV_MASTER_PORT != 50051 ]] && env_prefix="PAXOSKV_MASTER_PORT=$PAXOSKV_MASTER_PORT "
cat <<MSG
up: cluster is healthy (project $project).
Try (kvctl and grpcurl on this host; kvctl is in build/bin after cmake --build build):
  kvctl --master $m put greeting hello
  kvctl --master $m get greeting
  kvctl --master $m delete greeting
  kvctl --master $m status
  grpcurl -plaintext $m list
  grpcurl -plaintext -d '{"key":"greeting","value":"hello"}' $m paxoskv.v1.KV/Put
  grpcurl -plaintext -d '{"key":"greeting"}' $m paxoskv.v1.KV/Get
  grpcurl -plaintext $m paxoskv.v1.Admin/ClusterStatus
or with the kvctl inside the image:
  ${compose[*]} exec master kvctl status
Add the spare shard:
  ${env_prefix}deploy/up.sh --no-build --spare$again
  kvctl --master $m add-shard 4 s4-r1:7000,s4-r2:7000,s4-r3:7000
Logs: ${compose[*]} logs -f master
Stop: deploy/down.sh$again
MSG
