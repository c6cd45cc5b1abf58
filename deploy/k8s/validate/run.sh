#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/k8s (ctest k8s_manifests, label
# static; deploy/k8s/README.md): no API server and no kubectl, only Go.
#   1. go test ./...   the validator's own tests: deploy/k8s/*.yaml pass, every broken variant
#                      in testdata/ is refused, make-secrets.sh makes the Secrets the pods mount
#   2. the validator over deploy/k8s/*.yaml, printing one line per problem (FILE:LINE: object:
#      field: what) or a summary line
# Go comes from PATH or /usr/local/go/bin; its modules (go.mod, go.sum) are downloaded on the
# first run (the Go module proxy), later runs use the module and build caches.
# Exit 0 passed, 1 failed, 77 skipped: Go is missing (ctest SKIP_RETURN_CODE); under CI=true a
# missing Go fails instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/local/go/bin"

if ! command -v go >/dev/null 2>&1; then
  if [[ "${CI:-}" == true ]]; then
    echo "k8s_manifests: go not found (PATH, /usr/local/go/bin): CI=true, so this fails" >&2
    exit 1
  fi
  echo "k8s_manifests: go not found (PATH, /usr/local/go/bin): skipped"
  exit 77
fi
# Never download a toolchain (go.mod's go line is what this Go runs); no VCS stamping (the
# work tree may be a fresh clone or a copy); go.sum must already name every module.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=readonly"
# Without HOME (some CI sandboxes) Go has no default cache folders.
if [[ -z "${HOME:-}" ]]; then
  export GOCACHE=${GOCACHE:-/tmp/paxoskv-go/cache} GOPATH=${GOPATH:-/tmp/paxoskv-go/path}
fi

cd "$here"
echo "k8s_manifests: $(go version)"
go test -count=1 ./...
bin=$(mktemp -d "${TMPDIR:-/tmp}/paxoskv-k8s-validate.XXXXXX")
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/validate" .
"$bin/validate" "$here"/../*.yaml
