// See master.h.
#include "services/master/master.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
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

// The shard a migration adds or removes, and which of the two it does (MigrationInfo.kind).
uint32_t MovingShard(const paxoskv::v1::MigrationPlan& plan) {
  return plan.removed_shard() != 0 ? plan.removed_shard() : plan.new_shard().shard_id();
}
const char* MigrationKind(const paxoskv::v1::MigrationPlan& plan) {
  return plan.removed_shard() != 0 ? "remove" : "add";
}

// The plan's ranges whose keys are all at their new owner.
uint32_t RangesMoved(const paxoskv::v1::MigrationPlan& plan) {
  return static_cast<uint32_t>(
      std::count_if(plan.ranges().begin(), plan.ranges().end(),
                    [](const auto& range) { return range.copied() || range.done(); }));
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

Master::Master(MasterOptions options, std::unique_ptr<ShardDirectory> config_directory)
    : options_(std::move(options)),
      master_id_(RandomId()),
      log_(options_.logger ? options_.logger : GetLogger("master")),
      config_directory_(std::move(config_directory)),
      admission_(nullptr),
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
      lanes_(options_.write_lanes_max),
      collector_(std::make_shared<metrics::FunctionCollector>([this] {
        MasterMetrics::Snapshot snapshot;
        snapshot.requests_in_flight = async_outstanding_.load();
        snapshot.bytes_in_flight = bytes_outstanding_.load();
        snapshot.requests_in_flight_max = options_.requests_in_flight_max;
        snapshot.bytes_in_flight_max = options_.bytes_in_flight_max;
        {
          absl::MutexLock lock(&mu_);
          snapshot.ring_epoch = ring_config_.epoch();
          snapshot.shards = static_cast<size_t>(ring_config_.shards_size());
          snapshot.migration = migration_info_;
        }
        return MasterMetrics::FromSnapshot(snapshot);
      })) {
  if (config_directory_ != nullptr) {
    config_router_ = std::make_unique<Router>(config_directory_.get(), options_.router, log_);
  }
  metrics::AddCollector(collector_);
}

absl::StatusOr<std::unique_ptr<Master>> Master::Open(MasterOptions options) {
  std::unique_ptr<ShardDirectory> config_directory;
  if (!options.config_group.replicas.empty()) {
    config_directory = std::make_unique<ShardDirectory>(options.credentials.ChannelCredentials());
    config_directory->SetShard(options.config_group.shard_id, options.config_group.replicas);
  }
  std::unique_ptr<Master> master(new Master(std::move(options), std::move(config_directory)));
  if (master->config_router_ != nullptr) {
    master->store_ = std::make_unique<GroupConfigStore>(master->options_.config_group,
                                                        master->config_router_.get(),
                                                        master->options_.default_deadline);
  } else {
    ASSIGN_OR_RETURN(master->store_, FileConfigStore::Open(master->options_.data_dir));
  }
  paxoskv::v1::MasterState state;
  // A configuration group started at the same moment has no leader to answer yet: wait for it
  // (each Load already retries within default_deadline; this bounds the whole start).
  const absl::Time give_up = absl::Now() + master->options_.startup_wait;
  absl::StatusOr<paxoskv::v1::MasterState> loaded = master->store_->Load();
  while (!loaded.ok() &&
         (absl::IsUnavailable(loaded.status()) || absl::IsDeadlineExceeded(loaded.status())) &&
         absl::Now() < give_up) {
    master->log_->warn("waiting for {}: {}", master->store_->Describe(),
                       loaded.status().ToString());
    absl::SleepFor(absl::Milliseconds(500));
    loaded = master->store_->Load();
  }
  if (!loaded.ok() && loaded.status().code() == absl::StatusCode::kNotFound) {
    if (master->options_.initial_shards.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("no ring in ", master->store_->Describe(),
                                                     " yet and --shards names no shard"));
    }
    state.set_version(1);
    state.mutable_ring()->set_epoch(1);
    state.mutable_ring()->set_virtual_nodes(master->options_.virtual_nodes);
    for (const auto& shard : master->options_.initial_shards) {
      *state.mutable_ring()->add_shards() = shard;
    }
    RETURN_IF_ERROR(RingFromConfig(state.ring()).status());
    absl::Status seeded = master->store_->Save(nullptr, state);
    if (seeded.ok()) {
      master->log_->info("seeded ring epoch=1 shards={} vnodes={} in {}",
                         state.ring().shards_size(), state.ring().virtual_nodes(),
                         master->store_->Describe());
      loaded = state;
    } else if (seeded.code() == absl::StatusCode::kAborted) {
      loaded = master->store_->Load();  // another master seeded it first
    } else {
      return seeded;
    }
  }
  if (!loaded.ok()) return loaded.status();
  state = *std::move(loaded);
  master->log_->info("loaded ring epoch={} shards={} version={} from {}", state.ring().epoch(),
                     state.ring().shards_size(), state.version(), master->store_->Describe());
  ASSIGN_OR_RETURN(ring::HashRing ring, RingFromConfig(state.ring()));
  for (const auto& shard : state.ring().shards()) {
    master->directory_.SetShard(shard.shard_id(),
                                {shard.replicas().begin(), shard.replicas().end()});
  }
  master->admission_.Switch(std::make_shared<const ring::HashRing>(std::move(ring)));
  {
    absl::MutexLock lock(&master->mu_);
    master->ring_config_ = state.ring();
    master->last_keys_moved_ = state.last_keys_moved();
  }
  {
    absl::MutexLock save(&master->save_mu_);
    master->Adopt(std::move(state));
    // A master of its own store resumes an unfinished migration at once; masters sharing a
    // configuration group leave it to its driver, or take it over once it has gone silent.
    if (!master->store_->shared()) master->TakeOverStalledMigration();
  }
  master->refresher_ = std::thread([m = master.get()] { m->RefreshLoop(); });
  return master;
}

