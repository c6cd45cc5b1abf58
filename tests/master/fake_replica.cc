// See fake_replica.h.
#include "tests/master/fake_replica.h"

#include <algorithm>
#include <tuple>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/grpc_status.h"
#include "libs/ring/hash_ring.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::master::testing {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

FakeReplica::FakeReplica(uint32_t shard_id) : shard_id_(shard_id) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(-1);  // As the real replica: a batch may exceed 4 MiB.
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  PAXOSKV_CHECK(server_ != nullptr && port != 0) << "fake replica cannot listen";
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeReplica::~FakeReplica() { Stop(); }

void FakeReplica::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }
}

void FakeReplica::SetMode(Mode mode, std::string leader_hint) {
  absl::MutexLock lock(&mu_);
  mode_ = mode;
  hint_ = std::move(leader_hint);
}

void FakeReplica::BlockOps(std::set<paxoskv::v1::Op> ops, int pass) {
  absl::MutexLock lock(&mu_);
  blocked_ops_ = std::move(ops);
  pass_ = pass;
}

void FakeReplica::Release() {
  absl::MutexLock lock(&mu_);
  blocked_ops_.clear();
  if (mode_ == Mode::kHang) mode_ = Mode::kLeader;
  ++release_generation_;
}

int FakeReplica::blocked_calls() const {
  absl::MutexLock lock(&mu_);
  return blocked_;
}

bool FakeReplica::AwaitBlocked(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return blocked_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::map<std::string, std::string> FakeReplica::data() const {
  absl::MutexLock lock(&mu_);
  return data_;
}

void FakeReplica::SetData(std::map<std::string, std::string> data) {
  absl::MutexLock lock(&mu_);
  data_ = std::move(data);
}

std::vector<Command> FakeReplica::commands() const {
  absl::MutexLock lock(&mu_);
  return commands_;
}

int FakeReplica::execute_calls() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(commands_.size());
}

std::vector<int> FakeReplica::batch_sizes() const {
  absl::MutexLock lock(&mu_);
  return batch_sizes_;
}

std::set<std::pair<uint64_t, uint64_t>> FakeReplica::dedup_keys() const {
  absl::MutexLock lock(&mu_);
  std::set<std::pair<uint64_t, uint64_t>> keys;
  for (const auto& [client, window] : dedup_) {
    for (const auto& [seq, result] : window) keys.emplace(client, seq);
  }
  return keys;
}

grpc::Status FakeReplica::Status(grpc::ServerContext* context,
                                 const paxoskv::v1::ReplicaStatusRequest* request,
                                 paxoskv::v1::ReplicaStatus* response) {
  absl::MutexLock lock(&mu_);
  if (mode_ == Mode::kUnavailable) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  response->set_shard_id(shard_id_);
  response->set_role(mode_ == Mode::kLeader ? "leader" : "follower");
  response->set_leader_address(mode_ == Mode::kLeader ? address_ : hint_);
  response->set_chosen_slot(slot_);
  response->set_applied_slot(slot_);
  response->set_key_count(data_.size());
  return grpc::Status::OK;
}

grpc::Status FakeReplica::Execute(grpc::ServerContext* context, const Command* command,
                                  CommandResult* result) {
  absl::MutexLock lock(&mu_);
  commands_.push_back(*command);
  if (!AwaitUnblockedLocked(*command)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
  }
  if (absl::Status mode = ModeStatusLocked(); !mode.ok()) return ToGrpcStatus(mode, context);
  return ToGrpcStatus(ApplyAsExecuteLocked(*command, result), context);
}

grpc::Status FakeReplica::ExecuteBatch(grpc::ServerContext* context,
                                       const paxoskv::v1::CommandBatch* batch,
                                       paxoskv::v1::CommandBatchResult* response) {
  absl::MutexLock lock(&mu_);
  batch_sizes_.push_back(batch->commands_size());
  commands_.insert(commands_.end(), batch->commands().begin(), batch->commands().end());
  // The real leader proposes a batch as a whole: every block is waited out before the mode
  // answers, so a "not leader" call applied nothing.
  for (const Command& command : batch->commands()) {
    if (!AwaitUnblockedLocked(command)) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
    }
  }
  if (absl::Status mode = ModeStatusLocked(); !mode.ok()) return ToGrpcStatus(mode, context);
  for (const Command& command : batch->commands()) {
    paxoskv::v1::BatchOutcome* outcome = response->add_outcomes();
    CommandResult result;
    const absl::Status status = ApplyAsExecuteLocked(command, &result);
    if (status.ok()) {
      *outcome->mutable_result() = std::move(result);
      continue;
    }
    outcome->set_status_code(static_cast<int32_t>(status.code()));
    outcome->set_status_message(std::string(status.message()));
    outcome->set_wrong_shard(IsWrongShard(status));
  }
  return grpc::Status::OK;
}

bool FakeReplica::AwaitUnblockedLocked(const Command& command) {
  bool blocked = mode_ == Mode::kHang;
  if (blocked_ops_.count(command.op()) > 0) {
    if (pass_ > 0) {
      --pass_;
    } else {
      blocked = true;
    }
  }
  if (!blocked) return true;
  const uint64_t generation = release_generation_;
  ++blocked_;
  auto released = [this, generation]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return stopping_ || release_generation_ != generation;
  };
  mu_.Await(absl::Condition(&released));
  --blocked_;
  return !stopping_;
}

