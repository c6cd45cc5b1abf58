// See master.h.
#include "services/master/master.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/check.h"
#include "libs/common/grpc_status.h"
#include "libs/common/limits.h"
#include "libs/common/logging.h"
#include "libs/common/random_id.h"
#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::master {
namespace {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

absl::StatusOr<ring::HashRing> RingFromConfig(const paxoskv::v1::RingConfig& config) {
  std::vector<uint32_t> ids;
  for (const auto& shard : config.shards()) ids.push_back(shard.shard_id());
  return ring::HashRing::Create(config.epoch(), std::move(ids), config.virtual_nodes());
}

absl::Status ValidateKey(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("key must not be empty");
  if (key.size() > kKeySizeMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("key is ", key.size(), " bytes; the limit is ", kKeySizeMax));
  }
  return absl::OkStatus();
}

// A caller's exactly-once ids: none (client_id 0, the master assigns them), or both. Seq 0
// with an id would make every such write a retry of the first one (applied once, the later
// ones answered with its result and silently lost).
absl::Status ValidateIds(uint64_t client_id, uint64_t seq) {
  if (client_id != 0 && seq == 0) {
    return absl::InvalidArgumentError(
        "client_id is set but seq is 0; number the writes of a client_id from seq 1");
  }
  return absl::OkStatus();
}

}  // namespace

Master::Master(MasterOptions options, RingStore store)
    : options_(std::move(options)),
      store_(std::move(store)),
      log_(options_.logger ? options_.logger : GetLogger("master")),
      directory_(options_.credentials.ChannelCredentials()),
      router_(&directory_, options_.router, log_),
      pool_(options_.max_blocking_threads),
      batcher_(&directory_, &router_, &pool_, options_.batcher, log_),
      members_(
          &router_, MemberAdminOptions{.probe_timeout = options_.status_timeout},
          [this](uint32_t shard_id, std::vector<std::string> addresses) {
            SetShardAddresses(shard_id, std::move(addresses));
          },
          log_),
      alarms_(&router_),
      lanes_(options_.write_lanes_max) {}

absl::StatusOr<std::unique_ptr<Master>> Master::Open(MasterOptions options) {
  ASSIGN_OR_RETURN(RingStore store, RingStore::Open(options.data_dir));
  std::unique_ptr<Master> master(new Master(std::move(options), std::move(store)));
  paxoskv::v1::MasterState state;
  absl::StatusOr<paxoskv::v1::MasterState> loaded = master->store_.Load();
  if (loaded.ok()) {
    state = *std::move(loaded);
    master->log_->info("loaded ring epoch={} shards={} from {}", state.ring().epoch(),
                       state.ring().shards_size(), master->store_.path());
  } else if (loaded.status().code() == absl::StatusCode::kNotFound) {
    if (master->options_.initial_shards.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no ring in ", master->options_.data_dir, " yet and --shards names no shard"));
    }
    state.mutable_ring()->set_epoch(1);
    state.mutable_ring()->set_virtual_nodes(master->options_.virtual_nodes);
    for (const auto& shard : master->options_.initial_shards) {
      *state.mutable_ring()->add_shards() = shard;
    }
    RETURN_IF_ERROR(RingFromConfig(state.ring()).status());
    RETURN_IF_ERROR(master->store_.Save(state));
    master->log_->info("seeded ring epoch=1 shards={} vnodes={}", state.ring().shards_size(),
                       state.ring().virtual_nodes());
  } else {
    return loaded.status();
  }
  ASSIGN_OR_RETURN(ring::HashRing ring, RingFromConfig(state.ring()));
  for (const auto& shard : state.ring().shards()) {
    master->directory_.SetShard(shard.shard_id(),
                                {shard.replicas().begin(), shard.replicas().end()});
  }
  {
    absl::MutexLock lock(&master->mu_);
    master->ring_config_ = state.ring();
    master->ring_ = std::make_shared<const ring::HashRing>(std::move(ring));
  }
  if (state.has_migration()) {
    const auto& plan = state.migration();
    master->log_->info("resuming migration to shard={} ranges={} keys_moved={}",
                       plan.new_shard().shard_id(), plan.ranges_size(), plan.keys_moved());
    master->directory_.SetShard(plan.new_shard().shard_id(),
                                {plan.new_shard().replicas().begin(),
                                 plan.new_shard().replicas().end()});
    master->StartMigration(plan);
  }
  return master;
}

