// Input limits shared by the master, the replica and the clients (README "API and status codes").
#pragma once

#include <cstddef>
#include <cstdint>

namespace paxoskv {

constexpr size_t kKeySizeMax = 1024;              // bytes
constexpr size_t kValueSizeMax = 1024 * 1024;     // bytes
// gRPC messages must fit a max-size value plus framing.
constexpr int kGrpcMessageSizeMax = 64 * 1024 * 1024;
// A KV request as the master takes it (etcd's --max-request-bytes default): a key and a value
// of the largest sizes and their framing fit; anything larger is refused by gRPC
// (RESOURCE_EXHAUSTED) before it is parsed.
constexpr int kClientRequestBytesMax = 1536 * 1024;
// Any message a replica takes or sends (peers' messages are bounded by the core,
// libs/paxos/limits.h: a Promise of every open slot is the largest; the master's batches by
// kExecuteBatchCommandsMax commands of kClientRequestBytesMax each).
constexpr int kReplicaMessageBytesMax = 512 << 20;
// Commands in one ExecuteBatch (the master's coalesced calls to a shard leader).
constexpr int kExecuteBatchCommandsMax = 1024;
// Replicas of a shard named by AddShard: an odd number (an even one tolerates no more failures
// than one fewer), at most this many.
constexpr int kShardReplicasMax = 7;

// The longest the master works on one KV request, whatever deadline its caller set: a request
// that cannot finish in a minute is failed (DEADLINE_EXCEEDED, outcome unknown) rather than
// left holding resources and a write lane.
constexpr int64_t kRequestDeadlineMaxMs = 60 * 1000;
// The longest a client of this project retries one (client_id, seq) after its first attempt.
// The replicas' dedup sessions rely on it: a copy of a command is recognised up to
// kv::KvLimits::client_retry_ms (5 minutes, clock skew included) after its first attempt
// (libs/kv/README.md, "Sessions").
constexpr int64_t kRetryWindowMaxMs = 4 * 60 * 1000;

}  // namespace paxoskv
