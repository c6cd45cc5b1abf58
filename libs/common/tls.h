// Transport security of every paxoskv process: mutual TLS from a CA bundle, a certificate and
// its key (the three files etcd's --trusted-ca-file, --cert-file and --key-file name), or
// plaintext only when asked for by name (--insecure); and who a caller is, read from the
// certificate the TLS handshake verified.
//
// A certificate's role is its subject common name (deploy/certs.sh makes them):
//   replica:S:R   replica R of shard S   (serves Paxos, Replica, Migration; dials its peers)
//   master        the gateway            (serves KV and Admin; dials replicas)
//   admin         an operator            (KV and Admin; GET, PUT and DELETE at a replica
//                                          started with --direct_clients)
//   client        an application         (KV, Admin.Routes; GET, PUT and DELETE at a replica
//                                          started with --direct_clients: direct mode)
// Servers require a client certificate signed by the CA; clients check the server's
// certificate against the name or address they dial (its subjectAltNames).
//
// Thread-safe: TlsCredentials is immutable after Load; Authorizer is stateless.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paxoskv {

// Where a process's TLS material is. Exactly one of: all three files, or insecure.
struct TlsFiles {
  std::string ca_file;    // PEM bundle of the CAs whose certificates we accept
  std::string cert_file;  // our certificate (PEM), naming our role
  std::string key_file;   // its private key (PEM)
  bool insecure = false;  // plaintext: no certificates, no checks
};

// The files the flags name: --cacert/--cert/--key override --cert_dir's DIR/ca.crt,
// DIR/tls.crt, DIR/tls.key; with none of the five flags set, $PAXOSKV_CERT_DIR (when set) is
// the folder. `env_cert_dir` may be null.
TlsFiles ResolveTlsFiles(TlsFiles flags, const std::string& cert_dir, const char* env_cert_dir);

// The five flags of this process (tls_flags.cc defines them), resolved as above.
TlsFiles TlsFilesFromFlags();

enum class Role { kReplica, kMaster, kAdmin, kClient };

struct Identity {
  Role role = Role::kClient;
  uint32_t shard_id = 0;    // kReplica only
  uint32_t replica_id = 0;  // kReplica only
  bool operator==(const Identity&) const = default;
};

// "replica:S:R", "master", "admin" or "client"; InvalidArgument for anything else.
absl::StatusOr<Identity> ParseIdentity(absl::string_view common_name);
std::string IdentityName(const Identity& identity);

class TlsCredentials {
 public:
  // Reads the three files. InvalidArgument when neither they nor `insecure` are given (the
  // message says which flags to pass), when only some are, or when one cannot be read or is
  // not PEM.
  static absl::StatusOr<TlsCredentials> Load(const TlsFiles& files);
  // Plaintext, for in-process tests.
  static TlsCredentials Insecure();

  bool secure() const { return secure_; }
  // Mutual TLS: the handshake refuses a caller without a certificate of our CA.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;

 private:
  bool secure_ = false;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
};

// Decides who may call a server's methods, from the caller's verified certificate. On a
// plaintext server (enforce = false) every check passes: --insecure trusts the network.
// A refusal is UNAUTHENTICATED (no certificate, or one that names no role) or
// PERMISSION_DENIED (a role that may not call this), and the handler changes nothing.
class Authorizer {
 public:
  // `shard_id`: on a replica, its shard (peers must be replicas of it); 0 elsewhere.
  Authorizer(bool enforce, uint32_t shard_id = 0) : enforce_(enforce), shard_id_(shard_id) {}

  bool enforced() const { return enforce_; }
  // The caller's identity; UNAUTHENTICATED without one.
  absl::StatusOr<Identity> Caller(const grpc::ServerContextBase& context) const;
  // OK when the caller's role is one of `roles`.
  grpc::Status Allow(const grpc::ServerContextBase& context,
                     std::initializer_list<Role> roles) const;
  // OK when the caller is replica `from` of this replica's shard: a Paxos message's sender
  // must be the peer the certificate names.
  grpc::Status AllowPeer(const grpc::ServerContextBase& context, uint32_t from) const;

 private:
  const bool enforce_;
  const uint32_t shard_id_;
};

}  // namespace paxoskv
