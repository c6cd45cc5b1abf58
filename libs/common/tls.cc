// See tls.h.
#include "libs/common/tls.h"

#include <grpc/grpc_security_constants.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace paxoskv {

TlsFiles ResolveTlsFiles(TlsFiles flags, const std::string& cert_dir, const char* env_cert_dir) {
  const bool any_flag = flags.insecure || !cert_dir.empty() || !flags.ca_file.empty() ||
                        !flags.cert_file.empty() || !flags.key_file.empty();
  std::string dir = cert_dir;
  if (!any_flag && env_cert_dir != nullptr) dir = env_cert_dir;
  if (!dir.empty()) {
    if (flags.ca_file.empty()) flags.ca_file = dir + "/ca.crt";
    if (flags.cert_file.empty()) flags.cert_file = dir + "/tls.crt";
    if (flags.key_file.empty()) flags.key_file = dir + "/tls.key";
  }
  return flags;
}

absl::StatusOr<Identity> ParseIdentity(absl::string_view common_name) {
  if (common_name == "master") return Identity{.role = Role::kMaster};
  if (common_name == "admin") return Identity{.role = Role::kAdmin};
  if (common_name == "client") return Identity{.role = Role::kClient};
  std::vector<absl::string_view> parts = absl::StrSplit(common_name, ':');
  Identity identity{.role = Role::kReplica};
  if (parts.size() == 3 && parts[0] == "replica" &&
      absl::SimpleAtoi(parts[1], &identity.shard_id) &&
      absl::SimpleAtoi(parts[2], &identity.replica_id) && identity.shard_id != 0 &&
      identity.replica_id != 0) {
    return identity;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("certificate name '", common_name,
                   "' names no role (want replica:SHARD:REPLICA, master, admin or client)"));
}

std::string IdentityName(const Identity& identity) {
  switch (identity.role) {
    case Role::kReplica:
      return absl::StrCat("replica:", identity.shard_id, ":", identity.replica_id);
    case Role::kMaster:
      return "master";
    case Role::kAdmin:
      return "admin";
    case Role::kClient:
      return "client";
  }
  return "unknown";
}

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read the ", what, " ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " ", path, " is not PEM"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<TlsCredentials> TlsCredentials::Load(const TlsFiles& files) {
  const int given = !files.ca_file.empty() + !files.cert_file.empty() + !files.key_file.empty();
  if (files.insecure) {
    if (given != 0) {
      return absl::InvalidArgumentError("--insecure and certificates exclude each other");
    }
    return Insecure();
  }
  if (given == 0) {
    return absl::InvalidArgumentError(
        "no certificates: pass --cert_dir=DIR (DIR/ca.crt, DIR/tls.crt, DIR/tls.key; "
        "deploy/certs.sh makes them), --cacert, --cert and --key, or set PAXOSKV_CERT_DIR; "
        "or --insecure for plaintext");
  }
  if (given != 3) {
    return absl::InvalidArgumentError("--cacert, --cert and --key go together");
  }
  TlsCredentials credentials;
  credentials.secure_ = true;
  auto ca = ReadPem(files.ca_file, "CA bundle");
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem(files.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key_file, "key");
  if (!key.ok()) return key.status();
  credentials.ca_pem_ = *std::move(ca);
  credentials.cert_pem_ = *std::move(cert);
  credentials.key_pem_ = *std::move(key);
  return credentials;
}

TlsCredentials TlsCredentials::Insecure() { return TlsCredentials(); }

std::shared_ptr<grpc::ServerCredentials> TlsCredentials::ServerCredentials() const {
  if (!secure_) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem_;
  options.pem_key_cert_pairs.push_back({key_pem_, cert_pem_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials::ChannelCredentials() const {
  if (!secure_) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = key_pem_;
  options.pem_cert_chain = cert_pem_;
  return grpc::SslCredentials(options);
}

absl::StatusOr<Identity> Authorizer::Caller(const grpc::ServerContextBase& context) const {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("no verified client certificate");
  }
  std::vector<grpc::string_ref> names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (names.size() != 1) {
    return absl::UnauthenticatedError("the client certificate has no single common name");
  }
  auto identity = ParseIdentity(absl::string_view(names[0].data(), names[0].size()));
  if (!identity.ok()) return absl::UnauthenticatedError(identity.status().message());
  return identity;
}

grpc::Status Authorizer::Allow(const grpc::ServerContextBase& context,
                               std::initializer_list<Role> roles) const {
  if (!enforce_) return grpc::Status::OK;
  auto caller = Caller(context);
  if (!caller.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(caller.status().message()));
  }
  for (Role role : roles) {
    if (caller->role == role) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat("'", IdentityName(*caller), "' may not call this method"));
}

grpc::Status Authorizer::AllowPeer(const grpc::ServerContextBase& context, uint32_t from) const {
  if (!enforce_) return grpc::Status::OK;
  auto caller = Caller(context);
  if (!caller.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(caller.status().message()));
  }
  if (*caller != Identity{.role = Role::kReplica, .shard_id = shard_id_, .replica_id = from}) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("'", IdentityName(*caller),
                                     "' may not send a Paxos "
                                     "message of replica ",
                                     from, " of shard ", shard_id_));
  }
  return grpc::Status::OK;
}

}  // namespace paxoskv
