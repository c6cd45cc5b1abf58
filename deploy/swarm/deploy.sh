#!/usr/bin/env bash
# Deploys paxoskv on Docker Swarm: the stack deploy/swarm/paxoskv-stack.yml (2 shards x 3
# replicas, the configuration group, 2 masters, mutual TLS) with `docker stack deploy`.
#
#   deploy/swarm/deploy.sh                       full image build from source, then deploy
#   deploy/swarm/deploy.sh --prebuilt build/bin  package binaries built on this host (fast)
#   deploy/swarm/deploy.sh --no-build            use the existing image as is
#   --stack NAME     stack name (default paxoskv, or PAXOSKV_STACK)
#   --timeout S      how long to wait until every service runs a healthy task (default 180;
#                    0: do not wait)
# Run it on a swarm manager (`docker swarm init` makes this engine one). It runs
# deploy/certs.sh (the CA and certificates in deploy/certs/, made once and reused), labels this
# node `paxoskv.<replica>=true` for every replica no node is labelled for yet (each replica is
# pinned to the node holding its volume: on a multi-node swarm label the nodes first, e.g.
# `docker node update --label-add paxoskv.s1-r1=true NODE`), creates the certificates' secrets
# (versioned by their content: a deploy after `deploy/certs.sh --renew` restarts every task
# with the new ones and removes the old ones) and deploys the stack. Running it again updates
# the stack in place; the data stays in the volumes. Remove it with deploy/swarm/down.sh.
# Env: PAXOSKV_IMAGE (paxoskv:dev; on several nodes push it to a registry they share, or
#      `docker load` it on each), PAXOSKV_CERT_DIR_HOST (certificate folders, deploy/certs),
#      PAXOSKV_MASTER_PORT, PAXOSKV_MASTER2_PORT (the masters' published ports, 50051, 50052),
#      PAXOSKV_LOG_LEVEL (info).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/lib.sh
source "$repo/deploy/lib.sh"

stack=${PAXOSKV_STACK:-paxoskv}
build_args=()
build=1
timeout_s=180
while (($#)); do
  case "$1" in
    --prebuilt) build_args+=(--prebuilt "$2"); shift ;;
    --prebuilt=*) build_args+=(--prebuilt "${1#--prebuilt=}") ;;
    --no-build) build=0 ;;
    --stack) stack="$2"; shift ;;
    --stack=*) stack="${1#--stack=}" ;;
    --timeout) timeout_s="$2"; shift ;;
    --timeout=*) timeout_s="${1#--timeout=}" ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "deploy: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# The replicas of the stack file (each pinned by a node label) and every certificate it mounts.
REPLICAS=(cfg-r1 cfg-r2 cfg-r3 s1-r1 s1-r2 s1-r3 s2-r1 s2-r2 s2-r3)
IDENTITIES=("${REPLICAS[@]}" master master2 admin)

paxoskv_have_docker || { echo "deploy: Docker is not available (is the daemon running?)" >&2; exit 1; }
if [[ "$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')" \
      != "active true" ]]; then
  echo "deploy: this Docker engine is not a swarm manager (run: docker swarm init)" >&2
  exit 1
fi

export PAXOSKV_IMAGE=${PAXOSKV_IMAGE:-paxoskv:dev}
export PAXOSKV_MASTER_PORT=${PAXOSKV_MASTER_PORT:-50051}
export PAXOSKV_MASTER2_PORT=${PAXOSKV_MASTER2_PORT:-50052}
export PAXOSKV_STACK=$stack

# Certificates: an absolute path, whatever the current directory.
certs=${PAXOSKV_CERT_DIR_HOST:-$repo/deploy/certs}
mkdir -p "$certs"
certs=$(cd "$certs" && pwd)
export PAXOSKV_CERT_DIR_HOST=$certs
"$repo/deploy/certs.sh" "$certs"
# The secrets' version: a hash of every file they are made from.
files=("$certs/ca/ca.crt")
for n in "${IDENTITIES[@]}"; do files+=("$certs/$n/tls.crt" "$certs/$n/tls.key"); done
PAXOSKV_CERT_VERSION=$(cat "${files[@]}" | sha256sum | cut -c1-12)
export PAXOSKV_CERT_VERSION

if ((build)); then
  "$repo/deploy/build-image.sh" --image "$PAXOSKV_IMAGE" "${build_args[@]}"
elif ! docker image inspect "$PAXOSKV_IMAGE" >/dev/null 2>&1; then
  echo "deploy: image $PAXOSKV_IMAGE not found (drop --no-build)" >&2
  exit 1
fi

# Pin each replica: label this node for every replica no node carries the label of.
self=$(docker info --format '{{.Swarm.NodeID}}')
for n in "${REPLICAS[@]}"; do
  if [[ -z "$(docker node ls -q --filter "node.label=paxoskv.$n=true")" ]]; then
    docker node update --label-add "paxoskv.$n=true" "$self" >/dev/null
    echo "deploy: labelled this node paxoskv.$n=true (replica $n and its volume live here)"
  fi
done

# An image only in this engine (no registry digest) is used as is; one from a registry is
# pinned to its digest so that every node runs the same.
resolve=never
if [[ "$(docker image inspect -f '{{len .RepoDigests}}' "$PAXOSKV_IMAGE")" != 0 ]]; then
  resolve=always
fi
echo "deploy: stack $stack, image $PAXOSKV_IMAGE, certificates $certs (version $PAXOSKV_CERT_VERSION)"
docker stack deploy --prune --resolve-image "$resolve" -c "$here/paxoskv-stack.yml" "$stack"

# Secrets of an older certificate version, no longer used by any service.
docker secret ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}}' \
  | grep -v "_$PAXOSKV_CERT_VERSION\$" | xargs -r docker secret rm >/dev/null 2>&1 || true

((timeout_s > 0)) || exit 0
# Wait: every service of the stack runs 1/1 (a task counts once its health check passed) and
# none is still updating.
deadline=$((SECONDS + timeout_s))
while :; do
  bad=""
  while read -r name replicas; do
    [[ "$replicas" == 1/1 ]] || bad+=" $name:$replicas"
  done < <(docker stack services "$stack" --format '{{.Name}} {{.Replicas}}')
  for id in $(docker stack services -q "$stack"); do
    st=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$id")
    [[ "$st" == updating || "$st" == rollback_started ]] && bad+=" $id:$st"
  done
  [[ -z "$bad" ]] && break
  if ((SECONDS >= deadline)); then
    echo "deploy: not every service is running after ${timeout_s}s:$bad" >&2
    docker stack ps --no-trunc "$stack" >&2 || true
    exit 1
  fi
  sleep 2
done

tls="-cacert $certs/admin/ca.crt -cert $certs/admin/tls.crt -key $certs/admin/tls.key"
ms=127.0.0.1:$PAXOSKV_MASTER_PORT,127.0.0.1:$PAXOSKV_MASTER2_PORT
cat <<MSG
deploy: stack $stack is running (masters on port $PAXOSKV_MASTER_PORT and $PAXOSKV_MASTER2_PORT of the node(s) running them).
Try (on that node; kvctl is in build/bin after cmake --build build):
  export PAXOSKV_CERT_DIR=$certs/admin
  kvctl --master $ms put greeting hello
  kvctl --master $ms get greeting
  kvctl --master $ms status
  grpcurl $tls -d '{"key":"greeting"}' 127.0.0.1:$PAXOSKV_MASTER_PORT paxoskv.v1.KV/Get
Tasks: docker stack ps $stack        Logs: docker service logs ${stack}_master
Remove: deploy/swarm/down.sh --stack $stack [--volumes]
MSG
