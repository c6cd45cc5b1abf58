// Server settings shared by every paxoskv gRPC server (replica, master, echo baseline), so the
// baseline and the stores run the same thread model.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

namespace paxoskv {

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
