// Input limits shared by the master, the replica and the clients (README "API and status codes").
#pragma once

#include <cstddef>

namespace paxoskv {

constexpr size_t kKeySizeMax = 1024;              // bytes
constexpr size_t kValueSizeMax = 1024 * 1024;     // bytes
// gRPC messages must fit a max-size value plus framing.
constexpr int kGrpcMessageSizeMax = 64 * 1024 * 1024;

}  // namespace paxoskv
