#!/usr/bin/env bash
# Runs the grpcurl examples of deploy/README.md (between each pair of grpcurl-examples markers,
# in order), line by line, against a compose cluster (mutual TLS) with the spare shard started.
# Only the port and the certificates change: the README's 127.0.0.1:50051 becomes this test's
# free port and deploy/certs/ this test's certificates ($WORK/certs/, see lib.sh). A "# -> TEXT"
# line after a command means its output (stdout+stderr, whitespace-insensitive) must contain
# TEXT; "Code: ..." or "Failed ..." means the command must fail (with that status or message).
# Then the compose file's Prometheus (deploy/prometheus/, on this test's free port), through its
# HTTP API on 127.0.0.1: every target of its default scrape configuration is up (one per
# default replica and master service), the alert rules are loaded, the web UI answers, a
# process's /metrics can be read from inside the network as deploy/README.md shows,
# sum(paxoskv_server_proposals_committed_total) rises under a few seconds of kvbench load, and
# after `docker kill` of a follower of shard 1 PaxoskvMembersDown fires for it (within 60 s)
# while KV keeps working. Every wait has a deadline; lib.sh's trap removes everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v grpcurl >/dev/null || fail "grpcurl not found (scripts/setup.sh installs it)"
readme=$REPO/deploy/README.md
block=$(sed -n '/<!-- grpcurl-examples:begin -->/,/<!-- grpcurl-examples:end -->/p' "$readme" \
  | grep -v -e '^<!--' -e '^```')
[[ -n "$block" ]] || fail "no grpcurl examples found in $readme"
# The README's lines are for the secure cluster, which is what this test starts.
if grep -q -- '-plaintext' <<<"$block"; then fail "a grpcurl example uses -plaintext"; fi

cluster_init grpcurl
CLUSTER_PROMETHEUS=1 cluster_up   # every default service, Prometheus too
compose_spare up -d s4-r1 s4-r2 s4-r3 >/dev/null 2>&1
wait_healthy

