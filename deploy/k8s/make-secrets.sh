#!/usr/bin/env bash
# Makes the certificates and the Kubernetes Secrets that deploy/k8s's pods mount: one Secret of
# type kubernetes.io/tls (ca.crt, tls.crt, tls.key) per identity, named by this scheme, which the
# validator (validate/) also enforces:
#
#   paxoskv-tls-<pod>    a replica pod <group>-<ordinal> (s1-0 .. s3-2, cfg-0 .. cfg-2): CN
#                        replica:<shard>:<ordinal + 1>, subjectAltName the pod's DNS name
#                        <pod>.<group>.<namespace>.svc.<domain> (how peers and masters dial it)
#   paxoskv-tls-master   every master pod: CN master, DNS master.<namespace>.svc.<domain>
#   paxoskv-tls-admin    CN admin (kvctl in the master pods; operators)
#   paxoskv-tls-client   CN client (applications: KV only; no pod mounts it)
# Every certificate also names localhost and 127.0.0.1 (the pods' health probes dial 127.0.0.1).
#
#   deploy/k8s/make-secrets.sh OUTDIR   the CA and certificates in OUTDIR/certs (deploy/certs.sh:
#                                       kept and reused on the next run), the Secrets in
#                                       OUTDIR/secrets.yaml; then: kubectl apply -f OUTDIR/secrets.yaml
#   deploy/k8s/make-secrets.sh --renew OUTDIR   the same with every certificate reissued (new keys,
#                                       same CA): apply, then restart the pods (README.md here)
#   deploy/k8s/make-secrets.sh --names  print the Secret names, one a line (no openssl needed)
#
# OUTDIR must be outside the repository: it holds private keys (OUTDIR/certs/ca/ca.key is the CA
# key: keep it off the cluster). Env (must match the manifests): SHARDS (default "1 2 3"),
# REPLICAS (3), NAMESPACE (paxoskv), CLUSTER_DOMAIN (cluster.local). The configuration group is
# group cfg, shard 100. Needs bash, openssl and base64 (coreutils).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
SHARDS=${SHARDS:-1 2 3}
REPLICAS=${REPLICAS:-3}
NAMESPACE=${NAMESPACE:-paxoskv}
CLUSTER_DOMAIN=${CLUSTER_DOMAIN:-cluster.local}
CONFIG_SHARD=100

# identities: "SECRET FOLDER CN" lines. FOLDER is deploy/certs.sh's NAME, which becomes the
# certificate's DNS subjectAltName (certs.sh adds DNS:localhost and IP:127.0.0.1).
identities() {
  local group shard i
  for group in cfg $(for s in $SHARDS; do echo "s$s"; done); do
    if [[ $group == cfg ]]; then shard=$CONFIG_SHARD; else shard=${group#s}; fi
    for ((i = 0; i < REPLICAS; i++)); do
      echo "paxoskv-tls-$group-$i $group-$i.$group.$NAMESPACE.svc.$CLUSTER_DOMAIN replica:$shard:$((i + 1))"
    done
  done
  echo "paxoskv-tls-master master.$NAMESPACE.svc.$CLUSTER_DOMAIN master"
  echo "paxoskv-tls-admin admin admin"
  echo "paxoskv-tls-client client client"
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

renew=()
if [[ "${1:-}" == --renew ]]; then renew=(--renew); shift; fi
case "${1:-}" in
  --names) identities | cut -d' ' -f1; exit 0 ;;
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
  -*) echo "make-secrets: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac
(($# == 1)) || { echo "make-secrets: one OUTDIR only (try --help)" >&2; exit 2; }
command -v base64 >/dev/null 2>&1 || { echo "make-secrets: base64 not found (coreutils)" >&2; exit 1; }

out=$(realpath -m "$1")
case "$out/" in
  "$(realpath "$repo")"/*)
    echo "make-secrets: $out is inside the repository; private keys must stay out of git: pick a folder elsewhere" >&2
    exit 2 ;;
esac
mkdir -p "$out"
chmod 0700 "$out"

# The certificates: one certs.sh run with every NAME=CN (idempotent: existing ones are kept).
args=()
while read -r _ folder cn; do args+=("$folder=$cn"); done < <(identities)
bash "$repo/deploy/certs.sh" "${renew[@]}" "$out/certs" "${args[@]}"

# The Secrets, written to a temporary file first: secrets.yaml is whole or absent.
umask 077
tmp=$(mktemp "$out/.secrets.yaml.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
  echo "# Made by deploy/k8s/make-secrets.sh from $out/certs: private keys, never commit this file."
  while read -r secret folder cn; do
    d=$out/certs/$folder
    cat <<EOF
---
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: paxoskv
  annotations:
    paxoskv.io/common-name: "$cn"
type: kubernetes.io/tls
data:
  ca.crt: $(base64 -w0 "$d/ca.crt")
  tls.crt: $(base64 -w0 "$d/tls.crt")
  tls.key: $(base64 -w0 "$d/tls.key")
EOF
  done < <(identities)
} >"$tmp"
mv -f "$tmp" "$out/secrets.yaml"
trap - EXIT
echo "make-secrets: $(identities | wc -l) Secrets in $out/secrets.yaml (kubectl apply -f $out/secrets.yaml)"