void Master::BeginShutdown() {
  stop_flag_ = true;
  admission_.Stop();
  {
    absl::MutexLock lock(&refresh_mu_);
    refresher_stop_ = true;
  }
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

Master::~Master() {
  collector_->Detach();  // waits for a scrape that reads this master
  BeginShutdown();
  if (refresher_.joinable()) refresher_.join();
  if (migration_thread_.joinable()) migration_thread_.join();
  // Each asynchronous request ends by its deadline (new ones fail at admission now).
  while (async_outstanding_.load() > 0) absl::SleepFor(absl::Milliseconds(1));
}

bool Master::migration_running() const {
  absl::MutexLock lock(&mu_);
  return migration_info_.running();
}

bool Master::AwaitMigrationIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !migration_info_.running(); };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

absl::Time Master::EffectiveDeadline(absl::Time deadline) const {
  const absl::Time now = absl::Now();
  if (deadline == absl::InfiniteFuture()) deadline = now + options_.default_deadline;
  deadline = std::min(deadline, now + options_.request_deadline_max);
  // Answer a little before the caller gives up, so it sees our status, not its own timeout.
  const absl::Duration margin = std::min(absl::Milliseconds(50), (deadline - now) / 10);
  return deadline - std::max(margin, absl::ZeroDuration());
}

absl::StatusOr<CommandResult> Master::StillMoving(absl::StatusOr<CommandResult> result) {
  if (result.ok() || !IsWrongShard(result.status())) return result;
  // Fenced until the deadline: a range another master is moving (its driver may have died
  // between the fence and the record of it; the master that takes over moves it on). Nothing
  // was applied, so the caller may retry here or at another master.
  return absl::UnavailableError(
      absl::StrCat("the key's hash range is being moved to another shard; nothing was applied, "
                   "retry (",
                   result.status().message(), ")"));
}