void Master::BeginShutdown() {
  stop_flag_ = true;
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

Master::~Master() {
  BeginShutdown();
  if (migration_thread_.joinable()) migration_thread_.join();
  // Each asynchronous request ends by its deadline (new ones fail at admission now).
  while (async_outstanding_.load() > 0) absl::SleepFor(absl::Milliseconds(1));
}

std::shared_ptr<const ring::HashRing> Master::ring() const {
  absl::MutexLock lock(&mu_);
  return ring_;
}

int Master::waiting_requests() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

bool Master::AwaitWaitingRequests(int count, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return waiting_ >= count; };
  return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
}

bool Master::migration_running() const {
  absl::MutexLock lock(&mu_);
  return migrating_;
}

bool Master::AwaitMigrationIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !migrating_; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

// ---- Admission control ----------------------------------------------------------------------

bool Master::MovingLocked(uint64_t hash) const {
  for (const auto& range : moving_) {
    if (ring::HashRing::RangeContains(range, hash)) return true;
  }
  return false;
}

bool Master::InFlightMovingLocked() const {
  for (uint64_t hash : in_flight_) {
    if (MovingLocked(hash)) return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const ring::HashRing>> Master::Admit(uint64_t hash,
                                                                     absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (MovingLocked(hash) && !stopping_) {
    ++waiting_;
    auto ready = [this, hash]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopping_ || !MovingLocked(hash);
    };
    const bool admitted = mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    --waiting_;
    if (!admitted) {
      return absl::DeadlineExceededError(
          "deadline exceeded while the key's hash range was being migrated to a new shard");
    }
  }
  if (stopping_) return absl::UnavailableError("master is shutting down");
  in_flight_.insert(hash);
  return ring_;
}

absl::StatusOr<std::shared_ptr<const ring::HashRing>> Master::TryAdmit(uint64_t hash) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("master is shutting down");
  if (MovingLocked(hash)) return nullptr;
  in_flight_.insert(hash);
  return ring_;
}

void Master::Release(uint64_t hash) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(hash);
  PAXOSKV_CHECK(it != in_flight_.end()) << "released a request that was not admitted";
  in_flight_.erase(it);
}

absl::Time Master::EffectiveDeadline(absl::Time deadline) const {
  const absl::Time now = absl::Now();
  if (deadline == absl::InfiniteFuture()) deadline = now + options_.default_deadline;
  deadline = std::min(deadline, now + options_.request_deadline_max);
  // Answer a little before the caller gives up, so it sees our status, not its own timeout.
  const absl::Duration margin = std::min(absl::Milliseconds(50), (deadline - now) / 10);
  return deadline - std::max(margin, absl::ZeroDuration());
}

