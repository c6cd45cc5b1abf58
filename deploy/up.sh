#!/usr/bin/env bash
# Starts the paxoskv cluster (3 shards x 3 replicas, the configuration group, 3 masters) and
# its Prometheus under Docker Compose.
#
#   deploy/up.sh                        full image build from source, then start
#   deploy/up.sh --prebuilt build/bin   package binaries built on this host (fast)
#   deploy/up.sh --no-build             use the existing images as they are
#   --spare          also start the spare shard (compose profile "spare") for AddShard demos
#   --project NAME   compose project name (default paxoskv, or COMPOSE_PROJECT_NAME)
#   --timeout S      how long to wait for every container to be healthy (default 180)
# Mutual TLS: runs deploy/certs.sh first, which makes the CA and every certificate in
# deploy/certs/ on the first start and reuses them after (kvctl and grpcurl on the host use
# deploy/certs/admin). PAXOSKV_TLS_FLAGS=--insecure starts a plaintext cluster instead.
# Both images are built unless --no-build: paxoskv (deploy/build-image.sh) and the Prometheus
# image (deploy/prometheus/build-image.sh: Debian's package; its first build takes a minute).
# Env: PAXOSKV_MASTER_PORT, PAXOSKV_MASTER2_PORT, PAXOSKV_MASTER3_PORT (the masters' ports on
#      127.0.0.1, default 50051, 50052, 50053), PAXOSKV_IMAGE (paxoskv:dev),
#      PAXOSKV_PROMETHEUS_PORT (Prometheus on 127.0.0.1, default 9090),
#      PAXOSKV_PROMETHEUS_IMAGE (paxoskv-prometheus:dev),
#      PAXOSKV_CERT_DIR_HOST (certificate folders, default deploy/certs), PAXOSKV_TLS_FLAGS.
# Installs nothing; needs Docker, Compose (v2 plugin or docker-compose 1.29) and openssl.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=deploy/lib.sh
source "$here/lib.sh"

export PAXOSKV_IMAGE=${PAXOSKV_IMAGE:-paxoskv:dev}
export PAXOSKV_MASTER_PORT=${PAXOSKV_MASTER_PORT:-50051}
export PAXOSKV_MASTER2_PORT=${PAXOSKV_MASTER2_PORT:-50052}
export PAXOSKV_MASTER3_PORT=${PAXOSKV_MASTER3_PORT:-50053}
export PAXOSKV_PROMETHEUS_IMAGE=${PAXOSKV_PROMETHEUS_IMAGE:-paxoskv-prometheus:dev}
export PAXOSKV_PROMETHEUS_PORT=${PAXOSKV_PROMETHEUS_PORT:-9090}
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "up: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

paxoskv_have_docker || { echo "up: Docker is not available (is the daemon running?)" >&2; exit 1; }
paxoskv_find_compose || { echo "up: neither 'docker compose' nor 'docker-compose' found" >&2; exit 1; }

# The certificates (kept between runs; deploy/down.sh leaves them). An absolute path, so that
# docker-compose.yml finds them whatever the current directory.
certs=${PAXOSKV_CERT_DIR_HOST:-$repo/deploy/certs}
mkdir -p "$certs"
certs=$(cd "$certs" && pwd)
export PAXOSKV_CERT_DIR_HOST=$certs
"$here/certs.sh" "$certs"

if ((build)); then
  "$here/build-image.sh" --image "$PAXOSKV_IMAGE" "${build_args[@]}"
  "$here/prometheus/build-image.sh" --image "$PAXOSKV_PROMETHEUS_IMAGE"
else
  for image in "$PAXOSKV_IMAGE" "$PAXOSKV_PROMETHEUS_IMAGE"; do
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      echo "up: image $image not found (drop --no-build)" >&2
      exit 1
    fi
  done
fi

compose=("${COMPOSE[@]}" -f "$repo/docker-compose.yml" -p "$project")
if ((spare)); then compose+=(--profile spare); fi
echo "up: starting project $project (masters on 127.0.0.1:$PAXOSKV_MASTER_PORT," \
  "$PAXOSKV_MASTER2_PORT, $PAXOSKV_MASTER3_PORT; Prometheus on 127.0.0.1:$PAXOSKV_PROMETHEUS_PORT)"
