# Shared harness of the container failover tests (sourced by tests/cluster/*.sh).
#
# Each test owns one compose project (paxoskv-test-<name>) with the master published on a free
# 127.0.0.1 port, and an EXIT trap that tears the project down (volumes too) whatever happens.
# Without Docker the tests print why and exit 77 (ctest SKIP_RETURN_CODE), except in CI
# (CI=true) where that is a failure.
# The cluster runs with mutual TLS: cluster_init makes a CA and every certificate of its own in
# $WORK/certs (deploy/certs.sh), which docker-compose.yml mounts (PAXOSKV_CERT_DIR_HOST). Every
# host tool talks to the master with the admin certificate: kvctl, kvbench, paxoskv-lincheck and
# paxoskv-cluster-readback through PAXOSKV_CERT_DIR=$WORK/certs/admin, grpcurl through
# "${GRPCURL_TLS[@]}". The master is dialled as 127.0.0.1:PORT (an IP SAN of its certificate).
# Prometheus (service "prometheus") gets a free 127.0.0.1 port too ($PROMETHEUS), but only the
# tests that ask for it start it (CLUSTER_PROMETHEUS=1 before cluster_up: grpcurl_readme.sh).
# Env: PAXOSKV_BIN_DIR (host binaries: kvctl, kvbench, paxoskv-lincheck; set by ctest),
#      PAXOSKV_TEST_IMAGE (use this image instead of building paxoskv:test from PAXOSKV_BIN_DIR),
#      PAXOSKV_TEST_PROMETHEUS_IMAGE (use this image instead of building paxoskv-prometheus:test),
#      PAXOSKV_KEEP_WORKDIR=1 (keep histories and logs; they are always kept on failure).
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CLUSTER_DIR/../.." && pwd)
# shellcheck source=deploy/lib.sh
source "$REPO/deploy/lib.sh"
BIN_DIR=${PAXOSKV_BIN_DIR:-$REPO/build/bin}
TOOL=(python3 "$CLUSTER_DIR/clustertool.py")
SKIP=77

