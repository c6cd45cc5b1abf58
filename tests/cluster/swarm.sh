#!/usr/bin/env bash
# Container test of the Docker Swarm stack (deploy/swarm/paxoskv-stack.yml, ctest cluster_swarm):
# initialises a single-node swarm on the running Docker engine when it is none (control plane on
# 127.0.0.1 only), deploys the stack with deploy/swarm/deploy.sh under a unique stack name
# (image paxoskv:test from PAXOSKV_BIN_DIR, this test's own CA, free ports), runs README.md's
# grpcurl lines ("Try it: grpcurl") and its kvctl put/get/delete/status lines ("Try it:
# kvctl") against the master, kills the container of shard 1's leader, keeps writing and reading
# through the masters while Swarm restarts that task, checks the restarted replica kept its
# volume and caught up, and reads everything back. An EXIT trap removes the stack, its volumes
# and secrets (deploy/swarm/down.sh --volumes) and, if this test made the swarm, leaves it
# (and removes the docker_gwbridge network `swarm init` made); in a swarm that was there
# before it removes only its stack and the node labels deploy.sh added. Every wait has a
# deadline; the whole test took 1.5-2 minutes on 2 cores (image build included). Skipped
# (77) without Docker, or on an engine that is a swarm worker, except with CI=true.
# Env: PAXOSKV_BIN_DIR (kvctl, the server binaries), PAXOSKV_TEST_IMAGE (use this image
# instead of building paxoskv:test), PAXOSKV_KEEP_WORKDIR=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d "$HOME/go/bin" ]] && PATH=$PATH:$HOME/go/bin
STACK_PREFIX=paxoskv-test-swarm-
CREATED_LABEL=paxoskv.test-swarm   # on the node of a swarm this test initialised
T0=$SECONDS

skip_or_fail() {
  if [[ "${CI:-}" == true ]]; then fail "$1 (CI=true: cluster tests must run)"; fi
  echo "SKIP: $1"
  exit $SKIP
}

# ---- requirements -------------------------------------------------------------------------
paxoskv_have_docker || skip_or_fail "Docker daemon not available"
needed=(kvctl)
[[ -z "${PAXOSKV_TEST_IMAGE:-}" ]] && needed+=(paxoskv-replica paxoskv-master kvctl kvbench paxoskv-health-probe)
for b in "${needed[@]}"; do
  [[ -x "$BIN_DIR/$b" ]] || fail "$BIN_DIR/$b missing (build it, or set PAXOSKV_BIN_DIR)"
done
KVCTL=$BIN_DIR/kvctl
for t in python3 openssl grpcurl sha256sum; do
  command -v "$t" >/dev/null || fail "$t missing (scripts/setup.sh installs it)"
done
unset PAXOSKV_CERT_DIR PAXOSKV_MASTER PAXOSKV_TLS_FLAGS

STACK="" WORK="" CREATED_SWARM=0 LABELS_BEFORE="" GWBRIDGE_BEFORE=0

self_id() { docker info --format '{{.Swarm.NodeID}}'; }
node_labels() {
  docker node inspect self --format '{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}} {{end}}' 2>/dev/null
}

gwbridge_endpoints() { docker network inspect docker_gwbridge --format '{{json .Containers}}' 2>/dev/null; }
# Waits (<= 30 s) until swarm init has set up the routing mesh's sandbox (ingress-sbox).
wait_ingress_sandbox() {
  local until=$((SECONDS + 30))
  until [[ "$(gwbridge_endpoints)" == *ingress-sbox* ]]; do
    ((SECONDS < until)) || { echo "warning: no ingress sandbox 30s after swarm init" >&2; return 0; }
    sleep 0.5
  done
}

