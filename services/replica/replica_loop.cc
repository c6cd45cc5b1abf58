// See replica_loop.h.
#include "services/replica/replica_loop.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/common/allocator.h"
#include "libs/common/check.h"
#include "libs/common/random_id.h"
#include "libs/common/status_macros.h"
#include "libs/common/status_markers.h"

namespace paxoskv::replica {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

namespace {

uint64_t MixSeed(uint64_t seed, uint32_t shard_id, uint32_t replica_id) {
  if (seed == 0) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed ^ (uint64_t{shard_id} << 32) ^ (uint64_t{replica_id} * 0x9E3779B97F4A7C15ULL);
}

uint64_t NowMs() { return static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())); }

// How often an idle loop thread wakes for its periodic chores (MaybeCheckSpace: once a
// second; MaybeLogStats: every 5 s).
constexpr absl::Duration kHousekeepingInterval = absl::Milliseconds(100);

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaLoop>> ReplicaLoop::Create(
    ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
    std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger) {
  CoreOptions core_options = options.core;
  core_options.seed = MixSeed(options.seed, core_options.shard_id, core_options.replica_id);
  core_options.local_client_id = RandomId();
  core_options.new_incarnation = RandomId();
  std::shared_ptr<ReplicaMetrics> metrics =
      ReplicaMetrics::For(core_options.shard_id, core_options.replica_id);
  store = MeteredStore(std::move(store), metrics);
  ASSIGN_OR_RETURN(std::unique_ptr<ReplicaCore> core,
                   ReplicaCore::Open(core_options, store.get(), sink.get(), logger));
  return std::unique_ptr<ReplicaLoop>(new ReplicaLoop(std::move(options), std::move(store),
                                                      std::move(sink), std::move(core),
                                                      std::move(metrics), std::move(logger)));
}

ReplicaLoop::ReplicaLoop(ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
                         std::unique_ptr<MessageSink> sink, std::unique_ptr<ReplicaCore> core,
                         std::shared_ptr<ReplicaMetrics> metrics,
                         std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      store_(std::move(store)),
      sink_(std::move(sink)),
      core_(std::move(core)),
      metrics_(std::move(metrics)),
      collector_(std::make_shared<metrics::FunctionCollector>([this] {
        const paxoskv::v1::ReplicaStatus status = GetStatus();
        ReplicaCore::Stats stats;
        {
          absl::MutexLock lock(&mu_);
          stats = inputs().stats();
        }
        return metrics_->FromStatus(status, stats);
      })) {
  metrics::AddCollector(collector_);
}

ReplicaLoop::~ReplicaLoop() {
  collector_->Detach();  // waits for a scrape that reads this loop
  Stop();
}

void ReplicaLoop::Start() {
  loop_thread_ = std::thread([this] { RunLoop(); });
  ticker_thread_ = std::thread([this] { RunTicker(); });
}

void ReplicaLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !loop_thread_.joinable()) return;
    stopping_ = true;
    inputs().FailAll(absl::UnavailableError("replica is shutting down"));
    // A gRPC thread running a Work to completion finishes it first (none starts now).
    mu_.Await(absl::Condition(this, &ReplicaLoop::StateIdleLocked));
  }
  if (ticker_thread_.joinable()) ticker_thread_.join();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

absl::Status ReplicaLoop::Deliver(const paxoskv::v1::PaxosMessage& message) {
  metrics_->ReceivedBytes(message.from()).Increment(static_cast<double>(message.ByteSizeLong()));
  std::optional<ReplicaCore::Work> work;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("replica is shutting down");
    status = inputs().Deliver(message);
    work = TakeWorkInline();
  }
  if (work.has_value()) RunInline(*std::move(work));
  return status;
}

std::optional<ReplicaCore::Work> ReplicaLoop::TakeWorkInline() {
  if (state_busy_ || stopping_ || !inputs().HasWork()) return std::nullopt;
  state_busy_ = true;
  return inputs().TakeWork();
}

void ReplicaLoop::RunInline(ReplicaCore::Work work) {
  ProcessAndComplete(std::move(work));
  absl::MutexLock lock(&mu_);
  state_busy_ = false;  // the loop thread wakes if more work came meanwhile
}

void ReplicaLoop::ProcessAndComplete(ReplicaCore::Work work) {
  const absl::Time started = absl::Now();
  const bool installs = work.install != nullptr;
  absl::StatusOr<ReplicaCore::Applied> applied = state_side().Process(std::move(work));
  const absl::Duration took = absl::Now() - started;
  process_time_ += took;
  if (installs) metrics_->snapshot_install().Observe(absl::ToDoubleSeconds(took));
  CompleteOrDie(std::move(applied));
}

