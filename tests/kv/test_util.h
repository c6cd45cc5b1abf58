// Command builders shared by the KV tests. Header-only; no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/kv/kv_state_machine.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::kv::testing_util {

namespace pb = paxoskv::v1;

inline pb::Command Put(const std::string& key, const std::string& value, uint64_t client_id = 0,
                       uint64_t seq = 0, uint64_t ack_below = 0) {
  pb::Command command;
  command.set_op(pb::OP_PUT);
  command.set_key(key);
  command.set_value(value);
  command.set_client_id(client_id);
  command.set_seq(seq);
  command.set_ack_below(ack_below);
  return command;
}

inline pb::Command Get(const std::string& key, uint64_t client_id = 0, uint64_t seq = 0) {
  pb::Command command;
  command.set_op(pb::OP_GET);
  command.set_key(key);
  command.set_client_id(client_id);
  command.set_seq(seq);
  return command;
}

inline pb::Command Delete(const std::string& key, uint64_t client_id = 0, uint64_t seq = 0) {
  pb::Command command;
  command.set_op(pb::OP_DELETE);
  command.set_key(key);
  command.set_client_id(client_id);
  command.set_seq(seq);
  return command;
}

// OP_CAS: `expected` nullptr means "the key is absent".
inline pb::Command Cas(const std::string& key, const std::string* expected,
                       const std::string& value, uint64_t client_id = 0, uint64_t seq = 0) {
  pb::Command command;
  command.set_op(pb::OP_CAS);
  command.set_key(key);
  command.set_value(value);
  if (expected == nullptr) {
    command.set_cas_expect_absent(true);
  } else {
    command.set_cas_expected(*expected);
  }
  command.set_client_id(client_id);
  command.set_seq(seq);
  return command;
}

inline pb::Command Scan(uint64_t begin, uint64_t end, uint32_t limit) {
  pb::Command command;
  command.set_op(pb::OP_SCAN_RANGE);
  command.mutable_range()->set_begin(begin);
  command.mutable_range()->set_end(end);
  command.set_scan_limit(limit);
  return command;
}

// `command` as the shard leader would propose it at `proposed_ms`.
inline pb::Command At(uint64_t proposed_ms, pb::Command command) {
  command.set_proposed_ms(proposed_ms);
  return command;
}

inline uint64_t KeyHash(const std::string& key) { return ring::StableHash(key); }

// The state's snapshot, as its chunks.
inline std::vector<std::string> SnapshotChunks(const KvStateMachine& kv,
                                               size_t chunk_bytes = 1 << 20) {
  std::vector<std::string> chunks;
  absl::Status status = kv.WriteSnapshot(chunk_bytes, [&chunks](std::string_view chunk) {
    chunks.emplace_back(chunk);
    return absl::OkStatus();
  });
  if (!status.ok()) chunks.push_back("unexpected error: " + status.ToString());
  return chunks;
}

// A fresh state machine built from `chunks`.
inline absl::StatusOr<KvStateMachine> Restored(const std::vector<std::string>& chunks,
                                               KvLimits limits = {}) {
  KvStateMachine kv(limits);
  for (const std::string& chunk : chunks) {
    absl::Status status = kv.AddSnapshotChunk(chunk);
    if (!status.ok()) return status;
  }
  return kv;
}

}  // namespace paxoskv::kv::testing_util