teardown() {
  local rc=$?
  set +e
  trap '' INT TERM
  if [[ -n "$STACK" ]]; then
    if [[ $rc -ne 0 && $rc -ne $SKIP ]]; then
      echo "---- tasks of $STACK ----" >&2
      docker stack ps --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' "$STACK" >&2
      echo "---- service logs (last 20 lines each) ----" >&2
      for s in $(docker stack services --format '{{.Name}}' "$STACK" 2>/dev/null); do
        docker service logs --no-trunc --tail 20 "$s" 2>&1 | sed "s|^|$s: |" >&2
        [[ -n "$WORK" ]] && docker service logs --no-trunc -t "$s" >"$WORK/$s.log" 2>&1
      done
      [[ -n "$WORK" ]] && cluster_status >"$WORK/status-at-failure.json" 2>&1
    fi
    log "removing stack $STACK"
    "$REPO/deploy/swarm/down.sh" --stack "$STACK" --volumes --timeout 120 >&2 || { ((rc == 0)) && rc=1; }
    local left
    left=$(docker service ls -q --filter "label=com.docker.stack.namespace=$STACK"
           docker secret ls -q --filter "label=com.docker.stack.namespace=$STACK"
           docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK"
           docker volume ls -q --filter "name=${STACK}_"
           docker network ls -q --filter "label=com.docker.stack.namespace=$STACK")
    if [[ -n "$left" ]]; then
      echo "FAIL: stack $STACK left objects behind: $(echo $left)" >&2
      ((rc == 0)) && rc=1
    fi
  fi
  if ((CREATED_SWARM)); then
    log "leaving the swarm this test initialised"
    wait_ingress_sandbox   # leaving while it is still being set up strands the ingress network
    docker swarm leave --force >/dev/null 2>&1 || { echo "FAIL: docker swarm leave" >&2; ((rc == 0)) && rc=1; }
    # swarm init made the bridge network docker_gwbridge; leaving keeps it. It empties once the
    # ingress sandbox is gone.
    if ((!GWBRIDGE_BEFORE)); then
      local until=$((SECONDS + 30))
      while [[ "$(gwbridge_endpoints)" != "" && "$(gwbridge_endpoints)" != "{}" ]] && ((SECONDS < until)); do
        sleep 0.5
      done
      if docker network inspect docker_gwbridge >/dev/null 2>&1; then
        docker network rm docker_gwbridge >/dev/null || echo "warning: could not remove docker_gwbridge" >&2
      fi
    fi
    if docker network ls --format '{{.Name}}' | grep -qx ingress; then
      echo "warning: the ingress network is still listed after leaving the swarm" >&2
    fi
  elif [[ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" == true ]]; then
    # The swarm was there before: take back only the node labels deploy.sh added.
    local l
    for l in $(node_labels); do
      [[ " $LABELS_BEFORE " == *" $l "* ]] || docker node update --label-rm "${l%%=*}" "$(self_id)" >/dev/null
    done
  fi
  if [[ -n "$WORK" ]]; then
    if [[ $rc -ne 0 || "${PAXOSKV_KEEP_WORKDIR:-}" == 1 ]]; then
      echo "logs kept in $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
  log "swarm test finished in $((SECONDS - T0))s (exit $rc)"
  exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- the swarm ----------------------------------------------------------------------------
state=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')
case "$state" in
  "inactive "*)
    docker network inspect docker_gwbridge >/dev/null 2>&1 && GWBRIDGE_BEFORE=1
    # Control plane on loopback only: nothing of this swarm listens on the host's network.
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port)" \
      >/dev/null || fail "docker swarm init"
    CREATED_SWARM=1
    docker node update --label-add "$CREATED_LABEL=created" "$(self_id)" >/dev/null
    wait_ingress_sandbox
    log "initialised a single-node swarm (127.0.0.1)"
    ;;
  "active true")
    if [[ -n "$(docker node ls -q --filter "node.label=$CREATED_LABEL=created")" ]] \
       && [[ -z "$(docker stack ls --format '{{.Name}}' | grep -v "^$STACK_PREFIX")" ]]; then
      # A swarm an earlier run of this test made and could not leave (killed): adopt it.
      CREATED_SWARM=1
      log "reusing the swarm an earlier run of this test initialised"
    else
      LABELS_BEFORE=$(node_labels)
      log "this engine is already a swarm manager: using it, only this test's stack goes at the end"
    fi
    ;;
  *) skip_or_fail "this Docker engine is a swarm node but not a manager (state: $state)" ;;
esac

