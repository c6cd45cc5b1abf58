#!/usr/bin/env bash
# Removes a paxoskv stack deployed by deploy/swarm/deploy.sh: its services, network and
# secrets (`docker stack rm`), waits until its containers are gone, and with --volumes also
# deletes its volumes on this node, i.e. all data. Without --volumes the next deploy.sh of the
# same stack name finds the data again. The certificates (deploy/certs) and the node labels
# stay; the swarm too (`docker swarm leave --force` leaves it).
#   deploy/swarm/down.sh [--stack NAME] [--volumes] [--timeout S (default 90)]
set -euo pipefail

stack=${PAXOSKV_STACK:-paxoskv}
volumes=0
timeout_s=90
while (($#)); do
  case "$1" in
    --stack) stack="$2"; shift ;;
    --stack=*) stack="${1#--stack=}" ;;
    --volumes) volumes=1 ;;
    --timeout) timeout_s="$2"; shift ;;
    --timeout=*) timeout_s="${1#--timeout=}" ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "down: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

label=com.docker.stack.namespace=$stack
docker stack rm "$stack" >/dev/null 2>&1 || true
# Swarm stops the tasks in the background (each gets its stop_grace_period).
deadline=$((SECONDS + timeout_s))
while [[ -n "$(docker ps -aq --filter "label=$label")$(docker network ls -q --filter "label=$label")" ]]; do
  if ((SECONDS >= deadline)); then
    echo "down: containers or network of stack $stack still there after ${timeout_s}s" >&2
    exit 1
  fi
  sleep 1
done
if ((volumes)); then
  vols=$(docker volume ls -q --filter "label=$label")
  if [[ -n "$vols" ]]; then
    # shellcheck disable=SC2086
    docker volume rm $vols >/dev/null
  fi
fi
if ((volumes)); then echo "down: stack $stack removed, its volumes deleted"
else echo "down: stack $stack removed (volumes kept; --volumes deletes them)"; fi
