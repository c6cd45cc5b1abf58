#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of paxoskv on Debian 12.
# Idempotent: packages already present are skipped by apt; grpcurl is built once into
# $GOBIN (default /usr/local/bin) when Go is present.
set -euo pipefail

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

PACKAGES=(
  cmake ninja-build g++ clang pkg-config make
  # clang 14's sanitizer and libFuzzer runtimes (scripts/test.sh --sanitize, --fuzz); only a
  # recommendation of clang, which --no-install-recommends leaves out.
  libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libgtest-dev libgmock-dev librocksdb-dev libxxhash-dev nlohmann-json3-dev
  # The servers' allocator (libs/common/allocator.h).
  libjemalloc-dev
  # Prometheus metrics (/metrics of every binary: libs/metrics).
  prometheus-cpp-dev
  python3 curl ca-certificates debootstrap
  # deploy/certs.sh: the CA and certificates of the mutual TLS (compose cluster, tests).
  openssl
  etcd-server etcd-client gnuplot-nox
  # bench/callgrind.sh: instructions per request; bench/hops.sh: system calls per request.
  valgrind strace
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# grpcurl: pinned version from the Go module proxy (README examples and cluster tests use it).
GRPCURL_VERSION=v1.9.1
if ! command -v grpcurl >/dev/null 2>&1; then
  if command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]]; then
    GO=$(command -v go || echo /usr/local/go/bin/go)
    echo "setup: installing grpcurl ${GRPCURL_VERSION}"
    GOBIN=${GOBIN:-/usr/local/bin} $SUDO env GOBIN="${GOBIN:-/usr/local/bin}" \
      GOFLAGS=-mod=mod "$GO" install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
  else
    echo "setup: Go not found; grpcurl not installed (the grpcurl examples need it)" >&2
  fi
fi
echo "setup: done"