absl::StatusOr<CommandResult> Master::Route(uint64_t hash, Command command, absl::Time deadline,
                                            bool stamp) {
  while (true) {
    absl::StatusOr<std::shared_ptr<const ring::HashRing>> admitted = Admit(hash, deadline);
    if (!admitted.ok()) {
      if (stamp && command.seq() != 0) lanes_.Release(command);   // a re-route's lane
      return admitted.status();
    }
    const std::shared_ptr<const ring::HashRing> ring = *std::move(admitted);
    // Stamped after admission, so a request parked behind a migration holds no lane meanwhile.
    if (stamp && command.seq() == 0) {
      if (absl::Status stamped = lanes_.Stamp(&command); !stamped.ok()) {
        Release(hash);
        return stamped;
      }
    }
    const uint32_t shard = ring->OwnerOfHash(hash);
    absl::StatusOr<CommandResult> result = batcher_.Execute(shard, command, deadline);
    Release(hash);
    if (!result.ok() && IsWrongShard(result.status()) && absl::Now() < deadline) {
      // The shard fenced this key's range (a migration moved it): route again by the ring.
      log_->debug("wrong shard={} for key hash={}; routing again", shard, hash);
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    if (stamp) lanes_.Release(command);
    return result;
  }
}

void Master::RouteAsync(uint64_t hash, Command command, absl::Time deadline, bool stamp,
                        RouteDone done) {
  const int64_t bytes = static_cast<int64_t>(command.key().size() + command.value().size());
  const int64_t requests_before = async_outstanding_.fetch_add(1);
  const int64_t bytes_before = bytes_outstanding_.fetch_add(bytes);
  // Counts the request out after its answer (the destructor waits for none outstanding).
  auto finish = [this, bytes](RouteDone answer, absl::StatusOr<CommandResult> result) {
    std::move(answer)(std::move(result));
    bytes_outstanding_ -= bytes;
    --async_outstanding_;
  };
  if (requests_before >= options_.requests_in_flight_max ||
      bytes_before + bytes > options_.bytes_in_flight_max) {
    finish(std::move(done),
           absl::ResourceExhaustedError(
               absl::StrCat("the master holds ", requests_before, " requests (", bytes_before,
                            " bytes of keys and values) already; nothing was sent, retry later")));
    return;
  }
  absl::StatusOr<std::shared_ptr<const ring::HashRing>> ring = TryAdmit(hash);
  if (!ring.ok()) {
    finish(std::move(done), ring.status());
    return;
  }
  if (*ring == nullptr) {   // its range is moving: wait for the switch on a pool thread
    pool_.Run([this, hash, command = std::move(command), deadline, stamp, done = std::move(done),
               finish]() mutable {
      finish(std::move(done), Route(hash, std::move(command), deadline, stamp));
    });
    return;
  }
  if (stamp && command.seq() == 0) {
    if (absl::Status stamped = lanes_.Stamp(&command); !stamped.ok()) {
      Release(hash);
      finish(std::move(done), stamped);
      return;
    }
  }
  const uint32_t shard = (*ring)->OwnerOfHash(hash);
  batcher_.ExecuteAsync(
      shard, std::move(command), deadline,
      [this, hash, deadline, stamp, shard, done = std::move(done), finish](
          absl::StatusOr<CommandResult> result, Command returned) mutable {
        Release(hash);
        if (!result.ok() && IsWrongShard(result.status()) && absl::Now() < deadline) {
          // The shard fenced this key's range (a migration moved it): route again by the ring,
          // as Route does (the command keeps its lane; Route releases it).
          log_->debug("wrong shard={} for key hash={}; routing again", shard, hash);
          pool_.Run([this, hash, returned = std::move(returned), deadline, stamp,
                     done = std::move(done), finish]() mutable {
            absl::SleepFor(absl::Milliseconds(5));
            finish(std::move(done), Route(hash, std::move(returned), deadline, stamp));
          });
          return;
        }
        if (stamp) lanes_.Release(returned);
        finish(std::move(done), std::move(result));
      });
}

// ---- KV -------------------------------------------------------------------------------------

namespace {

// Each operation's command, validated (kInvalidArgument: nothing is sent). A write with
// client_id 0 gets a write lane's ids when it is routed (see WriteLanes).
absl::StatusOr<Command> GetCommand(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  Command command;
  command.set_op(paxoskv::v1::OP_GET);
  command.set_key(key);
  return command;
}

absl::StatusOr<Command> PutCommand(const std::string& key, const std::string& value,
                                   uint64_t client_id, uint64_t seq) {
  RETURN_IF_ERROR(ValidateKey(key));
  RETURN_IF_ERROR(ValidateIds(client_id, seq));
  if (value.size() > kValueSizeMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("value is ", value.size(), " bytes; the limit is ", kValueSizeMax));
  }
  Command command;
  command.set_op(paxoskv::v1::OP_PUT);
  command.set_key(key);
  command.set_value(value);
  if (client_id != 0) {
    command.set_client_id(client_id);
    command.set_seq(seq);
  }
  return command;
}

absl::StatusOr<Command> DeleteCommand(const std::string& key, uint64_t client_id, uint64_t seq) {
  RETURN_IF_ERROR(ValidateKey(key));
  RETURN_IF_ERROR(ValidateIds(client_id, seq));
  Command command;
  command.set_op(paxoskv::v1::OP_DELETE);
  command.set_key(key);
  if (client_id != 0) {
    command.set_client_id(client_id);
    command.set_seq(seq);
  }
  return command;
}

// Each operation's answer from the routed command's result.
absl::StatusOr<std::string> GetAnswer(absl::StatusOr<CommandResult> result) {
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError("key not found");
    }
    return result.status();
  }
  RETURN_IF_ERROR(ResultStatus(*result));
  return std::move(*result->mutable_value());
}