absl::StatusOr<CommandResult> Master::Route(uint64_t hash, Command command, absl::Time deadline,
                                            bool stamp) {
  while (true) {
    absl::StatusOr<uint32_t> admitted = admission_.Admit(hash, deadline);
    if (!admitted.ok()) {
      if (stamp && command.seq() != 0) lanes_.Release(command);   // a re-route's lane
      return admitted.status();
    }
    const uint32_t shard = *admitted;
    // Stamped after admission, so a request parked behind a migration holds no lane meanwhile.
    if (stamp && command.seq() == 0) {
      if (absl::Status stamped = lanes_.Stamp(&command); !stamped.ok()) {
        admission_.Release(hash);
        return stamped;
      }
    }
    absl::StatusOr<CommandResult> result = batcher_.Execute(shard, command, deadline);
    admission_.Release(hash);
    if (!result.ok() && IsWrongShard(result.status()) && absl::Now() < deadline) {
      // The shard fenced this key's range (a migration moved it): route again by the ring,
      // which another master may have switched.
      log_->debug("wrong shard={} for key hash={}; routing again", shard, hash);
      RequestRefresh();
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    if (stamp) lanes_.Release(command);
    return StillMoving(std::move(result));
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
    MasterMetrics::Get().rejected().Increment();
    finish(std::move(done),
           absl::ResourceExhaustedError(
               absl::StrCat("the master holds ", requests_before, " requests (", bytes_before,
                            " bytes of keys and values) already; nothing was sent, retry later")));
    return;
  }
  absl::StatusOr<std::optional<uint32_t>> admitted = admission_.TryAdmit(hash);
  if (!admitted.ok()) {
    finish(std::move(done), admitted.status());
    return;
  }
  if (!admitted->has_value()) {  // its range is moving: wait for the move on a pool thread
    pool_.Run([this, hash, command = std::move(command), deadline, stamp, done = std::move(done),
               finish]() mutable {
      finish(std::move(done), Route(hash, std::move(command), deadline, stamp));
    });
    return;
  }
  if (stamp && command.seq() == 0) {
    if (absl::Status stamped = lanes_.Stamp(&command); !stamped.ok()) {
      admission_.Release(hash);
      finish(std::move(done), stamped);
      return;
    }
  }
  const uint32_t shard = **admitted;
  batcher_.ExecuteAsync(
      shard, std::move(command), deadline,
      [this, hash, deadline, stamp, shard, done = std::move(done), finish](
          absl::StatusOr<CommandResult> result, Command returned) mutable {
        admission_.Release(hash);
        if (!result.ok() && IsWrongShard(result.status()) && absl::Now() < deadline) {
          // The shard fenced this key's range (a migration moved it): route again by the ring,
          // as Route does (the command keeps its lane; Route releases it).
          log_->debug("wrong shard={} for key hash={}; routing again", shard, hash);
          RequestRefresh();
          pool_.Run([this, hash, returned = std::move(returned), deadline, stamp,
                     done = std::move(done), finish]() mutable {
            absl::SleepFor(absl::Milliseconds(5));
            finish(std::move(done), Route(hash, std::move(returned), deadline, stamp));
          });
          return;
        }
        if (stamp) lanes_.Release(returned);
        finish(std::move(done), StillMoving(std::move(result)));
      });
}

// ---- Backup ---------------------------------------------------------------------------------

absl::Status Master::Backup(const BackupEmit& emit) {
  // Read beside any Save (config_store.h): no lock is held across these RPCs.
  ASSIGN_OR_RETURN(const paxoskv::v1::MasterState before, store_->Load());
  if (before.has_migration()) {
    return absl::FailedPreconditionError(
        "a shard is being added or removed; back up once it is done (kvctl status)");
  }
  paxoskv::v1::BackupChunk header;
  header.mutable_header()->set_epoch(before.ring().epoch());
  header.mutable_header()->set_virtual_nodes(before.ring().virtual_nodes());
  header.mutable_header()->set_created_unix_ms(
      static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())));
  for (const auto& shard : before.ring().shards()) {
    header.mutable_header()->add_shard_ids(shard.shard_id());
  }
  if (!emit(header)) return absl::CancelledError("the caller went away");
  for (const auto& shard : before.ring().shards()) {
    paxoskv::v1::BackupChunk start;
    start.mutable_shard_start()->set_shard_id(shard.shard_id());
    auto leader = router_.LeaderStatus(shard.shard_id(), absl::Now() + options_.status_timeout);
    if (leader.ok()) start.mutable_shard_start()->set_key_count(leader->key_count());
    if (!emit(start)) return absl::CancelledError("the caller went away");
    ASSIGN_OR_RETURN(paxoskv::v1::BackupShardEnd end,
                     BackupShard(&router_, shard.shard_id(), ShardBackupOptions(), emit));
    paxoskv::v1::BackupChunk done;
    *done.mutable_shard_end() = std::move(end);
    if (!emit(done)) return absl::CancelledError("the caller went away");
    log_->info("backup: shard {} copied as of slot {} in {} pass(es)", shard.shard_id(),
               done.shard_end().slot(), done.shard_end().rounds());
  }
  // Every shard must come from the ring of the header: a move that started (or ended)
  // meanwhile may have put a key in two shards' copies, or in none.
  ASSIGN_OR_RETURN(const paxoskv::v1::MasterState after, store_->Load());
  if (after.has_migration() || after.ring().epoch() != before.ring().epoch()) {
    return absl::AbortedError(
        "a shard was added or removed during the backup; its copy is not consistent: run it "
        "again");
  }
  return absl::OkStatus();
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
  if (!options_.config_group.replicas.empty() && id == options_.config_group.shard_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", id, " is the configuration group's id; choose another"));
  }
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
    for (uint32_t removed : ring_config_.removed_shards()) {
      if (removed == id) {
        return absl::FailedPreconditionError(absl::StrCat(
            "shard ", id,
            " was removed, and a shard id is never used again (its old replicas "
            "still fence the ranges it gave away): add the group under a new id, with replicas "
            "on empty data directories"));
      }
    }
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
    if (migration_info_.running()) {
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
    auto& status = probes[i].status;
    auto& error = probes[i].error;
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
  uint64_t target_epoch = 0;
  {
    absl::MutexLock admin(&admin_mu_);
    RETURN_IF_ERROR(ValidateAddShard(request));
    const CurrentRing now = Current();
    const paxoskv::v1::RingConfig& current = now.config;
    ASSIGN_OR_RETURN(ring::HashRing next, now.ring->WithShard(request.shard_id()));
    paxoskv::v1::MigrationPlan plan = MakePlan(now, next);
    plan.mutable_new_shard()->set_shard_id(request.shard_id());
    *plan.mutable_new_shard()->mutable_replicas() = request.replicas();
    *plan.mutable_next_ring()->add_shards() = plan.new_shard();
    std::sort(plan.mutable_next_ring()->mutable_shards()->begin(),
              plan.mutable_next_ring()->mutable_shards()->end(),
              [](const auto& a, const auto& b) { return a.shard_id() < b.shard_id(); });
    target_epoch = next.epoch();
    // Durable before anything changes: a failure here leaves the cluster as it was (kAborted:
    // another master changed the configuration first).
    absl::MutexLock save(&save_mu_);
    RETURN_IF_ERROR(PersistPlanLocked(plan, /*new_plan=*/true));
    log_->info("add shard={} replicas={} epoch={}->{} moving_ranges={}", request.shard_id(),
               absl::StrJoin(request.replicas(), ","), current.epoch(), next.epoch(),
               plan.ranges_size());
    StartMigration(std::move(plan));
  }
  ASSIGN_OR_RETURN(auto finished, AwaitMigration(target_epoch, deadline));
  paxoskv::v1::AddShardResponse response;
  response.set_epoch(finished.first);
  response.set_keys_moved(finished.second);
  return response;
}

