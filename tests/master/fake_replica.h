// FakeReplica: an in-process gRPC server on 127.0.0.1:0 implementing paxoskv.v1.Replica and
// paxoskv.v1.Migration over the real KV state machine (libs/kv KvStateMachine: dedup windows,
// freeze, scan, import), with no Paxos underneath, so the master can be tested without real
// replica groups. Its fault injection: act as a follower with a leader hint, answer
// UNAVAILABLE, hang, or block chosen ops until released. Execute, ExecuteBatch and
// Migration.Execute answer as the real replica does (see services/replica/services.cc): each
// service takes only its own ops. Records every command it receives, alone or in a batch, and
// every command the state machine applied. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/kv/kv_state_machine.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::master::testing {

class FakeReplica final : public paxoskv::v1::Replica::Service {
 public:
  enum class Mode { kLeader, kFollower, kUnavailable, kHang };

  // `limits` configure the state machine (e.g. a small dedup window).
  explicit FakeReplica(uint32_t shard_id = 0, kv::KvLimits limits = {});
  ~FakeReplica() override;

  const std::string& address() const { return address_; }
  void Stop();  // Shuts the server down (connections then fail).

  void SetMode(Mode mode, std::string leader_hint = "");
  // Ops in `ops` wait (inside Execute, or ExecuteBatch for the whole batch) until Release() is
  // called; the first `pass` of them still go through.
  void BlockOps(std::set<paxoskv::v1::Op> ops, int pass = 0);
  void Release();
  // Release, then BlockOps(ops, pass), in one step: no call slips through in between.
  void ReleaseAndBlock(std::set<paxoskv::v1::Op> ops, int pass = 0);
  // Number of Execute / ExecuteBatch calls currently waiting in a block or hang.
  int blocked_calls() const;
  // Waits until at least `count` calls are blocked; false on timeout.
  bool AwaitBlocked(int count, absl::Duration timeout) const;

  // Every key and value, read from the state machine.
  std::map<std::string, std::string> data();
  // Replaces the whole state (dedup table included) by `data`.
  void SetData(const std::map<std::string, std::string>& data);
  // Every command received, by Execute or in a batch, in arrival order.
  std::vector<paxoskv::v1::Command> commands() const;
  int execute_calls() const;  // commands().size()
  // Every command the state machine executed, in order: not a dedup hit (the first result
  // returned again), a stale seq, a fenced key or a malformed command. Gets are not counted.
  std::vector<paxoskv::v1::Command> applied() const;
  // The number of commands of each ExecuteBatch call, in arrival order.
  std::vector<int> batch_sizes() const;
  // (client_id, seq) pairs in the state machine's dedup table.
  std::set<std::pair<uint64_t, uint64_t>> dedup_keys();

  grpc::Status Execute(grpc::ServerContext* context, const paxoskv::v1::Command* command,
                       paxoskv::v1::CommandResult* result) override;
  // Like the real replica: the call fails as a whole, as Execute would, when the mode answers
  // for every command (not the leader + hint, no leader); otherwise it is OK with one outcome
  // per command. Nothing is applied before the mode is checked.
  grpc::Status ExecuteBatch(grpc::ServerContext* context, const paxoskv::v1::CommandBatch* batch,
                            paxoskv::v1::CommandBatchResult* response) override;
  grpc::Status Status(grpc::ServerContext* context,
                      const paxoskv::v1::ReplicaStatusRequest* request,
                      paxoskv::v1::ReplicaStatus* response) override;

 private:
  // paxoskv.v1.Migration: the master's range-moving ops.
  class MigrationService final : public paxoskv::v1::Migration::Service {
   public:
    explicit MigrationService(FakeReplica* replica) : replica_(replica) {}
    grpc::Status Execute(grpc::ServerContext* context, const paxoskv::v1::Command* command,
                         paxoskv::v1::CommandResult* result) override;

   private:
    FakeReplica* const replica_;
  };
  // Execute of either service: `migration` picks which ops it takes.
  grpc::Status ExecuteOne(grpc::ServerContext* context, const paxoskv::v1::Command& command,
                          paxoskv::v1::CommandResult* result, bool migration);

  // Waits while `command` is held (hang mode, or a blocked op); false if stopping meanwhile.
  bool AwaitUnblockedLocked(const paxoskv::v1::Command& command)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What the mode answers for any command: OK (leader), not the leader + hint, or no leader.
  absl::Status ModeStatusLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `command`; its result code as Execute's status (libs/common/result_status.h).
  absl::Status ApplyAsExecuteLocked(const paxoskv::v1::Command& command,
                                    paxoskv::v1::CommandResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A whole-ring OP_SCAN_RANGE page after `after` (nullptr: the first page, which also
  // carries the dedup table). Scans change nothing (and take no slot).
  paxoskv::v1::CommandResult ScanLocked(const paxoskv::v1::KeyValue* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t shard_id_;
  const kv::KvLimits limits_;
  MigrationService migration_{this};
  std::string address_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kLeader;
  std::string hint_ ABSL_GUARDED_BY(mu_);
  std::set<paxoskv::v1::Op> blocked_ops_ ABSL_GUARDED_BY(mu_);
  int pass_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t release_generation_ ABSL_GUARDED_BY(mu_) = 0;
  int blocked_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t slot_ ABSL_GUARDED_BY(mu_) = 0;   // the last slot applied
  kv::KvStateMachine state_ ABSL_GUARDED_BY(mu_);
  std::vector<paxoskv::v1::Command> commands_ ABSL_GUARDED_BY(mu_);
  std::vector<paxoskv::v1::Command> applied_ ABSL_GUARDED_BY(mu_);
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
};

// An address on 127.0.0.1 where nothing listens (bound to port 0, then closed).
std::string DeadAddress();

}  // namespace paxoskv::master::testing