absl::Status PutAnswer(const absl::StatusOr<CommandResult>& result) {
  if (!result.ok()) return result.status();
  return ResultStatus(*result);
}

absl::StatusOr<bool> DeleteAnswer(const absl::StatusOr<CommandResult>& result) {
  if (!result.ok()) {
    // Some replicas may answer a delete of a missing key with NOT_FOUND: not an error here.
    if (result.status().code() == absl::StatusCode::kNotFound) return false;
    return result.status();
  }
  if (result->code() == paxoskv::v1::RESULT_CODE_NOT_FOUND) return false;
  RETURN_IF_ERROR(ResultStatus(*result));
  return result->existed();
}

}  // namespace

void Master::GetAsync(const std::string& key, absl::Time deadline, GetDone done) {
  absl::StatusOr<Command> command = GetCommand(key);
  if (!command.ok()) return std::move(done)(command.status());
  RouteAsync(ring::StableHash(key), *std::move(command), EffectiveDeadline(deadline),
             /*stamp=*/false,
             [done = std::move(done)](absl::StatusOr<CommandResult> result) mutable {
               std::move(done)(GetAnswer(std::move(result)));
             });
}

void Master::PutAsync(const std::string& key, const std::string& value, uint64_t client_id,
                      uint64_t seq, absl::Time deadline, PutDone done) {
  absl::StatusOr<Command> command = PutCommand(key, value, client_id, seq);
  if (!command.ok()) return std::move(done)(command.status());
  RouteAsync(ring::StableHash(key), *std::move(command), EffectiveDeadline(deadline),
             /*stamp=*/client_id == 0,
             [done = std::move(done)](absl::StatusOr<CommandResult> result) mutable {
               std::move(done)(PutAnswer(result));
             });
}

void Master::DeleteAsync(const std::string& key, uint64_t client_id, uint64_t seq,
                         absl::Time deadline, DeleteDone done) {
  absl::StatusOr<Command> command = DeleteCommand(key, client_id, seq);
  if (!command.ok()) return std::move(done)(command.status());
  RouteAsync(ring::StableHash(key), *std::move(command), EffectiveDeadline(deadline),
             /*stamp=*/client_id == 0,
             [done = std::move(done)](absl::StatusOr<CommandResult> result) mutable {
               std::move(done)(DeleteAnswer(result));
             });
}

// ---- Admin ----------------------------------------------------------------------------------

