#!/usr/bin/env bash
# `make bench`: paxoskv vs etcd vs a raw gRPC echo, side by side on this machine.
#
# Checks the tools it needs (installs nothing: run scripts/setup.sh), builds the binaries
# (Release) into build-bench unless --bin DIR is given, creates one temp work dir and hands
# over to bench/bench.py. The EXIT trap kills every process the run started (by the pids
# bench.py recorded) and removes the work dir. See bench/README.md.
#
# bench.py starts every system, then runs interleaved rounds (--rounds N: default 3, 2 with
# --quick) and reports medians with their min-max spread over the rounds.
#
# Then echo, etcd, paxoskv-1x3 and paxoskv-1x3-direct again with mutual TLS on every hop,
# paxoskv's and etcd's alike (the quick workloads, 2 rounds; its tables, the targets included,
# are printed, its report goes to bench/results/tmp/); --no-tls skips that round, --tls runs
# only it.
#
# Usage: bench/run.sh [--quick] [--rounds N] [--resources|--no-resources] [--write-md]
#                     [--md-only] [--bin DIR] [--keep] [--only etcd,paxoskv-1x3,...]
#                     [--tls|--no-tls] [bench.py flags]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=""
KEEP=0
TLS_ROUND=1
TLS_ONLY=0
PASS=()
while (($#)); do
  case "$1" in
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    --bin=*) BIN=$(cd "${1#--bin=}" && pwd); shift ;;
    --keep) KEEP=1; shift ;;
    --no-tls) TLS_ROUND=0; shift ;;
    --tls) TLS_ONLY=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; python3 "$REPO/bench/bench.py" --help; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
MD_ONLY=0
for a in "${PASS[@]+"${PASS[@]}"}"; do
  [[ $a == --md-only ]] && MD_ONLY=1
  [[ $a == --only* || $a == --md-only ]] && TLS_ROUND=0   # a partial run: only what was asked
done

missing=()
for tool in python3 gnuplot; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((!MD_ONLY)); then
  for tool in etcd etcdctl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [[ -n $BIN ]] || for tool in cmake ninja; do command -v "$tool" >/dev/null || missing+=("$tool"); done
fi
if ((${#missing[@]})); then
  echo "bench: missing ${missing[*]}; install them with: sudo bash scripts/setup.sh" >&2
  exit 2
fi

if ((!MD_ONLY)) && [[ -z $BIN ]]; then
  echo "bench: building Release binaries in $REPO/build-bench"
  source "$REPO/bench/lib.sh"
  bench_build "$REPO"
fi
if ((!MD_ONLY)); then
  for b in paxoskv-replica paxoskv-master kvbench kvctl paxoskv-echo; do
    [[ -x $BIN/$b ]] || { echo "bench: $BIN/$b not found" >&2; exit 2; }
  done
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paxoskv-bench.XXXXXX")
PY=""
cleanup() {
  local rc=$?
  trap - INT TERM
  # bench.py stops its children itself; if it is still running (we were signalled), ask it
  # to, then kill by pid whatever it left (only pids whose command line names our work or bin dir).
  if [[ -n $PY ]] && kill -0 "$PY" 2>/dev/null; then
    kill -TERM "$PY" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$PY" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PY" 2>/dev/null || true
  fi
  if [[ -f $WORK/pids ]]; then
    while read -r pid; do
      if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -e "$WORK" -e "${BIN:-$WORK}"; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$WORK/pids"
  fi
  if ((KEEP)) || ((rc != 0)); then
    echo "bench: work dir (logs, data) kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CMD="bench/run.sh${PASS[*]+ ${PASS[*]}}"
RC=0
if ((!TLS_ONLY)); then
  # In the background so that a signal to this script runs the trap at once.
  python3 "$REPO/bench/bench.py" --bin "${BIN:-/nonexistent}" --workdir "$WORK" \
    --command "$CMD" "${PASS[@]+"${PASS[@]}"}" &
  PY=$!
  wait "$PY" || RC=$?
  # 1: some points failed (listed in the report), the TLS round still runs; more: stop here.
  ((RC <= 1)) || exit "$RC"
fi
if ((TLS_ROUND || TLS_ONLY)); then
  mkdir -p "$WORK/tls"
  python3 "$REPO/bench/bench.py" --bin "$BIN" --workdir "$WORK/tls" --tls --quick \
    --no-resources --only echo,etcd,paxoskv-1x3,paxoskv-1x3-direct --command "$CMD --tls" &
  PY=$!
  TLS_RC=0
  wait "$PY" || TLS_RC=$?
  ((TLS_RC <= RC)) || RC=$TLS_RC
fi
exit "$RC"
