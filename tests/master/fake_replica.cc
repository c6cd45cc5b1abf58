// See fake_replica.h.
#include "tests/master/fake_replica.h"

#include <limits>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/grpc_status.h"
#include "libs/common/result_status.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::master::testing {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

FakeReplica::FakeReplica(uint32_t shard_id, kv::KvLimits limits)
    : shard_id_(shard_id), limits_(limits), state_(limits) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(-1);  // As the real replica: a batch may exceed 4 MiB.
  builder.RegisterService(this);
  builder.RegisterService(&migration_);
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

void FakeReplica::ReleaseAndBlock(std::set<paxoskv::v1::Op> ops, int pass) {
  absl::MutexLock lock(&mu_);
  ++release_generation_;
  blocked_ops_ = std::move(ops);
  pass_ = pass;
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

std::map<std::string, std::string> FakeReplica::data() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::string> data;
  CommandResult page = ScanLocked(nullptr);
  while (true) {
    for (const paxoskv::v1::KeyValue& entry : page.entries()) data[entry.key()] = entry.value();
    if (page.scan_done() || page.entries().empty()) return data;
    page = ScanLocked(&page.entries(page.entries_size() - 1));
  }
}

void FakeReplica::SetData(const std::map<std::string, std::string>& data) {
  absl::MutexLock lock(&mu_);
  state_ = kv::KvStateMachine(limits_);
  Command import;
  import.set_op(paxoskv::v1::OP_IMPORT);
  for (const auto& [key, value] : data) {
    paxoskv::v1::KeyValue* entry = import.add_import_entries();
    entry->set_key(key);
    entry->set_value(value);
  }
  const CommandResult result = state_.Apply(++slot_, import);
  PAXOSKV_CHECK(result.code() == paxoskv::v1::RESULT_CODE_OK) << result.message();
}

CommandResult FakeReplica::ScanLocked(const paxoskv::v1::KeyValue* after) {
  Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  scan.mutable_range();   // begin == end: the whole ring
  scan.set_scan_limit(std::numeric_limits<uint32_t>::max());   // the state machine's page cap
  if (after != nullptr) {
    scan.set_scan_started(true);
    scan.set_scan_after_hash(ring::StableHash(after->key()));
    scan.set_scan_after_key(after->key());
  }
  return state_.Apply(slot_, scan);
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

std::vector<Command> FakeReplica::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

std::set<std::pair<uint64_t, uint64_t>> FakeReplica::dedup_keys() {
  absl::MutexLock lock(&mu_);
  std::set<std::pair<uint64_t, uint64_t>> keys;
  const CommandResult first_page = ScanLocked(nullptr);
  for (const paxoskv::v1::DedupClient& client : first_page.dedup()) {
    for (const paxoskv::v1::DedupEntry& entry : client.entries()) {
      keys.emplace(client.client_id(), entry.seq());
    }
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
  response->set_key_count(state_.key_count());
  return grpc::Status::OK;
}

grpc::Status FakeReplica::Execute(grpc::ServerContext* context, const Command* command,
                                  CommandResult* result) {
  return ExecuteOne(context, *command, result, /*migration=*/false);
}

grpc::Status FakeReplica::MigrationService::Execute(grpc::ServerContext* context,
                                                    const Command* command,
                                                    CommandResult* result) {
  return replica_->ExecuteOne(context, *command, result, /*migration=*/true);
}

grpc::Status FakeReplica::ExecuteOne(grpc::ServerContext* context, const Command& command,
                                     CommandResult* result, bool migration) {
  absl::MutexLock lock(&mu_);
  commands_.push_back(command);
  if (!AwaitUnblockedLocked(command)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
  }
  if (absl::Status mode = ModeStatusLocked(); !mode.ok()) return ToGrpcStatus(mode, context);
  absl::Status valid = migration ? kv::ValidateMigrationCommand(command)
                                 : kv::ValidateClientCommand(command);
  if (!valid.ok()) return ToGrpcStatus(valid, context);
  return ToGrpcStatus(ApplyAsExecuteLocked(command, result), context);
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
    absl::Status status = kv::ValidateClientCommand(command);
    if (status.ok()) status = ApplyAsExecuteLocked(command, &result);
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
  if (command.op() == paxoskv::v1::OP_GET) {
    *result = state_.Read(command);   // as the leader serves a read (no slot)
  } else {
    *result = state_.Apply(++slot_, command);
    // A fresh result carries this slot; a dedup hit carries its first slot.
    if (result->code() == paxoskv::v1::RESULT_CODE_OK && result->applied_slot() == slot_) {
      applied_.push_back(command);
    }
  }
  return ResultStatus(*result);   // as services/replica/services.cc answers
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