log() { echo "[$(date +%H:%M:%S)] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Exits 77 (or fails in CI) when Docker or Compose is missing; fails when host tools are.
cluster_require() {
  local why=""
  if ! paxoskv_have_docker; then
    why="Docker daemon not available"
  elif ! paxoskv_find_compose; then
    why="neither 'docker compose' nor 'docker-compose' found"
  fi
  if [[ -n "$why" ]]; then
    if [[ "${CI:-}" == true ]]; then fail "$why (CI=true: cluster tests must run)"; fi
    echo "SKIP: $why"
    exit $SKIP
  fi
  local b
  local needed=(kvctl kvbench paxoskv-lincheck paxoskv-cluster-readback)
  # Building paxoskv:test also needs the server binaries.
  [[ -z "${PAXOSKV_TEST_IMAGE:-}" ]] && needed+=(paxoskv-replica paxoskv-master paxoskv-health-probe)
  for b in "${needed[@]}"; do
    [[ -x "$BIN_DIR/$b" ]] || fail "$BIN_DIR/$b missing (build it, or set PAXOSKV_BIN_DIR)"
  done
  command -v python3 >/dev/null || fail "python3 missing"
  command -v openssl >/dev/null || fail "openssl missing (deploy/certs.sh needs it)"
  command -v grpcurl >/dev/null || fail "grpcurl missing (scripts/setup.sh installs it)"
  KVCTL=$BIN_DIR/kvctl
  KVBENCH=$BIN_DIR/kvbench
  LINCHECK=$BIN_DIR/paxoskv-lincheck
  READBACK=$BIN_DIR/paxoskv-cluster-readback
}

# Makes sure the image exists: PAXOSKV_TEST_IMAGE as given, else paxoskv:test from the host
# binaries (fast path of deploy/build-image.sh; cached layers make repeats take seconds).
cluster_image() {
  if [[ -n "${PAXOSKV_TEST_IMAGE:-}" ]]; then
    docker image inspect "$PAXOSKV_TEST_IMAGE" >/dev/null || fail "no image $PAXOSKV_TEST_IMAGE"
    export PAXOSKV_IMAGE=$PAXOSKV_TEST_IMAGE
  else
    export PAXOSKV_IMAGE=paxoskv:test
    "$REPO/deploy/build-image.sh" --prebuilt "$BIN_DIR" --image "$PAXOSKV_IMAGE" --quiet \
      >/dev/null || fail "building $PAXOSKV_IMAGE failed"
  fi
}

# The same for the Prometheus image of the compose file, when it has that service (any `up -d`
# without service names starts it): PAXOSKV_TEST_PROMETHEUS_IMAGE, else paxoskv-prometheus:test
# (deploy/prometheus/build-image.sh: about a minute the first time, seconds after).
cluster_prometheus_image() {
  grep -q '^  prometheus:' "$REPO/docker-compose.yml" || return 0
  if [[ -n "${PAXOSKV_TEST_PROMETHEUS_IMAGE:-}" ]]; then
    docker image inspect "$PAXOSKV_TEST_PROMETHEUS_IMAGE" >/dev/null \
      || fail "no image $PAXOSKV_TEST_PROMETHEUS_IMAGE"
    export PAXOSKV_PROMETHEUS_IMAGE=$PAXOSKV_TEST_PROMETHEUS_IMAGE
  else
    export PAXOSKV_PROMETHEUS_IMAGE=paxoskv-prometheus:test
    "$REPO/deploy/prometheus/build-image.sh" --image "$PAXOSKV_PROMETHEUS_IMAGE" --quiet \
      >"$WORK/prometheus-image.log" 2>&1 \
      || { tail -n 30 "$WORK/prometheus-image.log" >&2; fail "building $PAXOSKV_PROMETHEUS_IMAGE failed"; }
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

compose() { "${COMPOSE[@]}" -f "$REPO/docker-compose.yml" -p "$PROJECT" "$@"; }
# The same with the spare profiles enabled (shard s4-r1..s4-r3, shard 1's replica s1-r4).
compose_spare() { compose --profile spare --profile spare-replica "$@"; }

cluster_teardown() {
  local rc=$?
  set +e
  if [[ $rc -ne 0 && $rc -ne $SKIP && -n "${PROJECT:-}" ]]; then
    echo "---- container logs (last 30 lines each) ----" >&2
    compose_spare logs --no-color --tail=30 >&2 2>&1
    if [[ -n "${WORK:-}" ]]; then  # Evidence for a post-mortem: status and whole logs.
      cluster_status >"$WORK/status-at-failure.json" 2>&1
      compose_spare logs --no-color -t >"$WORK/containers.log" 2>&1
    fi
  fi
  if [[ -n "${PROJECT:-}" ]]; then
    local paused
    paused=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" \
      --filter status=paused)
    [[ -n "$paused" ]] && docker unpause $paused >/dev/null
    compose_spare down -v --remove-orphans -t 2 >/dev/null 2>&1
  fi
  if [[ -n "${WORK:-}" ]]; then
    if [[ $rc -ne 0 || "${PAXOSKV_KEEP_WORKDIR:-}" == 1 ]]; then
      echo "histories and logs kept in $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
  exit $rc
}

# cluster_init NAME: project paxoskv-test-NAME, work dir, free master ports, teardown trap.
# MASTER is the first master (service "master"); MASTERS all three, as clients that fail over
# between them take them (kvctl --master, kvbench --addr).
cluster_init() {
  cluster_require
  PROJECT=paxoskv-test-$1
  WORK=$(mktemp -d "/tmp/paxoskv-cluster-$1.XXXXXX")
  PORT=$(free_port)
  MASTER=127.0.0.1:$PORT
  export PAXOSKV_MASTER_PORT=$PORT
  export PAXOSKV_MASTER2_PORT PAXOSKV_MASTER3_PORT
  PAXOSKV_MASTER2_PORT=$(free_port)
  PAXOSKV_MASTER3_PORT=$(free_port)
  MASTERS=$MASTER,127.0.0.1:$PAXOSKV_MASTER2_PORT,127.0.0.1:$PAXOSKV_MASTER3_PORT
  export PAXOSKV_PROMETHEUS_PORT
  PAXOSKV_PROMETHEUS_PORT=$(free_port)
  PROMETHEUS=127.0.0.1:$PAXOSKV_PROMETHEUS_PORT
  NETWORK=${PROJECT}_paxoskv
  trap cluster_teardown EXIT
  trap 'exit 130' INT TERM
  cluster_certs
  compose_spare down -v --remove-orphans -t 1 >/dev/null 2>&1 || true  # Leftovers of a crashed run.
  cluster_image
  cluster_prometheus_image
}

# cluster_certs: this test's CA and certificates in $WORK/certs, mounted by the containers;
# the host tools use the admin certificate. Always TLS, whatever the caller's environment says.
cluster_certs() {
  CERTS=$WORK/certs
  "$REPO/deploy/certs.sh" "$CERTS" >"$WORK/certs.log" 2>&1 \
    || { cat "$WORK/certs.log" >&2; fail "deploy/certs.sh $CERTS failed"; }
  export PAXOSKV_CERT_DIR_HOST=$CERTS
  export PAXOSKV_CERT_DIR=$CERTS/admin
  unset PAXOSKV_TLS_FLAGS
  GRPCURL_TLS=(-cacert "$CERTS/admin/ca.crt" -cert "$CERTS/admin/tls.crt"
               -key "$CERTS/admin/tls.key")
}

# default_services: the services of docker-compose.yml that `up -d` starts (those without a
# compose profile), one a line, from `compose config` (anchors merged).
default_services() {
  compose config | awk '/^services:/ {s = 1; next} /^[^ ]/ {s = 0}
    s && /^  [^ ]/ {name = $1; sub(/:$/, "", name); order[++n] = name}
    s && /^    profiles:/ {prof[name] = 1}
    END {for (i = 1; i <= n; i++) if (!(order[i] in prof)) print order[i]}'
}

# cluster_up [SERVICE...]: starts the project and waits until healthy. By default every
# service that starts by default, but Prometheus only with CLUSTER_PROMETHEUS=1: the failover
# scenarios take every container of the project for a paxoskv server (rotate_certs restarts
# each and waits for its certificate) and run on a 2-core host.
cluster_up() {
  local t0=$SECONDS services=("$@") what=${*:-default services}
  if ((${#services[@]} == 0)) && [[ "${CLUSTER_PROMETHEUS:-0}" != 1 ]]; then
    mapfile -t services < <(default_services | grep -vx prometheus)
    what="default services but prometheus"
  fi
  compose up -d "${services[@]}" >"$WORK/compose-up.log" 2>&1 \
    || { cat "$WORK/compose-up.log" >&2; fail "compose up"; }
  wait_healthy
  log "cluster $PROJECT up ($what) in $((SECONDS - t0))s, master $MASTER"
}

wait_healthy() { paxoskv_wait_healthy "${1:-180}" compose_spare || fail "cluster not healthy"; }

# cluster_status [MASTER]: Admin/ClusterStatus JSON of the first master (or of MASTER).
cluster_status() {
  grpcurl "${GRPCURL_TLS[@]}" -max-time 5 "${1:-$MASTER}" paxoskv.v1.Admin/ClusterStatus \
    2>/dev/null
}

# leader_of SHARD [NOT_HOST]: waits (<= 30 s) for a leader of SHARD other than NOT_HOST and
# prints its service name.
leader_of() {
  local shard=$1 not=${2:-} deadline=$((SECONDS + 30)) leader
  while ((SECONDS < deadline)); do
    leader=$(cluster_status | "${TOOL[@]}" leader "$shard" || true)
    if [[ -n "$leader" && "$leader" != "$not" ]]; then echo "$leader"; return 0; fi
    sleep 0.2
  done
  fail "shard $shard has no leader${not:+ other than $not} after 30s"
}

# follower_of SHARD: a replica of SHARD that is not its leader.
follower_of() {
  local shard=$1 leader r
  leader=$(leader_of "$shard")
  for r in 1 2 3; do
    if [[ "s$shard-r$r" != "$leader" ]]; then echo "s$shard-r$r"; return 0; fi
  done
}

# wait_caught_up SHARD HOST: waits (<= 60 s) until HOST is healthy and has applied as far as
# the shard's leader.
wait_caught_up() {
  local shard=$1 host=$2 deadline=$((SECONDS + 60)) line
  while ((SECONDS < deadline)); do
    line=$(cluster_status | "${TOOL[@]}" replica "$shard" "$host" || true)
    read -r healthy applied leader_applied <<<"${line:-no 0 -1}"
    if [[ "$healthy" == yes && "$leader_applied" -ge 0 && "$applied" -ge "$leader_applied" ]]; then
      log "$host caught up: applied slot $applied, leader's $leader_applied"
      return 0
    fi
    sleep 0.5
  done
  fail "$host did not catch up with its leader in 60s (last: ${line:-no status})"
}

container_of() { compose ps -q "$1"; }

# ip_map: "service ip" lines of the project's running containers on its network, sorted.
ip_map() {
  local ids
  ids=$(compose_spare ps -q 2>/dev/null) || return 0
  [[ -z "$ids" ]] && return 0
  docker inspect -f \
    "{{index .Config.Labels \"com.docker.compose.service\"}} {{with index .NetworkSettings.Networks \"$NETWORK\"}}{{.IPAddress}}{{end}}" \
    $ids 2>/dev/null | sort
}

# note_ips: remembers the current address of every container (call before a fault).
note_ips() { ip_map >"$WORK/ips.before"; }

# report_moved_ips: after containers were restarted, logs every service whose address changed
# and which service had that address before. Docker may hand the address of one restarted
# container to another; a peer or master channel that still holds the old address then reaches
# the wrong replica.
report_moved_ips() {
  ip_map >"$WORK/ips.after"
  local svc ip old prev
  while read -r svc ip; do
    old=$(awk -v s="$svc" '$1 == s {print $2}' "$WORK/ips.before")
    [[ -z "$old" || -z "$ip" || "$old" == "$ip" ]] && continue
    prev=$(awk -v a="$ip" '$2 == a {print $1}' "$WORK/ips.before")
    log "address of $svc changed $old -> $ip${prev:+ (the address $prev had before the fault)}"
  done <"$WORK/ips.after"
}

# start_load NAME SECONDS [kvbench flags...]: closed-loop load through the masters in the
# background (each client starts at the first and fails over to the others), history in
# $WORK/NAME.jsonl. kvbench stops by itself; `timeout` guards a hang.
start_load() {
  local name=$1 seconds=$2; shift 2
  LOAD_NAME=$name
  LOAD_HISTORY=$WORK/$name.jsonl
  # --driver threads: each client retries through KvClient with the same (client_id, seq)
  # until its deadline, as an application would; the checks judge that history.
  timeout $((seconds + 60)) "$KVBENCH" --target master --driver threads --addr "$MASTERS" \
    --duration_s "$seconds" --clients 8 --keys 200 --read_percent 40 --value_size 64 \
    --prefix "$name-" --seed "$RANDOM" --history "$LOAD_HISTORY" "$@" \
    >"$WORK/$name.kvbench.log" 2>&1 &
  LOAD_PID=$!
  log "load $name: kvbench for ${seconds}s (pid $LOAD_PID)"
}

wait_load() {
  local rc=0
  wait "$LOAD_PID" || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$WORK/$LOAD_NAME.kvbench.log" >&2
    fail "kvbench for $LOAD_NAME exited with $rc"
  fi
  [[ -s "$LOAD_HISTORY" ]] || fail "kvbench wrote no history for $LOAD_NAME"
}

# check_history NAME: reads every key of $WORK/NAME.jsonl back through the master, checks the
# history plus those reads with paxoskv-lincheck, and prints the scenario's result line.
# Extra args go to `clustertool.py stats` (e.g. a fault window).
check_history() {
  local name=$1; shift
  local hist=$WORK/$name.jsonl full=$WORK/$name.readback.jsonl stats
  timeout 300 "$READBACK" --master="$MASTER" --history="$hist" --out="$full" \
    || fail "$name: some keys could not be read back"
  if ! timeout 300 "$LINCHECK" "$full" >"$WORK/$name.lincheck.log" 2>&1; then
    tail -n 40 "$WORK/$name.lincheck.log" >&2
    fail "$name: history is not linearizable (or the checker failed)"
  fi
  stats=$("${TOOL[@]}" stats "$hist" "$@")
  STATS=$stats
  local unavailable ops
  unavailable=$(sed -n 's/.*unavailable_ms=\([0-9]*\).*/\1/p' <<<"$stats")
  ops=$(sed -n 's/.*history_ops=\([0-9]*\).*/\1/p' <<<"$stats")
  log "$name: $stats"
  echo "scenario=$name unavailable_ms=$unavailable history_ops=$ops linearizable=yes"
}

now_ns() { "${TOOL[@]}" now_ns; }