# Stacks of earlier runs whose process is gone (a run that was killed before its trap ran).
for s in $(docker stack ls --format '{{.Name}}' | grep "^$STACK_PREFIX" || true); do
  pid=${s#"$STACK_PREFIX"}
  if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
    log "removing stack $s left by an earlier run"
    "$REPO/deploy/swarm/down.sh" --stack "$s" --volumes --timeout 120 >/dev/null || true
  fi
done

# ---- deploy -------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/paxoskv-cluster-swarm.XXXXXX)
cluster_image   # PAXOSKV_IMAGE: paxoskv:test from $BIN_DIR, or PAXOSKV_TEST_IMAGE
PORT=$(free_port)
PORT2=$(free_port)
MASTER=127.0.0.1:$PORT
MASTERS=$MASTER,127.0.0.1:$PORT2
CERTS=$WORK/certs
GRPCURL_TLS=(-cacert "$CERTS/admin/ca.crt" -cert "$CERTS/admin/tls.crt" -key "$CERTS/admin/tls.key")
STACK=$STACK_PREFIX$$
t=$SECONDS
if ! PAXOSKV_CERT_DIR_HOST=$CERTS PAXOSKV_MASTER_PORT=$PORT PAXOSKV_MASTER2_PORT=$PORT2 \
     "$REPO/deploy/swarm/deploy.sh" --no-build --stack "$STACK" --timeout 180 \
     >"$WORK/deploy.log" 2>&1; then
  cat "$WORK/deploy.log" >&2
  fail "deploy/swarm/deploy.sh failed"
fi
log "stack $STACK deployed, every task healthy, in $((SECONDS - t))s (masters $MASTERS)"

# kvctl with the admin certificate, bounded.
kv() { timeout 30 "$KVCTL" --cert_dir "$CERTS/admin" --master "${KV_MASTER:-$MASTERS}" "$@"; }

# The master serves once it has read the ring from the configuration group.
deadline=$((SECONDS + 90))
until kv status >"$WORK/status.txt" 2>&1; do
  ((SECONDS < deadline)) || { cat "$WORK/status.txt" >&2; fail "the master does not serve 90s after the deploy"; }
  sleep 1
done
log "the master serves ($((SECONDS - t))s after the deploy began)"

# ---- README.md's lines --------------------------------------------------------------------
# readme_block HEADING: the first ```sh block after the line "## HEADING".
readme_block() {
  awk -v h="## $1" '$0 == h {f = 1; next} f && /^```sh/ {b = 1; next} b && /^```/ {exit} b {print}' \
    "$REPO/README.md"
}
squash() { tr -d ' \n\t'; }
prelude=""   # the blocks' variable assignments, run before every later line
ran=()
run_readme_block() {
  local heading=$1 line cmd comment want rc out sub
  local block
  block=$(readme_block "$heading" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
  [[ -n "$block" ]] || fail "README.md has no sh block under \"## $heading\""
  while IFS= read -r line; do
    [[ -z "${line// }" || "$line" =~ ^[[:space:]]*# ]] && continue
    cmd=$line comment=""
    if [[ "$line" =~ ^(.*[^[:space:]])[[:space:]]+#[[:space:]]+(.*)$ ]]; then
      cmd=${BASH_REMATCH[1]} comment=${BASH_REMATCH[2]}
    fi
    # This test's master and certificates instead of the compose cluster's.
    cmd=${cmd//\$PWD\/deploy\/certs\//$CERTS/}
    cmd=${cmd//deploy\/certs\//$CERTS/}
    cmd=${cmd//127.0.0.1:50051/$MASTER}
    cmd=${cmd//build\/bin\//$BIN_DIR/}
    if [[ "$cmd" =~ ^(export[[:space:]]+)?[A-Za-z_][A-Za-z0-9_]*= ]]; then
      prelude+="$cmd"$'\n'
      echo "\$ $line"
      continue
    fi
    if [[ "$cmd" == *kvctl* ]]; then
      sub=$(sed -n 's/.*kvctl --master [^ ]* \([a-z-]*\).*/\1/p' <<<"$cmd")
      if [[ ! "$sub" =~ ^(put|get|delete|status)$ ]]; then
        echo "# (not run against the swarm: $line)"
        continue
      fi
    elif [[ "$cmd" != grpcurl* ]]; then
      echo "# (not run against the swarm: $line)"
      continue
    fi
    rc=0
    out=$(timeout 60 bash -c "$prelude$cmd" 2>&1) || rc=$?
    echo "\$ $line"
    sed 's/^/  /' <<<"$out" | head -n 40
    want=""
    if [[ "$comment" =~ (Code:[[:space:]]*[A-Za-z]+) ]]; then
      want=${BASH_REMATCH[1]}
      ((rc != 0)) || fail "expected this line to fail with $want"
    else
      ((rc == 0)) || fail "this line failed (exit $rc)"
    fi
    if [[ "$comment" == "prints "* ]]; then want=${comment#prints }; fi
    if [[ -n "$want" && "$(squash <<<"$out")" != *"$(squash <<<"$want")"* ]]; then
      fail "output does not contain: $want"
    fi
    if [[ "$comment" == kvctl:* ]]; then   # "kvctl: get: key not found: greeting, 1"
      local part
      IFS=',' read -ra parts <<<"$comment"
      for part in "${parts[@]}"; do
        [[ "$(squash <<<"$out")" == *"$(squash <<<"$part")"* ]] || fail "output does not contain: $part"
      done
    fi
    ran+=("$cmd")
  done <<<"$block"
}
t=$SECONDS
run_readme_block "Try it: grpcurl"
run_readme_block "Try it: kvctl"
# The lines this test exists for must have been among them.
for need in "KV/Put" "KV/Get" "KV/Delete" "kvctl --master $MASTER put" "kvctl --master $MASTER get" \
            "kvctl --master $MASTER delete" "kvctl --master $MASTER status"; do
  found=0
  for c in "${ran[@]}"; do [[ "$c" == *"$need"* ]] && found=1; done
  ((found)) || fail "README.md no longer has a line with \"$need\" for this test to run"
done
log "ran ${#ran[@]} grpcurl and kvctl lines of README.md in $((SECONDS - t))s"
grep -q 's1-r1' <<<"$(kv status)" || fail "kvctl status does not list shard 1's replicas"

# ---- kill a replica of shard 1 (its leader) -----------------------------------------------
victim=$(leader_of 1)
[[ "$victim" =~ ^s1-r[123]$ ]] || fail "unexpected leader of shard 1: $victim"
service=${STACK}_$victim
cid=$(docker ps -q --filter "label=com.docker.swarm.service.name=$service" --filter status=running)
[[ $(wc -w <<<"$cid") == 1 ]] || fail "expected one running container of $service, found: $cid"
old_task=$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$cid")
kv put before-kill here >/dev/null || fail "put before the kill"
docker kill "$cid" >/dev/null
t_kill=$SECONDS
log "killed $victim (leader of shard 1, container ${cid:0:12}, task ${old_task:0:12})"

# Keep writing and reading through the masters (kvctl fails over between them and retries)
# until Swarm has restarted the task and at least 40 keys were written, within 150 s. Every
# operation gets at most 20 s including retries; the slowest one is reported.
i=0 slowest_ms=0 restarted="" new_task=""
deadline=$((SECONDS + 150))
while :; do
  i=$((i + 1))
  start=$(date +%s%N)
  op_deadline=$((SECONDS + 20))
  until out=$(kv put "swarm-$i" "v$i" 2>&1) && got=$(kv get "swarm-$i" 2>&1) && [[ "$got" == "v$i" ]]; do
    ((SECONDS < op_deadline)) || fail "key swarm-$i: no successful put+get within 20s after the kill (last: $out ${got:-})"
    sleep 0.2
  done
  ms=$((($(date +%s%N) - start) / 1000000))
  ((ms > slowest_ms)) && slowest_ms=$ms
  if [[ -z "$restarted" ]]; then
    line=$(docker service ps --no-trunc --filter desired-state=running \
           --format '{{.ID}} {{.CurrentState}}' "$service" 2>/dev/null | head -n 1)
    if [[ -n "$line" && "${line%% *}" != "$old_task" && "$line" == *" Running "* ]]; then
      restarted=$((SECONDS - t_kill)) new_task=${line%% *}
      log "Swarm restarted $victim as task ${new_task:0:12}, running (healthy) ${restarted}s after the kill"
    fi
  fi
  [[ -n "$restarted" && $i -ge 40 ]] && break
  ((SECONDS < deadline)) || fail "Swarm did not restart $victim within 150s (tasks: $(docker service ps --format '{{.Name}} {{.CurrentState}}' "$service" | tr '\n' ';'))"
done
log "served $i put+get pairs while $victim was killed and restarted; slowest pair ${slowest_ms}ms"

# The new task has the old volume (same name: the replica's data), and catches up.
new_cid=$(docker ps -q --filter "label=com.docker.swarm.task.id=$new_task")
vol=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/var/lib/paxoskv"}}{{.Name}}{{end}}{{end}}' "$new_cid")
[[ "$vol" == "${STACK}_$victim-data" ]] || fail "restarted $victim mounts volume '$vol', not ${STACK}_$victim-data"
wait_caught_up 1 "$victim"

# Everything written survives, read through the second master alone.
for ((k = 1; k <= i; k++)); do
  got=$(KV_MASTER=127.0.0.1:$PORT2 kv get "swarm-$k") || fail "get swarm-$k through master2"
  [[ "$got" == "v$k" ]] || fail "swarm-$k reads '$got', want v$k"
done
[[ "$(KV_MASTER=127.0.0.1:$PORT2 kv get before-kill)" == here ]] || fail "before-kill lost"
log "all $i keys (and the one written before the kill) read back through master2"
echo "scenario=swarm_kill_replica restarted_after_s=$restarted slowest_put_get_ms=$slowest_ms keys=$i"
log "PASS ($((SECONDS - T0))s before teardown)"
