# Shared shell helpers for deploy/*.sh and tests/cluster/*.sh (sourced, not executed).
# Picks whichever Compose exists: the `docker compose` v2 plugin, else `docker-compose` 1.29.

# Sets the array COMPOSE to the compose command; returns 1 when neither exists.
paxoskv_find_compose() {
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  else
    return 1
  fi
}

# True when a Docker daemon answers.
paxoskv_have_docker() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# paxoskv_wait_healthy TIMEOUT_S COMPOSE_ARGS...: waits until every container of the project
# (as listed by `COMPOSE_ARGS ps -q`) is running and, if it has a health check, healthy.
# Returns 1 on timeout or when a container exited, printing the culprits and, on timeout,
# their last health probes.
paxoskv_wait_healthy() {
  local timeout_s=$1; shift
  local deadline=$((SECONDS + timeout_s)) ids states bad
  while :; do
    ids=$("$@" ps -q 2>/dev/null)
    bad=""
    if [[ -z "$ids" ]]; then
      bad="no containers"
    else
      states=$(docker inspect -f \
        '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
        $ids 2>/dev/null) || bad="inspect failed"
      while read -r name status health; do
        [[ -z "$name" ]] && continue
        if [[ "$status" == exited || "$status" == dead ]]; then
          echo "container ${name#/} is $status" >&2
          return 1
        fi
        if [[ "$status" != running || ( "$health" != healthy && "$health" != none ) ]]; then
          bad+=" ${name#/}:$status/$health"
        fi
      done <<<"$states"
    fi
    [[ -z "$bad" ]] && return 0
    if ((SECONDS >= deadline)); then
      echo "not healthy after ${timeout_s}s:$bad" >&2
      # What the last health probes of each culprit said (exit code, output), so a failure
      # on a machine we cannot log into can still be read.
      for name in $bad; do
        name=${name%%:*}
        docker inspect -f '{{range .State.Health.Log}}{{.Start}} exit={{.ExitCode}} {{.Output}}
{{end}}' "$name" 2>/dev/null | tail -n 3 | sed "s|^|  $name probe: |" >&2 || true
      done
      return 1
    fi
    sleep 1
  done
}
