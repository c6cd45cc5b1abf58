// RandomClientId: a fresh exactly-once client id (paxoskv.v1.Command.client_id) for the code
// at a process's edge: the client library, the master's anonymous-write lanes and its
// migrations. It reads std::random_device, so the deterministic core (libs/paxos, libs/kv)
// never calls it. Thread-safe.
#pragma once

#include <cstdint>

namespace paxoskv {

// A random non-zero 64-bit id (0 means "no client id" on the wire).
uint64_t RandomClientId();

}  // namespace paxoskv
