// RandomId: a fresh random id for the code at a process's edge: exactly-once client ids
// (paxoskv.v1.Command.client_id) of the client library, the master's anonymous-write lanes
// and its migrations, and the incarnation of a new data directory (libs/storage Identity).
// It reads std::random_device, so the deterministic core (libs/paxos, libs/kv, the replica
// core) never calls it: its owner passes ids in. Thread-safe.
#pragma once

#include <cstdint>

namespace paxoskv {

// A random non-zero 64-bit id (0 means "no client id" on the wire).
uint64_t RandomId();

}  // namespace paxoskv
