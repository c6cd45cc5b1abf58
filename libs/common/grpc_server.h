// gRPC settings shared by every paxoskv server (replica, master, echo baseline: the baseline
// and the stores run the same thread model) and every client channel (master -> replica,
// replica -> replica, kvctl/kvbench -> master).
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "libs/common/limits.h"

namespace paxoskv {

// Channel arguments for every paxoskv client: messages up to `max_message_bytes` (-1: no
// limit, for InstallSnapshot), and reconnects within a fraction of a second (gRPC's default
// backoff grows to 120 s) with 5 s per connection attempt (gRPC 1.51 uses the minimum backoff
// as the connect timeout; shorter fails on a busy machine).
grpc::ChannelArguments PaxoskvChannelArguments(int max_message_bytes = kGrpcMessageSizeMax);

// The synchronous server's thread pool: at most `max_threads` threads, and up to
// `max_threads` of them kept polling between calls. gRPC's default keeps 2 idle pollers and
// ends every other thread when its call returns, so a server with 64 callers creates and
// destroys a thread per call (measured: clone + munmap ~7% of the CPU of a loaded master).
void ConfigureSyncServer(grpc::ServerBuilder* builder, const std::string& name, int max_threads);

// absl::Mutex keeps a lock-order graph for deadlock detection in debug builds of Abseil (which
// the Debian package is): a global graph lookup on every lock. Tests keep it; servers turn it
// off at start (measured: ~3% of a loaded master's CPU).
void DisableMutexDeadlockDetection();

}  // namespace paxoskv