absl::Status Master::ValidateAddShard(const paxoskv::v1::AddShardRequest& request) {
  const uint32_t id = request.shard_id();
  if (id == 0) return absl::InvalidArgumentError("shard_id must be non-zero");
  if (request.replicas().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("shard ", id, " needs at least one replica"));
  }
  if (request.replicas_size() % 2 == 0 || request.replicas_size() > kShardReplicasMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", id, " names ", request.replicas_size(),
                     " replicas: a shard has an odd number, ", "at most ", kShardReplicasMax,
                     " (an even number tolerates no more failures than one fewer)"));
  }
  std::set<std::string> seen;
  for (const std::string& address : request.replicas()) {
    RETURN_IF_ERROR(ValidateAddress(address));
    if (!seen.insert(address).second) {
      return absl::InvalidArgumentError(absl::StrCat("replica ", address, " is listed twice"));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& shard : ring_config_.shards()) {
      if (shard.shard_id() == id) {
        return absl::AlreadyExistsError(absl::StrCat("shard ", id, " is already in the ring"));
      }
      for (const std::string& address : shard.replicas()) {
        if (seen.count(address) > 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "replica ", address, " already belongs to shard ", shard.shard_id()));
        }
      }
    }
    if (migrating_) {
      return absl::FailedPreconditionError(
          absl::StrCat("a migration to shard ", migration_info_.shard_id(),
                       " is still running; retry when ClusterStatus shows it finished"));
    }
  }
  // Is the group up, and does it have a leader? Probe every replica in parallel.
  std::vector<ShardDirectory::Probed> probes = directory_.ProbeAll(
      {request.replicas().begin(), request.replicas().end()}, options_.status_timeout);
  std::vector<std::string> problems;
  bool any_answer = false;
  bool leader = false;
  for (size_t i = 0; i < probes.size(); ++i) {
    auto& [status, error] = probes[i];
    const std::string& address = request.replicas(static_cast<int>(i));
    if (!error.ok()) {
      problems.push_back(absl::StrCat(address, ": ", error.message()));
      continue;
    }
    any_answer = true;
    if (status.shard_id() != 0 && status.shard_id() != id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "replica ", address, " serves shard ", status.shard_id(), ", not shard ", id));
    }
    if (status.role() == "leader") leader = true;
  }
  if (!any_answer) {
    return absl::UnavailableError(absl::StrCat("shard ", id, " is unreachable: ",
                                               absl::StrJoin(problems, "; ")));
  }
  if (!leader) {
    return absl::UnavailableError(
        absl::StrCat("shard ", id, " has no leader yet; retry in a moment",
                     problems.empty() ? "" : absl::StrCat(" (", absl::StrJoin(problems, "; "),
                                                          ")")));
  }
  return absl::OkStatus();
}

absl::StatusOr<paxoskv::v1::AddShardResponse> Master::AddShard(
    const paxoskv::v1::AddShardRequest& request, absl::Time deadline) {
  uint64_t finished_target = 0;
  {
    absl::MutexLock admin(&admin_mu_);
    RETURN_IF_ERROR(ValidateAddShard(request));
    paxoskv::v1::RingConfig current;
    std::shared_ptr<const ring::HashRing> ring;
    {
      absl::MutexLock lock(&mu_);
      current = ring_config_;
      ring = ring_;
      finished_target = migrations_finished_ + 1;
    }
    ASSIGN_OR_RETURN(ring::HashRing next, ring->WithShard(request.shard_id()));
    paxoskv::v1::MigrationPlan plan;
    plan.mutable_new_shard()->set_shard_id(request.shard_id());
    *plan.mutable_new_shard()->mutable_replicas() = request.replicas();
    *plan.mutable_next_ring() = current;
    plan.mutable_next_ring()->set_epoch(next.epoch());
    *plan.mutable_next_ring()->add_shards() = plan.new_shard();
    std::sort(plan.mutable_next_ring()->mutable_shards()->begin(),
              plan.mutable_next_ring()->mutable_shards()->end(),
              [](const auto& a, const auto& b) { return a.shard_id() < b.shard_id(); });
    for (const ring::MovingRange& moving : ring->Diff(next)) {
      paxoskv::v1::MigrationRange* range = plan.add_ranges();
      *range->mutable_range() = moving.range;
      range->set_from_shard(moving.from_shard);
      range->set_to_shard(moving.to_shard);
    }
    plan.set_phase("draining");
    plan.set_client_id(RandomId());   // kept by every run of this plan
    plan.set_next_seq(1);
    // Durable before anything changes: a failure here leaves the cluster as it was.
    RETURN_IF_ERROR(PersistPlan(plan));
    log_->info("add shard={} replicas={} epoch={}->{} moving_ranges={}", request.shard_id(),
               absl::StrJoin(request.replicas(), ","), current.epoch(), next.epoch(),
               plan.ranges_size());
    directory_.SetShard(request.shard_id(), {request.replicas().begin(), request.replicas().end()});
    StartMigration(std::move(plan));
  }
  absl::MutexLock lock(&mu_);
  auto finished = [this, finished_target]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return migrations_finished_ >= finished_target || stopping_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&finished), deadline)) {
    return absl::DeadlineExceededError(
        "the migration is still running (it continues in the background; see ClusterStatus)");
  }
  if (migrations_finished_ < finished_target) {
    return absl::UnavailableError("master is shutting down; the migration resumes on restart");
  }
  paxoskv::v1::AddShardResponse response;
  response.set_epoch(ring_->epoch());
  response.set_keys_moved(last_keys_moved_);
  return response;
}

