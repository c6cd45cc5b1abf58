#!/usr/bin/env bash
# Makes the certificates of the compose cluster's mutual TLS: a CA and one folder per identity.
#
#   deploy/certs.sh [--renew] [DIR]      DIR defaults to deploy/certs (kept out of git)
#   deploy/certs.sh [--renew] DIR NAME=CN...   only these identities (tests, local processes):
#                                        subjectAltNames DNS:NAME, DNS:localhost, IP:127.0.0.1
#
# Creates, when missing, the CA (DIR/ca/ca.crt, DIR/ca/ca.key: EC P-256, 10 years) and for
# every identity of the table below a folder DIR/<name>/ with ca.crt (the CA), tls.crt (the
# identity's certificate, 2 years) and tls.key (its key, EC P-256), which is what the binaries'
# --cert_dir=DIR/<name> (or PAXOSKV_CERT_DIR) reads. The role of a certificate is its subject
# Common Name; every certificate has extendedKeyUsage serverAuth and clientAuth (replicas and
# the master both serve and dial) and the subjectAltNames it is dialled by.
#
# Idempotent: a certificate that exists, matches its key, is signed by the CA, names the table's
# role and subjectAltNames and is valid for 30 more days is kept; anything else is (re)issued.
# A second run changes nothing. --renew reissues every certificate with a new key from the same
# CA (a rotation: restart each container after it, one at a time, and it serves the new one).
# Prints one line per certificate it creates.
#
# Permissions: DIR is 0700 (only its owner reaches the keys); the identity folders and files in
# it are world-readable, so the containers' user (uid 10001) can read the folder bind-mounted
# at /etc/paxoskv/tls whoever ran this script. DIR/ca is 0700 and ca.key 0600: the CA key never
# leaves the host. Needs openssl (Debian's package openssl).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The identities: folder name, role (subject CN), subjectAltNames. A replica sS-rR is replica R
# of shard S and is dialled by its compose service name (peers, master) and on 127.0.0.1 (its
# health check); cfg-rR likewise, replica R of the configuration group (shard 100); each master
# by its service name and on 127.0.0.1 (published port, health check, kvctl inside its
# container). admin and client only dial. docker-compose.yml has a service for every replica
# here: shards 1-3, the configuration group, the spare shard 4 (profile spare) and shard 1's
# spare replica 4.
IDENTITIES="
master  master       DNS:master,DNS:localhost,IP:127.0.0.1
master2 master       DNS:master2,DNS:localhost,IP:127.0.0.1
master3 master       DNS:master3,DNS:localhost,IP:127.0.0.1
cfg-r1  replica:100:1  DNS:cfg-r1,DNS:localhost,IP:127.0.0.1
cfg-r2  replica:100:2  DNS:cfg-r2,DNS:localhost,IP:127.0.0.1
cfg-r3  replica:100:3  DNS:cfg-r3,DNS:localhost,IP:127.0.0.1
admin   admin        DNS:localhost
client  client       DNS:localhost
s1-r1   replica:1:1  DNS:s1-r1,DNS:localhost,IP:127.0.0.1
s1-r2   replica:1:2  DNS:s1-r2,DNS:localhost,IP:127.0.0.1
s1-r3   replica:1:3  DNS:s1-r3,DNS:localhost,IP:127.0.0.1
s1-r4   replica:1:4  DNS:s1-r4,DNS:localhost,IP:127.0.0.1
s2-r1   replica:2:1  DNS:s2-r1,DNS:localhost,IP:127.0.0.1
s2-r2   replica:2:2  DNS:s2-r2,DNS:localhost,IP:127.0.0.1
s2-r3   replica:2:3  DNS:s2-r3,DNS:localhost,IP:127.0.0.1
s3-r1   replica:3:1  DNS:s3-r1,DNS:localhost,IP:127.0.0.1
s3-r2   replica:3:2  DNS:s3-r2,DNS:localhost,IP:127.0.0.1
s3-r3   replica:3:3  DNS:s3-r3,DNS:localhost,IP:127.0.0.1
s4-r1   replica:4:1  DNS:s4-r1,DNS:localhost,IP:127.0.0.1
s4-r2   replica:4:2  DNS:s4-r2,DNS:localhost,IP:127.0.0.1
s4-r3   replica:4:3  DNS:s4-r3,DNS:localhost,IP:127.0.0.1
"
CA_DAYS=3650
LEAF_DAYS=730
RENEW_BEFORE_S=$((30 * 24 * 3600))  # Reissue a certificate that expires within 30 days.

renew=0
dir=""
named=""   # NAME=CN arguments: these identities instead of the table
while (($#)); do
  case "$1" in
    --renew) renew=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "certs: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    *=*) [[ -n "$dir" ]] || { echo "certs: DIR comes before NAME=CN" >&2; exit 2; }
         named+="${1%%=*} ${1#*=} DNS:${1%%=*},DNS:localhost,IP:127.0.0.1"$'\n' ;;
    *) [[ -z "$dir" ]] || { echo "certs: one DIR only" >&2; exit 2; }; dir=$1 ;;
  esac
  shift
done
[[ -z "$named" ]] || IDENTITIES=$named
dir=${dir:-$here/certs}
command -v openssl >/dev/null 2>&1 || { echo "certs: openssl not found (apt-get install openssl)" >&2; exit 1; }

umask 022
mkdir -p "$dir"
chmod 0700 "$dir"
dir=$(cd "$dir" && pwd)
# One run at a time per DIR (flock is in util-linux, always on Debian).
exec 9>"$dir/.lock"
flock 9

tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A random positive 128-bit serial number (bash's SRANDOM: the kernel's random numbers). Every
# openssl run costs a process start, tens of milliseconds and seconds on a loaded host, so each
# certificate is made by one (a new key, signed by the CA, in `openssl req`; OpenSSL 3).
serial() { printf '0x%08x%08x%08x%08x' $((SRANDOM | 1)) "$SRANDOM" "$SRANDOM" "$SRANDOM"; }

# ---- CA ------------------------------------------------------------------------------------
ca=$dir/ca
mkdir -p "$ca"
chmod 0700 "$ca"
if [[ ! -s "$ca/ca.crt" || ! -s "$ca/ca.key" ]] \
   || [[ "$(openssl x509 -in "$ca/ca.crt" -noout -pubkey 2>/dev/null)" \
         != "$(openssl pkey -in "$ca/ca.key" -pubout 2>/dev/null)" ]] \
   || ! openssl x509 -in "$ca/ca.crt" -noout -checkend "$RENEW_BEFORE_S" >/dev/null 2>&1; then
  cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = paxoskv
CN = paxoskv CA
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  (umask 077
   openssl req -new -x509 -config "$tmp/ca.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
     -nodes -keyout "$tmp/ca.key" -days "$CA_DAYS" -sha256 -set_serial "$(serial)" \
     -out "$tmp/ca.crt" 2>/dev/null) || { echo "certs: openssl failed to make the CA" >&2; exit 1; }
  chmod 0600 "$tmp/ca.key"
  chmod 0644 "$tmp/ca.crt"
  mv -f "$tmp/ca.key" "$ca/ca.key"
  mv -f "$tmp/ca.crt" "$ca/ca.crt"
  echo "certs: created $ca/ca.crt (CN=paxoskv CA, EC P-256, $CA_DAYS days)"
fi

# ---- identities ----------------------------------------------------------------------------
# leaf_ok NAME CN SANS: the folder's certificate can be kept (three openssl runs, not more:
# a second run of this script should take a moment).
leaf_ok() {
  local d=$dir/$1 cn=$2 sans=$3 info
  [[ -s "$d/tls.crt" && -s "$d/tls.key" && -s "$d/ca.crt" ]] || return 1
  cmp -s "$d/ca.crt" "$ca/ca.crt" || return 1
  openssl verify -CAfile "$ca/ca.crt" "$d/tls.crt" >/dev/null 2>&1 || return 1
  info=$(openssl x509 -in "$d/tls.crt" -noout -subject -nameopt multiline -pubkey \
           -ext subjectAltName,extendedKeyUsage -checkend "$RENEW_BEFORE_S" 2>/dev/null) || return 1
  [[ "$(sed -n 's/^ *commonName *= *//p' <<<"$info")" == "$cn" ]] || return 1
  # "DNS:a, DNS:b, IP Address:127.0.0.1" -> the table's "DNS:a,DNS:b,IP:127.0.0.1".
  [[ "$(grep -A1 'Subject Alternative Name' <<<"$info" | sed -n '2p' \
        | sed 's/IP Address:/IP:/g' | tr -d ' ')" == "$sans" ]] || return 1
  grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' <<<"$info" || return 1
  # The key is the certificate's.
  [[ "$(sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' <<<"$info")" \
     == "$(openssl pkey -in "$d/tls.key" -pubout 2>/dev/null)" ]]
}

# issue NAME CN SANS: a new key and certificate into DIR/NAME (each file replaced by a rename,
# so a reader sees the old file or the new one, never half of one).
issue() {
  local name=$1 cn=$2 sans=$3 d=$dir/$1 t=$tmp/$1
  mkdir -p "$d" "$t"
  chmod 0755 "$d"
  cat >"$t/leaf.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cn
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -x509 -new -config "$t/leaf.cnf" -extensions leaf \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/tls.key" \
    -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -set_serial "$(serial)" -days "$LEAF_DAYS" -sha256 \
    -out "$t/tls.crt" 2>/dev/null || { echo "certs: openssl failed to make $d/tls.crt" >&2; exit 1; }
  cp "$ca/ca.crt" "$t/ca.crt"
  chmod 0644 "$t/tls.key" "$t/tls.crt" "$t/ca.crt"
  mv -f "$t/ca.crt" "$d/ca.crt"
  mv -f "$t/tls.key" "$d/tls.key"
  mv -f "$t/tls.crt" "$d/tls.crt"
  echo "certs: created $d/tls.crt (CN=$cn, $sans)"
}

# Every identity at once (each is a few openssl runs; on a busy host their start-up dominates):
# ensure NAME CN SANS prints "kept", or the line of the certificate it made.
ensure() {
  if ((renew == 0)) && leaf_ok "$@"; then echo kept; else issue "$@"; fi
}
names=() pids=()
while read -r name cn sans; do
  [[ -z "$name" ]] && continue
  ensure "$name" "$cn" "$sans" >"$tmp/$name.out" 2>&1 &
  names+=("$name") pids+=($!)
done <<<"$IDENTITIES"
created=0 kept=0 failed=0
for i in "${!names[@]}"; do
  if ! wait "${pids[$i]}"; then
    cat "$tmp/${names[$i]}.out" >&2
    failed=1
  elif [[ "$(cat "$tmp/${names[$i]}.out")" == kept ]]; then
    kept=$((kept + 1))
  else
    cat "$tmp/${names[$i]}.out"
    created=$((created + 1))
  fi
done
((failed == 0)) || { echo "certs: failed (see above); run it again" >&2; exit 1; }
((created == 0)) && echo "certs: all $kept certificates in $dir are up to date"
exit 0