"${compose[@]}" up -d
if ! paxoskv_wait_healthy "$timeout_s" "${compose[@]}"; then
  echo "up: cluster did not become healthy; recent logs:" >&2
  "${compose[@]}" logs --tail=20 >&2 || true
  exit 1
fi

m=127.0.0.1:$PAXOSKV_MASTER_PORT
# kvctl takes every master and fails over between them; grpcurl talks to one.
ms=$m,127.0.0.1:$PAXOSKV_MASTER2_PORT,127.0.0.1:$PAXOSKV_MASTER3_PORT
# Flags that address this same cluster again (non-default project or port).
again=""
[[ $project != paxoskv ]] && again+=" --project $project"
env_prefix=""
[[ $PAXOSKV_MASTER_PORT != 50051 ]] && env_prefix+="PAXOSKV_MASTER_PORT=$PAXOSKV_MASTER_PORT "
[[ $PAXOSKV_MASTER2_PORT != 50052 ]] && env_prefix+="PAXOSKV_MASTER2_PORT=$PAXOSKV_MASTER2_PORT "
[[ $PAXOSKV_MASTER3_PORT != 50053 ]] && env_prefix+="PAXOSKV_MASTER3_PORT=$PAXOSKV_MASTER3_PORT "
[[ $PAXOSKV_PROMETHEUS_PORT != 9090 ]] && env_prefix+="PAXOSKV_PROMETHEUS_PORT=$PAXOSKV_PROMETHEUS_PORT "
[[ $certs != "$repo/deploy/certs" ]] && env_prefix+="PAXOSKV_CERT_DIR_HOST=$certs "
# How kvctl and grpcurl on the host reach it: the admin certificate, or plaintext.
if [[ " ${PAXOSKV_TLS_FLAGS:-} " == *" --insecure "* ]]; then
  mode="plaintext (PAXOSKV_TLS_FLAGS=--insecure)"
  env_prefix+="PAXOSKV_TLS_FLAGS=--insecure "
  kvctl="kvctl --insecure"
  grpcurl="grpcurl -plaintext"
  exec_kvctl="kvctl --insecure"
  setup=""
else
  mode="mutual TLS, certificates in $certs"
  kvctl="kvctl"
  grpcurl="grpcurl -cacert $certs/admin/ca.crt -cert $certs/admin/tls.crt -key $certs/admin/tls.key"
  exec_kvctl="kvctl"
  setup="  export PAXOSKV_CERT_DIR=$certs/admin    # kvctl and kvbench: the admin certificate
"
fi
cat <<MSG
up: cluster is healthy (project $project; $mode).
Try (kvctl and grpcurl on this host; kvctl is in build/bin after cmake --build build):
$setup  $kvctl --master $ms put greeting hello
  $kvctl --master $ms get greeting
  $kvctl --master $ms delete greeting
  $kvctl --master $ms status
  $grpcurl $m list
  $grpcurl -d '{"key":"greeting","value":"hello"}' $m paxoskv.v1.KV/Put
  $grpcurl -d '{"key":"greeting"}' $m paxoskv.v1.KV/Get
  $grpcurl $m paxoskv.v1.Admin/ClusterStatus
or with the kvctl inside the image:
  ${compose[*]} exec master $exec_kvctl status
Prometheus (every replica and master scraped every 5 s; alert rules in deploy/prometheus/alerts.yml):
  http://127.0.0.1:$PAXOSKV_PROMETHEUS_PORT/   (/classic/targets, /classic/alerts: Debian's package has the classic UI)
  curl -s 'http://127.0.0.1:$PAXOSKV_PROMETHEUS_PORT/api/v1/query?query=sum(paxoskv_server_proposals_committed_total)'
  ${compose[*]} exec -T prometheus wget -qO- http://s1-r1:9400/metrics    (one process's metrics)
Add the spare shard:
  ${env_prefix}deploy/up.sh --no-build --spare$again
  $kvctl --master $ms add-shard 4 s4-r1:7000,s4-r2:7000,s4-r3:7000
  (Prometheus scrapes the default services only: add s4-r1..s4-r3 to deploy/prometheus/prometheus.yml)
Logs: ${compose[*]} logs -f master master2 master3
Stop: deploy/down.sh$again
MSG
