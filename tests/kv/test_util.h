// Command builders shared by the KV tests. Header-only; no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

inline pb::Command Scan(uint64_t begin, uint64_t end, uint32_t limit) {
  pb::Command command;
  command.set_op(pb::OP_SCAN_RANGE);
  command.mutable_range()->set_begin(begin);
  command.mutable_range()->set_end(end);
  command.set_scan_limit(limit);
  return command;
}

}  // namespace paxoskv::kv::testing_util