absl::Status Master::PersistPlan(const paxoskv::v1::MigrationPlan& plan) {
  paxoskv::v1::MasterState state;
  {
    absl::MutexLock lock(&mu_);
    *state.mutable_ring() = ring_config_;
  }
  *state.mutable_migration() = plan;
  return store_.Save(state);
}

void Master::StartMigration(paxoskv::v1::MigrationPlan plan) {
  if (migration_thread_.joinable()) migration_thread_.join();  // A finished earlier one.
  {
    absl::MutexLock lock(&mu_);
    // Pause every range of the plan, finished ones too: until the ring switches they would
    // route to the old shard, which no longer holds their keys.
    moving_.clear();
    for (const auto& range : plan.ranges()) moving_.push_back(range.range());
    migrating_ = true;
    migration_info_.Clear();
    migration_info_.set_running(true);
    migration_info_.set_shard_id(plan.new_shard().shard_id());
    migration_info_.set_phase(plan.phase().empty() ? "draining" : plan.phase());
    migration_info_.set_keys_moved(plan.keys_moved());
    migration_info_.set_keys_to_move(plan.keys_moved());
  }
  migration_thread_ = std::thread([this, plan = std::move(plan)]() mutable {
    RunMigration(std::move(plan));
  });
}

void Master::RunMigration(paxoskv::v1::MigrationPlan plan) {
  const uint32_t new_shard = plan.new_shard().shard_id();
  // 1. Drain: requests already admitted to a moving range finish first.
  {
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopping_ || !InFlightMovingLocked();
    };
    mu_.Await(absl::Condition(&drained));
    if (stopping_) return;
    migration_info_.set_phase("copying");
  }
  log_->info("migration drained shard={}; copying", new_shard);

  // Estimate the work from the old shards' key counts and the share of their range that moves.
  {
    std::map<uint32_t, long double> moving_share;
    std::shared_ptr<const ring::HashRing> ring = this->ring();
    const long double per_shard = 18446744073709551616.0L / ring->shards().size();
    for (const auto& range : plan.ranges()) {
      const uint64_t length = range.range().end() - range.range().begin();  // Wraps correctly.
      moving_share[range.from_shard()] += static_cast<long double>(length) / per_shard;
    }
    uint64_t estimate = 0;
    for (const auto& [shard, share] : moving_share) {
      for (const std::string& address : directory_.Replicas(shard).value_or(
               std::vector<std::string>{})) {
        absl::Status error;
        paxoskv::v1::ReplicaStatus status =
            directory_.Probe(address, options_.status_timeout, &error);
        if (error.ok()) {
          estimate += static_cast<uint64_t>(static_cast<long double>(status.key_count()) *
                                            std::min(share, 1.0L));
          break;
        }
      }
    }
    absl::MutexLock lock(&mu_);
    migration_info_.set_keys_to_move(std::max(estimate, plan.keys_moved()));
  }

  plan.set_phase("copying");
  Migrator::Hooks hooks;
  hooks.persist = [this](const paxoskv::v1::MigrationPlan& p) { return PersistPlan(p); };
  hooks.stopped = [this] { return stop_flag_.load(); };
  hooks.on_progress = [this](uint64_t keys_moved) {
    absl::MutexLock lock(&mu_);
    migration_info_.set_keys_moved(keys_moved);
    migration_info_.set_keys_to_move(std::max(migration_info_.keys_to_move(), keys_moved));
  };
  Migrator migrator(&router_, options_.migrator, std::move(hooks), log_);
  if (absl::Status status = migrator.Run(&plan); !status.ok()) {
    log_->warn("migration to shard={} interrupted: {}", new_shard, status.ToString());
    return;
  }

  // 2. Switch: the next ring becomes durable first, then routing uses it.
  {
    absl::MutexLock lock(&mu_);
    migration_info_.set_phase("switching");
  }
  paxoskv::v1::MasterState state;
  *state.mutable_ring() = plan.next_ring();
  while (true) {
    absl::Status saved = store_.Save(state);
    if (saved.ok()) break;
    log_->error("cannot persist ring epoch={}: {}; retrying", plan.next_ring().epoch(),
                saved.ToString());
    if (stop_flag_) return;
    absl::SleepFor(absl::Seconds(1));
  }
  absl::StatusOr<ring::HashRing> next = RingFromConfig(plan.next_ring());
  PAXOSKV_CHECK_OK(next.status());
  absl::MutexLock lock(&mu_);
  ring_config_ = plan.next_ring();
  ring_ = std::make_shared<const ring::HashRing>(*std::move(next));
  moving_.clear();
  migrating_ = false;
  ++migrations_finished_;
  last_keys_moved_ = plan.keys_moved();
  migration_info_.set_running(false);
  migration_info_.set_phase("done");
  migration_info_.set_keys_moved(plan.keys_moved());
  migration_info_.set_keys_to_move(plan.keys_moved());
  log_->info("ring switched epoch={} shard={} keys_moved={}", ring_->epoch(), new_shard,
             plan.keys_moved());
}