squash() { tr -d ' \n\t'; }
commands=() expects=()
while IFS= read -r line; do
  if [[ "$line" == "# -> "* ]]; then
    expects[${#commands[@]}-1]=${line#"# -> "}
  elif [[ -n "$line" ]]; then
    commands+=("$line")
  fi
done <<<"$block"

n=0
for i in "${!commands[@]}"; do
  cmd=${commands[$i]//127.0.0.1:50051/$MASTER}
  cmd=${cmd//deploy\/certs\//$CERTS/}
  want=${expects[$i]:-}
  rc=0
  out=$(timeout 60 bash -c "$cmd" 2>&1) || rc=$?
  echo "\$ ${commands[$i]}"
  echo "$out" | sed 's/^/  /'
  if [[ "$want" == "Code: "* || "$want" == "Failed "* ]]; then
    ((rc != 0)) || fail "expected this command to fail with $want"
  else
    ((rc == 0)) || fail "command failed (exit $rc)"
  fi
  if [[ -n "$want" && "$(squash <<<"$out")" != *"$(squash <<<"$want")"* ]]; then
    fail "output does not contain: $want"
  fi
  n=$((n + 1))
done
log "all $n grpcurl examples of deploy/README.md passed"

# ---- Prometheus ----------------------------------------------------------------------------
# prom CMD [ARGS]: asks Prometheus's HTTP API at $PROMETHEUS (127.0.0.1; no proxy) and prints
#   targets          "instance job health" of every active target, then lastError if any
#   rules            the names of the alerting rules, one a line
#   query EXPR       the value of the instant query EXPR (its first sample; nothing if none)
#   instances EXPR   the instance labels of the samples of EXPR, on one line
#   alert NAME INST  the state (pending, firing) of alert NAME for instance INST, or nothing
#   firing           "alertname{labels}" of every firing alert
#   page PATH        the HTTP status of GET PATH (the web UI; redirects followed)
prom() {
  python3 - "$PROMETHEUS" "$@" <<'PY'
import json, sys, urllib.error, urllib.parse, urllib.request
addr, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(path, **params):
    url = "http://%s%s" % (addr, path)
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with opener.open(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        sys.exit("prometheus %s: %s" % (path, body))
    return body["data"]
if cmd == "targets":
    for t in get("/api/v1/targets", state="active")["activeTargets"]:
        err = (" " + t["lastError"]) if t.get("lastError") else ""
        print(t["labels"].get("instance", "?"), t["labels"].get("job", "?"), t["health"] + err)
elif cmd == "rules":
    for g in get("/api/v1/rules", type="alert")["groups"]:
        for r in g["rules"]:
            print(r["name"])
elif cmd == "query":
    result = get("/api/v1/query", query=args[0])["result"]
    if result:
        print(result[0]["value"][1])
elif cmd == "instances":
    result = get("/api/v1/query", query=args[0])["result"]
    print(" ".join(sorted(r["metric"].get("instance", "?") for r in result)))
elif cmd == "alert":
    for a in get("/api/v1/alerts")["alerts"]:
        if a["labels"].get("alertname") == args[0] and a["labels"].get("instance") == args[1]:
            print(a["state"])
elif cmd == "firing":
    for a in get("/api/v1/alerts")["alerts"]:
        if a["state"] == "firing":
            labels = dict(a["labels"])
            name = labels.pop("alertname")
            print(name + "{" + ",".join("%s=%s" % kv for kv in sorted(labels.items())) + "}")
elif cmd == "page":
    try:
        with opener.open("http://%s%s" % (addr, args[0]), timeout=5) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)
else:
    sys.exit("prom: unknown command " + cmd)
PY
}

log "Prometheus on http://$PROMETHEUS"
# Every default service but Prometheus itself is a target, and every one must be up.
expected=$(default_services | grep -vx prometheus | sort | tr '\n' ' ')
deadline=$((SECONDS + 90))
while :; do
  targets=$(prom targets 2>&1 || true)
  seen=$(awk '{print $1}' <<<"$targets" | sort | tr '\n' ' ')
  up=$(awk '$3 == "up"' <<<"$targets" | wc -l)
  total=$(grep -c . <<<"$targets" || true)
  [[ "$seen" == "$expected" && "$up" -eq "$total" ]] && break
  if ((SECONDS >= deadline)); then
    echo "$targets" >&2
    fail "Prometheus targets not all up after 90s ($up of $total up; want: $expected)"
  fi
  sleep 2
done
log "Prometheus: $up of $total targets up ($seen)"

rules=$(prom rules)
for r in PaxoskvMembersDown PaxoskvInsufficientMembers PaxoskvNoLeader PaxoskvNoSpace \
         PaxoskvHighNumberOfLeaderChanges PaxoskvHighNumberOfFailedProposals \
         PaxoskvHighFsyncDurations PaxoskvMasterDown; do
  grep -qx "$r" <<<"$rules" || fail "alert rule $r not loaded (rules: $(tr '\n' ' ' <<<"$rules"))"
done
log "Prometheus: $(sort -u <<<"$rules" | wc -l) alert rules loaded"
# Debian's package serves Prometheus's classic UI under /classic/ ("/" redirects there).
for page in / /classic/targets /classic/alerts; do
  [[ "$(prom page "$page")" == 200 ]] || fail "Prometheus's web UI ($page) does not answer 200"
done

# The series behind the alerts are there: every replica knows a leader, every master exports.
replicas=$(default_services | grep -c -E '^(s[0-9]+|cfg)-r[0-9]+$')
t0=$SECONDS
while :; do
  with_leader=$(prom query 'count(paxoskv_server_has_leader == 1)')
  masters=$(prom query 'count(paxoskv_master_ring_epoch)')
  [[ "$with_leader" == "$replicas" && "$masters" == 3 ]] && break
  log "waiting: ${with_leader:-0} of $replicas replicas report a leader, ${masters:-0} of 3 masters" \
    "their ring; without a leader: $(prom instances 'paxoskv_server_has_leader == 0' || true)"
  ((SECONDS < t0 + 60)) || fail "not every replica has a leader, or not every master exports, after 60s"
  sleep 2
done
log "Prometheus: all $replicas replicas report a leader, 3 masters report their ring" \
  "($((SECONDS - t0))s)"

# A process's own /metrics, read from inside the project network (deploy/README.md's line).
# (`compose` is a shell function, which timeout cannot run.)
metrics=$(timeout 30 "${COMPOSE[@]}" -f "$REPO/docker-compose.yml" -p "$PROJECT" \
  exec -T prometheus wget -qO- http://s1-r1:9400/metrics) \
  || fail "wget of s1-r1's /metrics in the prometheus container failed"
grep -q '^paxoskv_server_has_leader{.*shard="1"' <<<"$metrics" \
  || fail "s1-r1's /metrics has no paxoskv_server_has_leader{shard=\"1\"}"
log "s1-r1:9400/metrics from inside the network: $(grep -c '^paxoskv_' <<<"$metrics") paxoskv_ samples"

# Committed proposals rise under load (the gauge is each replica's highest chosen slot).
committed='sum(paxoskv_server_proposals_committed_total)'
before=$(prom query "$committed")
[[ -n "$before" ]] || fail "no value for $committed"
start_load prometheus 6 --clients 4
wait_load
deadline=$((SECONDS + 30))
while :; do
  after=$(prom query "$committed")
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) > float(sys.argv[1]) else 1)' \
    "$before" "${after:-0}" && break
  ((SECONDS < deadline)) || fail "$committed did not rise within 30s of the load: $before -> $after"
  sleep 2
done
log "Prometheus: $committed rose from $before to $after under 6s of load"

# A follower of shard 1 dies: PaxoskvMembersDown fires for it; KV keeps working.
victim=$(follower_of 1)
t_kill=$SECONDS
compose kill "$victim" >/dev/null 2>&1 || fail "docker kill $victim"
log "killed $victim (a follower of shard 1)"
deadline=$((SECONDS + 60))
pending_at=""
while :; do
  state=$(prom alert PaxoskvMembersDown "$victim" 2>/dev/null || true)
  [[ "$state" == pending && -z "$pending_at" ]] && pending_at=$((SECONDS - t_kill))
  [[ "$state" == firing ]] && break
  if ((SECONDS >= deadline)); then
    prom targets >&2 || true
    fail "PaxoskvMembersDown did not fire for $victim within 60s (state: ${state:-none})"
  fi
  sleep 1
done
log "Prometheus: PaxoskvMembersDown{instance=$victim} firing $((SECONDS - t_kill))s after the kill" \
  "(pending at ${pending_at:-?}s; rule: for 10s)"
firing=$(prom firing)
log "firing alerts: $(tr '\n' ' ' <<<"$firing")"
if grep -q '^PaxoskvInsufficientMembers' <<<"$firing"; then
  fail "PaxoskvInsufficientMembers fires with one replica of three down"
fi
for i in $(seq 1 20); do
  timeout 30 "$KVCTL" --master "$MASTERS" put "prom-after-kill-$i" "v$i" >/dev/null \
    || fail "put prom-after-kill-$i failed with $victim down"
done
got=$(timeout 30 "$KVCTL" --master "$MASTERS" get prom-after-kill-20) \
  || fail "get prom-after-kill-20 failed with $victim down"
[[ "$got" == v20 ]] || fail "get prom-after-kill-20 returned '$got', not v20"
log "KV works with $victim down: 20 puts and a get through the masters"
log "Prometheus checks passed"