void ReplicaLoop::ExecuteAsync(std::vector<Command> commands, CommandOrigin origin, Done done) {
  // The core answers either inside Propose (a call refused as a whole, or nothing to wait
  // for) or later, under mu_, when the last command completes. An answer at once is given
  // here, outside mu_.
  struct Handoff {
    bool proposing = true;
    std::optional<absl::StatusOr<std::vector<Outcome>>> at_once;
    Done done;
  };
  auto handoff = std::make_shared<Handoff>();
  handoff->done = std::move(done);
  std::optional<ReplicaCore::Work> work;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      handoff->at_once = absl::UnavailableError("replica is shutting down");
    } else {
      inputs().Propose(std::move(commands), origin, NowMs(),
                       [handoff](absl::StatusOr<std::vector<Outcome>> outcomes) {
                         if (handoff->proposing) {
                           handoff->at_once = std::move(outcomes);
                         } else {
                           std::move(handoff->done)(std::move(outcomes));
                         }
                       });
      handoff->proposing = false;  // under mu_: no completion can run before this
      work = TakeWorkInline();
    }
  }
  if (handoff->at_once.has_value()) std::move(handoff->done)(*std::move(handoff->at_once));
  if (work.has_value()) RunInline(*std::move(work));
}

absl::StatusOr<CommandResult> ReplicaLoop::Execute(Command command, absl::Time deadline,
                                                   CommandOrigin origin) {
  // The outcome, shared with the completion (which may come after a timeout here).
  struct Call {
    absl::Notification done;
    absl::StatusOr<std::vector<Outcome>> outcomes = absl::UnknownError("not completed");
  };
  auto call = std::make_shared<Call>();
  std::vector<Command> one;
  one.push_back(std::move(command));
  ExecuteAsync(std::move(one), origin, [call](absl::StatusOr<std::vector<Outcome>> outcomes) {
    call->outcomes = std::move(outcomes);
    call->done.Notify();
  });
  if (!call->done.WaitForNotificationWithDeadline(deadline)) {
    return absl::DeadlineExceededError(
        "command not chosen before the deadline; outcome unknown, retry with the same id");
  }
  if (!call->outcomes.ok()) return call->outcomes.status();
  return std::move(call->outcomes->front());
}

paxoskv::v1::ReplicaStatus ReplicaLoop::GetStatus() {
  absl::MutexLock lock(&mu_);
  paxoskv::v1::ReplicaStatus status = inputs().status();
  status.set_quota_bytes(options_.quota_bytes);
  if (free_bytes_ != UINT64_MAX) status.set_free_bytes(free_bytes_);
  return status;
}

absl::StatusOr<paxoskv::v1::MembershipChangeResult> ReplicaLoop::ChangeMembership(
    uint32_t shard_id, const paxos::ConfChange& change, absl::Time deadline) {
  if (shard_id != 0 && shard_id != options_.core.shard_id) {
    return WrongReplicaError(absl::StrCat("this replica belongs to shard ", options_.core.shard_id,
                                          ", not shard ", shard_id));
  }
  paxoskv::v1::MembershipChangeResult result;
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const bool already, inputs().ChangeMembership(change));
  result.set_already(already);
  // Changes are rare: look once a tick rather than make every unlock evaluate a condition.
  while (!inputs().MembershipChangeInEffect(change)) {
    if (stopping_) return absl::UnavailableError("replica shutting down");
    if (!inputs().is_leader()) {
      return absl::UnavailableError(
          "leadership was lost before the membership change was chosen; outcome unknown, "
          "retry (a change already in effect answers OK)");
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          "membership change not chosen before the deadline; outcome unknown, retry");
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(options_.tick_ms));
  }
  *result.mutable_membership() = inputs().status().membership();
  return result;
}

bool ReplicaLoop::ShouldWakeLocked() const {
  return stopping_ || (!state_busy_ && (snapshot_saved_ || core_->HasWork()));
}

void ReplicaLoop::RunLoop() {
  while (true) {
    std::optional<ReplicaCore::Work> work;
    {
      absl::MutexLock lock(&mu_);
      // Work, a saved snapshot and stopping wake it; the timeout only paces the space check
      // and the stats line (waking every tick would cost two context switches a tick).
      mu_.AwaitWithTimeout(absl::Condition(this, &ReplicaLoop::ShouldWakeLocked),
                           kHousekeepingInterval);
      if (stopping_) return;
      if (state_busy_) continue;  // a gRPC thread runs a Work; it wakes us when it is done
      state_busy_ = true;
      if (inputs().HasWork()) work = inputs().TakeWork();
    }
    if (work.has_value()) ProcessAndComplete(*std::move(work));
    MaybeFinishSnapshot();
    MaybeCheckSpace();
    MaybeStartSnapshot();
    const bool trim = MaybeLogStats();
    {
      absl::MutexLock lock(&mu_);
      state_busy_ = false;
    }
    if (trim) ReleaseMemory();
  }
}

void ReplicaLoop::ReleaseMemory() {
  // Applying frees the parsed commands of every entry (and gRPC its buffers) from many
  // threads; give whole free pages back so that resident memory follows the live state. With
  // glibc's malloc it walks every arena (up to ~100 ms under load): done without the state
  // token, so that gRPC threads go on processing meanwhile.
  const absl::Time started = absl::Now();
  ReleaseFreeMemory();
  last_trim_ = absl::Now() - started;
}

void ReplicaLoop::CompleteOrDie(absl::StatusOr<ReplicaCore::Applied> applied) {
  // Replying after a lost promise would break safety: crash on purpose.
  PAXOSKV_CHECK(applied.ok()) << applied.status().ToString();
  absl::MutexLock lock(&mu_);
  inputs().Complete(*std::move(applied));
}