absl::StatusOr<paxoskv::v1::MemberListResponse> Master::MemberList(uint32_t shard_id,
                                                                   absl::Time deadline) {
  return members_.List(shard_id, EffectiveDeadline(deadline));
}

absl::StatusOr<paxoskv::v1::MemberChangeResponse> Master::ChangeMember(
    paxoskv::v1::MembershipChange change, absl::Time deadline) {
  if (migration_running()) {
    return absl::FailedPreconditionError(
        "a shard is being added: change members once it is done (kvctl status shows it)");
  }
  return members_.Change(std::move(change), EffectiveDeadline(deadline));
}

namespace {

// `shard_id`, or every shard the directory knows when it is 0.
absl::StatusOr<std::vector<uint32_t>> ShardsNamed(const ShardDirectory& directory,
                                                  uint32_t shard_id) {
  if (shard_id == 0) return directory.ShardIds();
  if (!directory.Replicas(shard_id).has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown shard ", shard_id));
  }
  return std::vector<uint32_t>{shard_id};
}

}  // namespace

absl::StatusOr<paxoskv::v1::AlarmListResponse> Master::AlarmList(uint32_t shard_id,
                                                                 absl::Time deadline) {
  ASSIGN_OR_RETURN(std::vector<uint32_t> shards, ShardsNamed(directory_, shard_id));
  return alarms_.List(shards, EffectiveDeadline(deadline));
}

absl::StatusOr<paxoskv::v1::AlarmDisarmResponse> Master::AlarmDisarm(uint32_t shard_id,
                                                                     absl::Time deadline) {
  ASSIGN_OR_RETURN(std::vector<uint32_t> shards, ShardsNamed(directory_, shard_id));
  return alarms_.Disarm(shards, EffectiveDeadline(deadline));
}

void Master::SetShardAddresses(uint32_t shard_id, std::vector<std::string> addresses) {
  // The usual case, nothing moved, costs no wait behind an AddShard's validation probes.
  if (directory_.Replicas(shard_id) == addresses) return;
  absl::MutexLock admin(&admin_mu_);  // no AddShard meanwhile: it rewrites the ring too
  paxoskv::v1::MasterState state;
  {
    absl::MutexLock lock(&mu_);
    if (migrating_) return;  // the plan's ring is written at its switch; routing is unchanged
    *state.mutable_ring() = ring_config_;
  }
  paxoskv::v1::ShardConfig* shard = nullptr;
  for (paxoskv::v1::ShardConfig& s : *state.mutable_ring()->mutable_shards()) {
    if (s.shard_id() == shard_id) shard = &s;
  }
  if (shard == nullptr ||
      std::vector<std::string>(shard->replicas().begin(), shard->replicas().end()) == addresses) {
    return;
  }
  shard->clear_replicas();
  for (const std::string& address : addresses) shard->add_replicas(address);
  if (absl::Status saved = store_.Save(state); !saved.ok()) {
    log_->error("cannot record shard {}'s members: {}", shard_id, saved.ToString());
    return;
  }
  directory_.SetShard(shard_id, addresses);
  absl::MutexLock lock(&mu_);
  ring_config_ = state.ring();
  log_->info("shard {} members now at {}", shard_id, absl::StrJoin(addresses, ","));
}

