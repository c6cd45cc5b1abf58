// paxoskv-health-probe: asks a gRPC server for its standard health status
// (grpc.health.v1.Health/Check) and exits 0 when it answers SERVING.
//
// Used by the container health checks (docker-compose.yml) for replicas and the master, so the
// image needs no shell tricks and no extra tools. The request and response are tiny, fixed
// protobuf messages, so they are encoded by hand through grpc::GenericStub: no health.proto is
// needed (Debian's gRPC packages do not ship it).
//
// Usage: paxoskv-health-probe [--timeout_ms=1000] [--service=NAME] TLS HOST:PORT
// where TLS is --cert_dir=DIR, or --cacert=F --cert=F --key=F, or --insecure (libs/common/tls.h;
// $PAXOSKV_CERT_DIR when none is given): any certificate of the cluster's CA may ask.
// Exit codes: 0 SERVING, 1 not serving or unreachable (reason on stderr), 2 usage error.
// Single-threaded program; the one RPC completes on gRPC's callback thread.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/tls.h"

namespace paxoskv::deploy {
namespace {

using ::paxoskv::ResolveTlsFiles;
using ::paxoskv::TlsCredentials;
using ::paxoskv::TlsFiles;

constexpr std::string_view kUsage =
    "usage: paxoskv-health-probe [--timeout_ms=1000] [--service=NAME] "
    "[--cert_dir=DIR | --cacert=F --cert=F --key=F | --insecure] HOST:PORT";
constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
// grpc.health.v1.HealthCheckResponse.ServingStatus values.
constexpr uint64_t kServing = 1;

struct Options {
  std::string target;
  std::string service;  // "" = the server as a whole.
  int timeout_ms = 1000;
  TlsFiles tls;
  std::string cert_dir;
};

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--timeout_ms=", 0) == 0) {
      char* end = nullptr;
      const std::string value(arg.substr(13));
      const long parsed = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || parsed <= 0 || parsed > 600000) return std::nullopt;
      options.timeout_ms = static_cast<int>(parsed);
    } else if (arg.rfind("--service=", 0) == 0) {
      options.service = std::string(arg.substr(10));
    } else if (arg.rfind("--cert_dir=", 0) == 0) {
      options.cert_dir = std::string(arg.substr(11));
    } else if (arg.rfind("--cacert=", 0) == 0) {
      options.tls.ca_file = std::string(arg.substr(9));
    } else if (arg.rfind("--cert=", 0) == 0) {
      options.tls.cert_file = std::string(arg.substr(7));
    } else if (arg.rfind("--key=", 0) == 0) {
      options.tls.key_file = std::string(arg.substr(6));
    } else if (arg == "--insecure") {
      options.tls.insecure = true;
    } else if (!arg.empty() && arg[0] != '-' && options.target.empty()) {
      options.target = std::string(arg);
    } else {
      return std::nullopt;
    }
  }
  if (options.target.empty()) return std::nullopt;
  return options;
}

// HealthCheckRequest { string service = 1; }
std::string EncodeRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back(0x0a);  // Field 1, wire type 2 (length-delimited).
  uint64_t length = service.size();
  while (length >= 0x80) {
    out.push_back(static_cast<char>((length & 0x7f) | 0x80));
    length >>= 7;
  }
  out.push_back(static_cast<char>(length));
  out += service;
  return out;
}

bool ReadVarint(std::string_view& in, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckResponse { ServingStatus status = 1; }. Absent field = 0 (UNKNOWN).
std::optional<uint64_t> DecodeStatus(std::string_view in) {
  uint64_t status = 0;
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!ReadVarint(in, &tag)) return std::nullopt;
    const uint64_t wire_type = tag & 7;
    uint64_t value = 0;
    if (wire_type == 0) {
      if (!ReadVarint(in, &value)) return std::nullopt;
      if ((tag >> 3) == 1) status = value;
    } else if (wire_type == 2) {
      if (!ReadVarint(in, &value) || value > in.size()) return std::nullopt;
      in.remove_prefix(value);
    } else {
      return std::nullopt;  // No other wire types appear in this message.
    }
  }
  return status;
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

int Run(const Options& options) {
  auto credentials = TlsCredentials::Load(
      ResolveTlsFiles(options.tls, options.cert_dir, std::getenv("PAXOSKV_CERT_DIR")));
  if (!credentials.ok()) {
    std::cerr << "paxoskv-health-probe: " << credentials.status().message() << "\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(options.target, credentials->ChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options.timeout_ms));
  context.set_wait_for_ready(true);  // Wait (up to the deadline) for a server still starting.

  const std::string request_bytes = EncodeRequest(options.service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    std::cerr << "paxoskv-health-probe: " << options.target << ": code "
              << static_cast<int>(status.error_code()) << ": " << status.error_message()
              << "\n";
    return 1;
  }
  const std::optional<uint64_t> serving = DecodeStatus(ToString(response));
  if (!serving.has_value()) {
    std::cerr << "paxoskv-health-probe: " << options.target << ": malformed response\n";
    return 1;
  }
  if (*serving != kServing) {
    std::cerr << "paxoskv-health-probe: " << options.target << ": status " << *serving
              << " (not SERVING)\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace paxoskv::deploy

int main(int argc, char** argv) {
  const auto options = paxoskv::deploy::ParseArgs(argc, argv);
  if (!options.has_value()) {
    std::cerr << paxoskv::deploy::kUsage << "\n";
    return 2;
  }
  return paxoskv::deploy::Run(*options);
}