absl::Status Master::ValidateRemoveShard(uint32_t shard_id) {
  if (shard_id == 0) return absl::InvalidArgumentError("shard_id must be non-zero");
  std::vector<uint32_t> shards;
  {
    absl::MutexLock lock(&mu_);
    if (migration_info_.running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("shard ", migration_info_.shard_id(), " is still being ",
                       migration_info_.kind() == "remove" ? "removed" : "added",
                       "; retry when ClusterStatus shows it finished"));
    }
  }
  {
    const std::shared_ptr<const ring::HashRing> ring = admission_.ring();
    RETURN_IF_ERROR(ring->WithoutShard(shard_id).status());
    shards = ring->shards();
  }
  // The leaving shard gives every key it holds, and the others take them: each needs a leader,
  // or its ranges would stay paused until it has one. Every replica of the ring is probed at
  // once, on the directory's bounded probe threads, as AddShard probes its new group.
  std::vector<std::string> addresses;
  std::vector<uint32_t> owners;  // addresses[i] is a replica of shard owners[i]
  for (uint32_t shard : shards) {
    for (std::string& address : directory_.Replicas(shard).value_or(std::vector<std::string>{})) {
      addresses.push_back(std::move(address));
      owners.push_back(shard);
    }
  }
  std::vector<ShardDirectory::Probed> probes =
      directory_.ProbeAll(addresses, options_.status_timeout);
  std::set<uint32_t> led;
  std::map<uint32_t, std::vector<std::string>> problems;
  for (size_t i = 0; i < probes.size(); ++i) {
    const auto& status = probes[i].status;
    const auto& error = probes[i].error;
    if (!error.ok()) {
      problems[owners[i]].push_back(absl::StrCat(addresses[i], ": ", error.message()));
    } else if (status.shard_id() == owners[i] && status.role() == "leader") {
      led.insert(owners[i]);
    }
  }
  for (uint32_t shard : shards) {
    if (led.count(shard) == 0) {
      return absl::UnavailableError(absl::StrCat(
          "shard ", shard, " has no reachable leader; retry in a moment",
          problems[shard].empty() ? ""
                                  : absl::StrCat(" (", absl::StrJoin(problems[shard], "; "), ")")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<paxoskv::v1::RemoveShardResponse> Master::RemoveShard(uint32_t shard_id,
                                                                     absl::Time deadline) {
  uint64_t target_epoch = 0;
  {
    absl::MutexLock admin(&admin_mu_);
    RETURN_IF_ERROR(ValidateRemoveShard(shard_id));
    const CurrentRing now = Current();
    const paxoskv::v1::RingConfig& current = now.config;
    ASSIGN_OR_RETURN(ring::HashRing next, now.ring->WithoutShard(shard_id));
    paxoskv::v1::MigrationPlan plan = MakePlan(now, next);
    plan.set_removed_shard(shard_id);
    auto* shards = plan.mutable_next_ring()->mutable_shards();
    shards->erase(std::remove_if(shards->begin(), shards->end(),
                                 [&](const auto& s) { return s.shard_id() == shard_id; }),
                  shards->end());
    plan.mutable_next_ring()->add_removed_shards(shard_id);
    target_epoch = next.epoch();
    // Durable before anything changes: a failure here leaves the cluster as it was (kAborted:
    // another master changed the configuration first).
    absl::MutexLock save(&save_mu_);
    RETURN_IF_ERROR(PersistPlanLocked(plan, /*new_plan=*/true));
    log_->info("remove shard={} epoch={}->{} moving_ranges={}", shard_id, current.epoch(),
               next.epoch(), plan.ranges_size());
    StartMigration(std::move(plan));
  }
  ASSIGN_OR_RETURN(auto finished, AwaitMigration(target_epoch, deadline));
  paxoskv::v1::RemoveShardResponse response;
  response.set_epoch(finished.first);
  response.set_keys_moved(finished.second);
  return response;
}

Master::CurrentRing Master::Current() {
  CurrentRing now;
  {
    absl::MutexLock lock(&mu_);
    now.config = ring_config_;
  }
  now.ring = admission_.ring();
  return now;
}

paxoskv::v1::MigrationPlan Master::MakePlan(const CurrentRing& now, const ring::HashRing& next) {
  paxoskv::v1::MigrationPlan plan;
  *plan.mutable_next_ring() = now.config;
  plan.mutable_next_ring()->set_epoch(next.epoch());
  for (const ring::MovingRange& moving : now.ring->Diff(next)) {
    paxoskv::v1::MigrationRange* range = plan.add_ranges();
    *range->mutable_range() = moving.range;
    range->set_from_shard(moving.from_shard);
    range->set_to_shard(moving.to_shard);
  }
  plan.set_phase("draining");
  plan.set_client_id(RandomId());  // kept by every run of this plan
  plan.set_next_seq(1);
  return plan;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> Master::AwaitMigration(uint64_t epoch,
                                                                     absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto finished = [this, epoch]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return ring_config_.epoch() >= epoch || stopping_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&finished), deadline)) {
    return absl::DeadlineExceededError(
        "the migration is still running (it continues in the background; see ClusterStatus)");
  }
  if (ring_config_.epoch() < epoch) {
    return absl::UnavailableError(
        "master is shutting down; the migration resumes on restart or on another master");
  }
  return std::pair{ring_config_.epoch(), last_keys_moved_};
}

absl::Status Master::PersistPlan(const paxoskv::v1::MigrationPlan& plan, bool new_plan) {
  absl::MutexLock save(&save_mu_);
  return PersistPlanLocked(plan, new_plan);
}

absl::Status Master::PersistPlanLocked(const paxoskv::v1::MigrationPlan& plan, bool new_plan) {
  if (new_plan) {
    if (stored_.has_migration()) {
      return absl::FailedPreconditionError(
          absl::StrCat("shard ", MovingShard(stored_.migration()), " is still being ",
                       stored_.migration().removed_shard() != 0 ? "removed" : "added",
                       "; retry when ClusterStatus shows it finished"));
    }
  } else if (!stored_.has_migration() || stored_.migration().client_id() != plan.client_id() ||
             stored_.migration().driver() != master_id_) {
    migration_lost_ = true;  // another master took it over (and may have finished it)
    return absl::AbortedError("another master took this migration over; this one stops");
  }
  paxoskv::v1::MasterState next = stored_;
  *next.mutable_migration() = plan;
  next.mutable_migration()->set_driver(master_id_);
  absl::Status saved = Commit(std::move(next));
  if (!new_plan && saved.code() == absl::StatusCode::kAborted &&
      (!stored_.has_migration() || stored_.migration().driver() != master_id_)) {
    migration_lost_ = true;
  }
  return saved;
}

void Master::StartMigration(paxoskv::v1::MigrationPlan plan) {
  if (plan.removed_shard() == 0) {  // the joining shard: the migration and routing call it
    directory_.SetShard(plan.new_shard().shard_id(),
                        {plan.new_shard().replicas().begin(), plan.new_shard().replicas().end()});
  }
  {
    absl::MutexLock lock(&mu_);
    if (migrating_) return;  // one taken over still stopping: the refresher starts this later
  }
  // A finished earlier one: its thread's last act was to clear migrating_.
  if (migration_thread_.joinable()) migration_thread_.join();
  migration_lost_ = false;
  RouteByPlan(plan, /*moving=*/-1);  // a resumed plan's moved ranges, and the one half moved
  {
    absl::MutexLock lock(&mu_);
    migrating_ = true;
    migration_info_.Clear();
    ShowPlanLocked(plan);
  }
  migration_thread_ = std::thread([this, plan = std::move(plan)]() mutable {
    RunMigration(std::move(plan));
    absl::MutexLock lock(&mu_);
    migrating_ = false;  // the thread's last act: it touches nothing of the master after it
  });
}

void Master::RouteByPlan(const paxoskv::v1::MigrationPlan& plan, int moving) {
  std::vector<paxoskv::v1::HashRange> paused;
  std::vector<MovedRange> moved;
  for (int i = 0; i < plan.ranges_size(); ++i) {
    const paxoskv::v1::MigrationRange& range = plan.ranges(i);
    if (range.copied() || range.done()) {
      moved.push_back(MovedRange{range.range(), range.to_shard()});
    } else if (range.started() || i == moving) {
      paused.push_back(range.range());
    }
  }
  admission_.Pause(std::move(paused), std::move(moved));
}

void Master::RunMigration(paxoskv::v1::MigrationPlan plan) {
  const uint32_t moving_shard = MovingShard(plan);
  {
    absl::MutexLock lock(&mu_);
    migration_info_.set_phase("copying");
  }
  log_->info("migration of shard={} starts: {} ranges, one at a time", moving_shard,
             plan.ranges_size());

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
  hooks.persist = [this](const paxoskv::v1::MigrationPlan& p) {
    return PersistPlan(p, /*new_plan=*/false);
  };
  hooks.stopped = [this] { return stop_flag_.load() || migration_lost_.load(); };
  hooks.pause = [this](const paxoskv::v1::MigrationPlan& p, int index) {
    RouteByPlan(p, index);
    if (!admission_.AwaitDrained()) return absl::CancelledError("master is shutting down");
    return absl::OkStatus();
  };
  hooks.on_progress = [this](const paxoskv::v1::MigrationPlan& p) {
    RouteByPlan(p, /*moving=*/-1);  // a range just done routes to its new owner from now on
    absl::MutexLock lock(&mu_);
    migration_info_.set_keys_moved(p.keys_moved());
    migration_info_.set_keys_to_move(std::max(migration_info_.keys_to_move(), p.keys_moved()));
    migration_info_.set_ranges_moved(RangesMoved(p));
  };
  Migrator migrator(&router_, options_.migrator, std::move(hooks), log_);
  if (absl::Status status = migrator.Run(&plan); !status.ok()) {
    log_->warn("migration of shard={} interrupted: {}", moving_shard, status.ToString());
    return;
  }

  // 2. Switch: the next ring becomes durable first (in place of the plan, if this master still
  // drives it), then routing uses it.
  {
    absl::MutexLock lock(&mu_);
    migration_info_.set_phase("switching");
  }
  while (true) {
    absl::Status saved;
    {
      absl::MutexLock save(&save_mu_);
      if (!stored_.has_migration() || stored_.migration().client_id() != plan.client_id() ||
          stored_.migration().driver() != master_id_) {
        log_->warn("migration of shard={} was taken over by another master; this one stops",
                   moving_shard);
        return;
      }
      paxoskv::v1::MasterState next = stored_;
      next.clear_migration();
      *next.mutable_ring() = plan.next_ring();
      next.set_last_keys_moved(plan.keys_moved());
      saved = Commit(std::move(next));
      if (saved.ok()) {
        ApplyRing(stored_, &plan);
        break;
      }
    }
    log_->error("cannot record ring epoch={}: {}; retrying", plan.next_ring().epoch(),
                saved.ToString());
    if (stop_flag_) return;
    absl::SleepFor(absl::Seconds(1));
  }
  log_->info("ring switched epoch={} shard={} keys_moved={}", plan.next_ring().epoch(),
             moving_shard, plan.keys_moved());
}

// ---- the stored state -----------------------------------------------------------------------

absl::Status Master::Commit(paxoskv::v1::MasterState next) {
  next.set_version(stored_.version() + 1);
  absl::Status saved = store_->Save(&stored_, next);
  if (saved.ok()) {
    stored_ = std::move(next);
    stored_since_ = absl::Now();
  } else if (saved.code() == absl::StatusCode::kAborted) {
    Refresh();
  }
  return saved;
}

void Master::Refresh() { AdoptIfNewer(store_->Load()); }

void Master::AdoptIfNewer(absl::StatusOr<paxoskv::v1::MasterState> loaded) {
  if (!loaded.ok()) {
    log_->warn("cannot read the configuration from {}: {}", store_->Describe(),
               loaded.status().ToString());
    return;
  }
  if (loaded->version() > stored_.version()) Adopt(*std::move(loaded));
}

void Master::ApplyRing(const paxoskv::v1::MasterState& state,
                       const paxoskv::v1::MigrationPlan* finished) {
  absl::StatusOr<ring::HashRing> ring = RingFromConfig(state.ring());
  if (!ring.ok()) {  // a master's own checks make this impossible: a broken store
    log_->error("stored ring epoch={} is invalid ({}); still routing by the old one",
                state.ring().epoch(), ring.status().ToString());
    return;
  }
  std::set<uint32_t> keep;
  for (const auto& shard : state.ring().shards()) {
    directory_.SetShard(shard.shard_id(), {shard.replicas().begin(), shard.replicas().end()});
    keep.insert(shard.shard_id());
  }
  if (state.has_migration() && state.migration().removed_shard() == 0) {
    keep.insert(state.migration().new_shard().shard_id());
  }
  // A removed shard's replicas answer "wrong shard" for every key now: nothing routes there.
  for (uint32_t shard : directory_.ShardIds()) {
    if (keep.count(shard) == 0) directory_.RemoveShard(shard);
  }
  admission_.Switch(std::make_shared<const ring::HashRing>(*std::move(ring)));
  absl::MutexLock lock(&mu_);
  ring_config_ = state.ring();
  last_keys_moved_ = state.last_keys_moved();
  if (finished != nullptr) {
    migration_info_.set_running(false);
    migration_info_.set_phase("done");
    migration_info_.set_keys_moved(finished->keys_moved());
    migration_info_.set_keys_to_move(finished->keys_moved());
    migration_info_.set_ranges_moved(RangesMoved(*finished));
  }
}

void Master::Adopt(paxoskv::v1::MasterState state) {
  bool ring_changed = false;
  {
    absl::MutexLock lock(&mu_);
    // RingConfig has no map fields: equal configurations serialise to equal bytes.
    ring_changed = ring_config_.SerializeAsString() != state.ring().SerializeAsString();
  }
  stored_ = std::move(state);
  stored_since_ = absl::Now();
  if (ring_changed) {
    log_->info("configuration version={}: ring epoch={} shards={}", stored_.version(),
               stored_.ring().epoch(), stored_.ring().shards_size());
    ApplyRing(stored_);  // lets every paused request go: a running plan pauses again below
  }
  if (!stored_.has_migration()) {
    if (foreign_plan_ != 0) {
      foreign_plan_ = 0;
      absl::MutexLock lock(&mu_);
      if (!migrating_) {
        migration_info_.set_running(false);
        migration_info_.set_phase("done");
      }
    }
    return;
  }
  const paxoskv::v1::MigrationPlan& plan = stored_.migration();
  if (plan.driver() == master_id_) return;  // this master's own (TakeOverStalledMigration)
  // Another master runs it: if this one ran it too, it was taken over and stops.
  if (foreign_plan_ != plan.client_id() || ring_changed) {
    foreign_plan_ = plan.client_id();
    if (plan.removed_shard() == 0) {
      directory_.SetShard(plan.new_shard().shard_id(),
                          {plan.new_shard().replicas().begin(), plan.new_shard().replicas().end()});
    }
    log_->info("another master is {} shard={}: its {} ranges move one at a time",
               plan.removed_shard() != 0 ? "removing" : "adding", MovingShard(plan),
               plan.ranges_size());
  }
  // The range being moved waits here; those moved route to their new owners. (A range its
  // driver has fenced but not yet recorded as started is refused by the old shard: "wrong
  // shard", and Route tries again.)
  RouteByPlan(plan, /*moving=*/-1);
  absl::MutexLock lock(&mu_);
  if (migrating_) migration_lost_ = true;
  ShowPlanLocked(plan);
}

void Master::ShowPlanLocked(const paxoskv::v1::MigrationPlan& plan) {
  migration_info_.set_running(true);
  migration_info_.set_shard_id(MovingShard(plan));
  migration_info_.set_kind(MigrationKind(plan));
  migration_info_.set_phase(plan.phase().empty() ? "draining" : plan.phase());
  migration_info_.set_keys_moved(plan.keys_moved());
  migration_info_.set_keys_to_move(std::max(migration_info_.keys_to_move(), plan.keys_moved()));
  migration_info_.set_ranges_moved(RangesMoved(plan));
  migration_info_.set_ranges_to_move(static_cast<uint32_t>(plan.ranges_size()));
}

void Master::TakeOverStalledMigration() {
  if (!stored_.has_migration()) return;
  {
    absl::MutexLock lock(&mu_);
    if (migrating_ || stopping_) return;
  }
  if (stored_.migration().driver() != master_id_) {
    if (store_->shared() && absl::Now() - stored_since_ < options_.takeover_after) return;
    const uint64_t driver = stored_.migration().driver();
    paxoskv::v1::MasterState next = stored_;
    next.mutable_migration()->set_driver(master_id_);
    // A plan of an older master has no client id yet: drawn once, kept by every later run.
    if (next.migration().client_id() == 0) next.mutable_migration()->set_client_id(RandomId());
    if (absl::Status taken = Commit(std::move(next)); !taken.ok()) {
      log_->warn("cannot take the migration over: {}", taken.ToString());
      return;
    }
    log_->info(
        "took over the migration of shard={} from master {:x} (silent for {}): ranges={} "
        "keys_moved={}",
        MovingShard(stored_.migration()), driver, absl::FormatDuration(options_.takeover_after),
        stored_.migration().ranges_size(), stored_.migration().keys_moved());
  }
  foreign_plan_ = 0;
  StartMigration(stored_.migration());
}

void Master::RequestRefresh() {
  absl::MutexLock lock(&refresh_mu_);
  refresh_requested_ = true;
}

void Master::RefreshLoop() {
  while (true) {
    {
      absl::MutexLock lock(&refresh_mu_);
      auto woken = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return refresh_requested_ || refresher_stop_;
      };
      refresh_mu_.AwaitWithTimeout(absl::Condition(&woken), options_.config_refresh);
      if (refresher_stop_) return;
      refresh_requested_ = false;
    }
    // Read the group without save_mu_: the migration thread's writes need not wait for it.
    std::optional<absl::StatusOr<paxoskv::v1::MasterState>> loaded;
    if (store_->shared()) loaded = store_->Load();
    absl::MutexLock save(&save_mu_);
    if (!loaded.has_value()) {
      TakeOverStalledMigration();  // a plan whose start's outcome was unknown
      continue;
    }
    AdoptIfNewer(*std::move(loaded));
    bool driving = false;
    {
      absl::MutexLock lock(&mu_);
      driving = migrating_ && !migration_lost_;
    }
    // The driver's sign of life when it has nothing else to record (draining, a fence that
    // waits for a shard's leader): others take a plan over only after takeover_after of
    // silence.
    if (driving && stored_.has_migration() && stored_.migration().driver() == master_id_ &&
        absl::Now() - stored_since_ >= options_.takeover_after / 3) {
      if (absl::Status alive = Commit(stored_); !alive.ok()) {
        log_->warn("cannot record that the migration is alive: {}", alive.ToString());
      }
    }
    TakeOverStalledMigration();
  }
}

absl::StatusOr<paxoskv::v1::MemberListResponse> Master::MemberList(uint32_t shard_id,
                                                                   absl::Time deadline) {
  return members_.List(shard_id, EffectiveDeadline(deadline));
}

absl::StatusOr<paxoskv::v1::MemberChangeResponse> Master::ChangeMember(
    paxoskv::v1::MembershipChange change, absl::Time deadline) {
  if (migration_running()) {
    return absl::FailedPreconditionError(
        "a shard is being added or removed: change members once it is done (kvctl status "
        "shows it)");
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
  absl::MutexLock save(&save_mu_);
  // While a shard is added or removed, the plan's ring is written at its switch.
  if (stored_.has_migration()) return;
  paxoskv::v1::MasterState next = stored_;
  paxoskv::v1::ShardConfig* shard = nullptr;
  for (paxoskv::v1::ShardConfig& s : *next.mutable_ring()->mutable_shards()) {
    if (s.shard_id() == shard_id) shard = &s;
  }
  if (shard == nullptr ||
      std::vector<std::string>(shard->replicas().begin(), shard->replicas().end()) == addresses) {
    return;
  }
  shard->clear_replicas();
  for (const std::string& address : addresses) shard->add_replicas(address);
  if (absl::Status saved = Commit(std::move(next)); !saved.ok()) {
    log_->error("cannot record shard {}'s members: {}", shard_id, saved.ToString());
    return;
  }
  ApplyRing(stored_);
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
    const uint32_t joining = migration_info_.shard_id();
    const bool listed = std::any_of(shards.begin(), shards.end(),
                                    [joining](const auto& s) { return s.shard_id() == joining; });
    if (migration_info_.running() && migration_info_.kind() == "add" && !listed) {
      // The joining shard is listed too, so its progress can be watched.
      paxoskv::v1::ShardConfig config;
      config.set_shard_id(joining);
      for (const std::string& address : directory_.Replicas(joining).value_or(
               std::vector<std::string>{})) {
        config.add_replicas(address);
      }
      shards.push_back(std::move(config));
    }
  }
  FillShardStatus(&directory_, shards, options_.status_timeout, &response);
  return response;
}

paxoskv::v1::RoutesResponse Master::Routes() {
  paxoskv::v1::RoutesResponse response;
  {
    // The ring and the migration flag under one lock: ApplyRing changes both in one step, so a
    // client never sees a finished migration's flag cleared with the old ring still listed.
    absl::MutexLock lock(&mu_);
    response.set_epoch(ring_config_.epoch());
    response.set_virtual_nodes(ring_config_.virtual_nodes());
    response.set_migration_running(migration_info_.running());
    for (const auto& shard : ring_config_.shards()) {
      paxoskv::v1::ShardRoute* route = response.add_shards();
      route->set_shard_id(shard.shard_id());
      *route->mutable_replicas() = shard.replicas();
    }
  }
  // A hint only: the client follows the replicas' own leader hints from there.
  for (paxoskv::v1::ShardRoute& route : *response.mutable_shards()) {
    route.set_leader(directory_.Leader(route.shard_id()));
  }
  return response;
}

}  // namespace paxoskv::master
