#!/usr/bin/env bash
# Runs the grpcurl examples of deploy/README.md (between each pair of grpcurl-examples markers,
# in order), line by line, against a compose cluster (mutual TLS) with the spare shard started.
# Only the port and the certificates change: the README's 127.0.0.1:50051 becomes this test's
# free port and deploy/certs/ this test's certificates ($WORK/certs/, see lib.sh). A "# -> TEXT"
# line after a command means its output (stdout+stderr, whitespace-insensitive) must contain
# TEXT; "Code: ..." or "Failed ..." means the command must fail (with that status or message).
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
cluster_up
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