void ReplicaLoop::RunTicker() {
  const absl::Duration tick = absl::Milliseconds(options_.tick_ms);
  absl::Time next = absl::Now() + tick;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Waits for the next tick, waking early only to stop.
    mu_.AwaitWithDeadline(absl::Condition(&stopping_), next);
    if (stopping_) return;
    next += tick;
    if (next < absl::Now()) next = absl::Now() + tick;  // fell behind: do not burst
    inputs().Tick();
  }
}

void ReplicaLoop::MaybeCheckSpace() {
  if (options_.data_dir.empty()) return;
  const absl::Time now = absl::Now();
  if (now - space_checked_ < absl::Seconds(1)) return;
  space_checked_ = now;
  struct statvfs fs;
  uint64_t free_bytes = UINT64_MAX;
  if (statvfs(options_.data_dir.c_str(), &fs) == 0) {
    free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  } else {
    logger_->warn("statvfs {}: {}", options_.data_dir, std::strerror(errno));
  }
  absl::MutexLock lock(&mu_);
  const uint64_t state_bytes = inputs().state_bytes();
  const bool over_quota = options_.quota_bytes > 0 && state_bytes > options_.quota_bytes;
  const bool low_disk = options_.min_free_bytes > 0 && free_bytes < options_.min_free_bytes;
  if ((over_quota || low_disk) != out_of_space_) {
    logger_->warn("state {} bytes (quota {}), {} bytes free on disk (floor {})", state_bytes,
                  options_.quota_bytes, free_bytes, options_.min_free_bytes);
  }
  out_of_space_ = over_quota || low_disk;
  free_bytes_ = free_bytes;
  inputs().SetNoSpace(over_quota || low_disk);
}

void ReplicaLoop::MaybeStartSnapshot() {
  if (snapshot_job_.has_value()) return;
  {
    // A snapshot writes the whole state before the previous one goes: without room for it,
    // the disk would fill and every write after would crash the replica. Wait for room.
    absl::MutexLock lock(&mu_);
    if (free_bytes_ != UINT64_MAX &&
        free_bytes_ < inputs().state_bytes() + options_.min_free_bytes) {
      return;
    }
  }
  snapshot_job_ = state_side().MaybeStartSnapshot();
  if (!snapshot_job_.has_value()) return;
  snapshot_started_ = absl::Now();
  snapshot_thread_ = std::thread([this] {
    // The core applies nothing to the state this job reads until FinishSnapshot.
    absl::Status status = snapshot_job_->Run();
    // Serializing and compacting freed many small blocks (the log tail's commands): hand the
    // free pages back to the kernel so resident memory follows the live state.
    ReleaseFreeMemory();
    const absl::Duration took = absl::Now() - snapshot_started_;
    if (status.ok()) metrics_->snapshot_save().Observe(absl::ToDoubleSeconds(took));
    logger_->info("saved snapshot last_slot={} in {:.1f} ms: {}", snapshot_job_->slot(),
                  absl::ToDoubleMilliseconds(took), status.ToString());
    absl::MutexLock lock(&mu_);
    snapshot_status_ = std::move(status);
    snapshot_saved_ = true;
  });
}

void ReplicaLoop::MaybeFinishSnapshot() {
  if (!snapshot_job_.has_value()) return;
  absl::Status saved;
  {
    absl::MutexLock lock(&mu_);
    if (!snapshot_saved_) return;
    snapshot_saved_ = false;
    saved = std::move(snapshot_status_);
  }
  snapshot_thread_.join();
  // A snapshot that cannot be made durable is a failed fsync: CompleteOrDie crashes.
  absl::StatusOr<ReplicaCore::Applied> applied =
      state_side().FinishSnapshot(*snapshot_job_, std::move(saved));
  snapshot_job_.reset();
  CompleteOrDie(std::move(applied));
}

bool ReplicaLoop::MaybeLogStats() {
  const absl::Time now = absl::Now();
  if (now - stats_since_ < absl::Seconds(5)) return false;
  const ReplicaCore::Counters counters = state_side().TakeCounters();
  if (counters.commands_applied > 0) {
    const double trim_ms = absl::ToDoubleMilliseconds(last_trim_);
    logger_->info(
        "loop stats: readies={} syncs={} process_ms_avg={:.2f} slots={} commands={} "
        "commands_per_slot={:.1f} messages={} trim_ms={:.1f} over {:.1f}s",
        counters.readies, counters.syncs,
        counters.readies ? absl::ToDoubleMilliseconds(process_time_) / counters.readies : 0.0,
        counters.slots_applied, counters.commands_applied,
        counters.slots_applied ? double(counters.commands_applied) / counters.slots_applied : 0.0,
        counters.messages_sent, trim_ms, absl::ToDoubleSeconds(now - stats_since_));
  }
  process_time_ = absl::ZeroDuration();
  stats_since_ = now;
  return counters.commands_applied > 0;  // trim only while there is traffic
}

}  // namespace paxoskv::replica