paxoskv::v1::ClusterStatusResponse Master::ClusterStatus() {
  paxoskv::v1::ClusterStatusResponse response;
  std::vector<paxoskv::v1::ShardConfig> shards;
  {
    absl::MutexLock lock(&mu_);
    response.set_epoch(ring_config_.epoch());
    response.set_virtual_nodes(ring_config_.virtual_nodes());
    *response.mutable_migration() = migration_info_;
    shards.assign(ring_config_.shards().begin(), ring_config_.shards().end());
    if (migrating_) {
      // The joining shard is listed too, so its progress can be watched.
      const uint32_t joining = migration_info_.shard_id();
      paxoskv::v1::ShardConfig config;
      config.set_shard_id(joining);
      for (const std::string& address : directory_.Replicas(joining).value_or(
               std::vector<std::string>{})) {
        config.add_replicas(address);
      }
      shards.push_back(std::move(config));
    }
  }
  // Every replica of every shard at once, on a bounded number of threads.
  std::vector<std::string> addresses;
  for (const paxoskv::v1::ShardConfig& shard : shards) {
    addresses.insert(addresses.end(), shard.replicas().begin(), shard.replicas().end());
  }
  std::vector<ShardDirectory::Probed> probes =
      directory_.ProbeAll(addresses, options_.status_timeout);
  size_t next_probe = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    paxoskv::v1::ShardInfo* info = response.add_shards();
    info->set_shard_id(shards[s].shard_id());
    paxoskv::v1::ReplicaStatus leader;
    for (int r = 0; r < shards[s].replicas_size(); ++r) {
      auto& [status, error] = probes[next_probe++];
      if (error.ok() && status.shard_id() != shards[s].shard_id()) {
        // The address now reaches another shard's replica (containers swapped IPs): that is
        // not this replica's status. Drop the stale channel so the next probe re-resolves.
        directory_.ResetChannel(shards[s].replicas(r));
        error = absl::UnavailableError(absl::StrCat("address answered as shard ",
                                                    status.shard_id(), "'s replica"));
      }
      paxoskv::v1::ReplicaInfo* replica = info->add_replicas();
      replica->set_address(shards[s].replicas(r));
      replica->set_healthy(error.ok());
      if (!error.ok()) {
        replica->set_error(std::string(error.message()));
        continue;
      }
      replica->set_role(status.role());
      replica->set_replica_id(status.replica_id());
      replica->set_incarnation(status.incarnation());
      replica->set_chosen_slot(status.chosen_slot());
      replica->set_applied_slot(status.applied_slot());
      if (status.role() == "leader") {
        info->set_leader(replica->address());
        leader = status;
      }
    }
    // Each replica's place in the membership, as the leader says.
    for (paxoskv::v1::ReplicaInfo& replica : *info->mutable_replicas()) {
      if (!replica.healthy() || leader.replica_id() == 0) continue;
      for (const paxoskv::v1::Member& m : leader.membership().members()) {
        if (m.id() != replica.replica_id()) continue;
        replica.set_member_role(m.learner() ? "learner" : "voter");
        replica.set_behind(leader.chosen_slot() > replica.chosen_slot()
                               ? leader.chosen_slot() - replica.chosen_slot()
                               : 0);
      }
    }
    if (info->leader().empty()) info->set_leader(directory_.Leader(shards[s].shard_id()));
  }
  return response;
}

}  // namespace paxoskv::master