absl::Status FakeReplica::ModeStatusLocked() const {
  switch (mode_) {
    case Mode::kFollower:
      return NotLeaderError(hint_);
    case Mode::kUnavailable:
      return absl::UnavailableError("no leader known");
    default:
      return absl::OkStatus();
  }
}

absl::Status FakeReplica::ApplyAsExecuteLocked(const Command& command, CommandResult* result) {
  *result = ApplyLocked(command);
  if (result->code() == paxoskv::v1::RESULT_CODE_WRONG_SHARD) {
    return WrongShardError(result->message());
  }
  if (result->code() == paxoskv::v1::RESULT_CODE_NOT_FOUND) {
    return absl::NotFoundError("key not found");
  }
  return absl::OkStatus();
}

CommandResult FakeReplica::ApplyLocked(const Command& command) {
  ++slot_;
  const bool dedup = command.client_id() != 0 && command.op() != paxoskv::v1::OP_GET &&
                     command.op() != paxoskv::v1::OP_SCAN_RANGE;
  if (dedup) {
    auto& window = dedup_[command.client_id()];
    auto it = window.find(command.seq());
    if (it != window.end()) return it->second;
  }
  CommandResult result;
  result.set_applied_slot(slot_);
  const bool key_op = command.op() == paxoskv::v1::OP_GET ||
                      command.op() == paxoskv::v1::OP_PUT ||
                      command.op() == paxoskv::v1::OP_DELETE;
  if (key_op) {
    const uint64_t hash = ring::StableHash(command.key());
    for (const auto& range : frozen_) {
      if (ring::HashRing::RangeContains(range, hash)) {
        result.set_code(paxoskv::v1::RESULT_CODE_WRONG_SHARD);
        result.set_message("the key's hash range has moved to another shard");
        return result;   // like libs/kv: not applied, not remembered
      }
    }
  }
  switch (command.op()) {
    case paxoskv::v1::OP_GET: {
      auto it = data_.find(command.key());
      if (it == data_.end()) {
        result.set_code(paxoskv::v1::RESULT_CODE_NOT_FOUND);
      } else {
        result.set_value(it->second);
      }
      break;
    }
    case paxoskv::v1::OP_PUT:
      data_[command.key()] = command.value();
      break;
    case paxoskv::v1::OP_DELETE:
      result.set_existed(data_.erase(command.key()) > 0);
      break;
    case paxoskv::v1::OP_SCAN_RANGE: {
      // Plain (hash, key) order, as libs/kv does, strictly after the cursor when started.
      std::vector<std::pair<uint64_t, std::string>> order;
      for (const auto& [key, value] : data_) {
        const uint64_t hash = ring::StableHash(key);
        if (ring::HashRing::RangeContains(command.range(), hash)) order.emplace_back(hash, key);
      }
      std::sort(order.begin(), order.end());
      const std::pair<uint64_t, std::string> cursor(command.scan_after_hash(),
                                                    command.scan_after_key());
      const uint32_t limit = std::max<uint32_t>(1, command.scan_limit());
      result.set_scan_done(true);
      for (const auto& entry : order) {
        if (command.scan_started() && !(cursor < entry)) continue;
        if (static_cast<uint32_t>(result.entries_size()) >= limit) {
          result.set_scan_done(false);
          break;
        }
        auto* kv = result.add_entries();
        kv->set_key(entry.second);
        kv->set_value(data_[entry.second]);
      }
      if (!command.scan_started()) {
        for (const auto& [client, window] : dedup_) {
          auto* exported = result.add_dedup();
          exported->set_client_id(client);
          for (const auto& [seq, stored] : window) {
            auto* e = exported->add_entries();
            e->set_seq(seq);
            *e->mutable_result() = stored;
          }
        }
      }
      break;
    }
    case paxoskv::v1::OP_IMPORT:
      for (const auto& kv : command.import_entries()) data_[kv.key()] = kv.value();
      for (const auto& client : command.import_dedup()) {
        for (const auto& e : client.entries()) {
          dedup_[client.client_id()].emplace(e.seq(), e.result());
        }
      }
      break;
    case paxoskv::v1::OP_DELETE_KEYS:
      for (const auto& key : command.keys()) data_.erase(key);
      break;
    case paxoskv::v1::OP_FREEZE_RANGES:
      for (const auto& range : command.freeze_ranges()) frozen_.push_back(range);
      break;
    default:
      result.set_code(paxoskv::v1::RESULT_CODE_INVALID_ARGUMENT);
      result.set_message("unknown op");
      return result;
  }
  if (dedup) dedup_[command.client_id()][command.seq()] = result;
  return result;
}

std::string DeadAddress() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  PAXOSKV_CHECK(fd >= 0) << "socket";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  PAXOSKV_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) << "bind";
  socklen_t len = sizeof(addr);
  PAXOSKV_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return absl::StrCat("127.0.0.1:", port);
}

}  // namespace paxoskv::master::testing
