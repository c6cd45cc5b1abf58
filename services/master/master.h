// Master: the gateway's core, independent of gRPC serving. Routes Get/Put/Delete by the hash
// ring to shard leaders (through Router), assigns exactly-once ids to anonymous writes (one
// write lane each, services/master/write_lanes.h), changes shards' members through their
// leaders (services/master/member_admin.h), and runs AddShard and RemoveShard: validate,
// persist the plan, then one moving hash range at a time pause it, drain the requests in flight
// to it, copy it (Migrator) and route it to its new owner; last, persist and switch the ring.
// The ring and plan live in a ConfigStore (services/master/config_store.h) that other masters
// may share: on start it loads them (the --shards seed only counts the first time), routes by
// an unfinished migration's progress before admitting traffic, and resumes it (its own store)
// or takes it over once its driver is silent (a shared one). Thread-safe: gRPC handler threads
// call everything concurrently; one background thread runs a migration, one (the refresher)
// reads the shared store. Admission (services/master/admission.h) holds the ring requests
// route by, the ranges moved early and the one paused. Only save_mu_ is held across RPCs (the
// store's writes, one at a time); the KV path never takes it.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/limits.h"
#include "libs/common/tls.h"
#include "libs/metrics/metrics.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/admin.pb.h"
#include "paxoskv/v1/master_state.pb.h"
#include "services/master/admission.h"
#include "services/master/alarm_admin.h"
#include "services/master/backup.h"
#include "services/master/batcher.h"
#include "services/master/blocking_pool.h"
#include "services/master/cluster_status.h"
#include "services/master/config_store.h"
#include "services/master/master_metrics.h"
#include "services/master/member_admin.h"
#include "services/master/migration.h"
#include "services/master/router.h"
#include "services/master/shard_directory.h"
#include "services/master/write_lanes.h"

namespace paxoskv::master {

struct MasterOptions {
  // Where the ring and migration plans are kept (config_store.h): a configuration group, which
  // several masters may share, or else one master's own data_dir.
  ConfigGroup config_group;
  std::string data_dir;
  // The ring to start with when the store holds none yet (the first master to store it wins).
  std::vector<paxoskv::v1::ShardConfig> initial_shards;
  // How often the master reads the configuration group for changes other masters made (also
  // at once after a replica answers "wrong shard").
  absl::Duration config_refresh = absl::Milliseconds(200);
  // A migration whose state has not changed for this long is taken over: its driver died.
  // The driver records that it is alive a few times per period.
  absl::Duration takeover_after = absl::Seconds(5);
  // At start, how long to wait for a configuration group that has no reachable leader yet
  // (started at the same moment, as compose and local-cluster do) before giving up.
  absl::Duration startup_wait = absl::Seconds(30);
  uint32_t virtual_nodes = ring::kDefaultVirtualNodes;
  absl::Duration default_deadline = absl::Seconds(10);   // when the caller sets none
  // The longest a KV request is worked on, whatever its caller's deadline.
  absl::Duration request_deadline_max = absl::Milliseconds(kRequestDeadlineMaxMs);
  absl::Duration status_timeout = absl::Seconds(1);  // Replica.Status probes
  RouterOptions router;
  BatcherOptions batcher;                                // KV commands per shard leader
  int max_blocking_threads = 1024;                       // BlockingPool size
  // Anonymous writes in flight at once (one write lane each); beyond: kResourceExhausted.
  size_t write_lanes_max = 4096;
  // KV requests the master holds at once (queued for a batch, parked behind a moving range,
  // retrying), and the bytes of their keys and values: beyond either, a request gets
  // kResourceExhausted at once with nothing sent. Bounds the master's memory whatever its
  // callers do (each request may carry a 1 MiB value).
  int64_t requests_in_flight_max = 16384;
  int64_t bytes_in_flight_max = int64_t{256} << 20;
  MigratorOptions migrator;
  std::shared_ptr<spdlog::logger> logger;                // default: GetLogger("master")
  // Served to callers (MasterServer) and presented to replicas: mutual TLS with the
  // certificate naming "master", or plaintext.
  TlsCredentials credentials = TlsCredentials::Insecure();
};

class Master {
 public:
  // Loads the durable ring or seeds it from options.initial_shards (kInvalidArgument if there
  // is neither), and resumes an unfinished migration in the background.
  static absl::StatusOr<std::unique_ptr<Master>> Open(MasterOptions options);
  ~Master();  // Stops the migration thread (the plan on disk stays resumable).
  // Fails waiting and new requests with kUnavailable and asks the migration to stop.
  void BeginShutdown() ABSL_LOCKS_EXCLUDED(mu_);

  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // KV operations, asynchronous (the gateway's callback handlers): `done` runs exactly once,
  // on a gRPC callback thread, a pool thread or inside the call. kInvalidArgument for an empty
  // key, a key over 1 KiB, a value over 1 MiB or a client_id without a seq (nothing is sent);
  // kResourceExhausted when a write without client_id finds no free write lane (nothing is
  // sent); kNotFound "key not found"
  // (Get); otherwise the Router's errors. Delete's value: whether the key was present.
  // `deadline` == absl::InfiniteFuture() means options.default_deadline from now.
  // A request admitted at once to a shard with a cached leader is batched without blocking any
  // thread; the rest (parked behind a migration, failing over, re-routed) takes the blocking
  // path on a pool thread.
  using GetDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;
  using PutDone = absl::AnyInvocable<void(absl::Status) &&>;
  using DeleteDone = absl::AnyInvocable<void(absl::StatusOr<bool>) &&>;
  void GetAsync(const std::string& key, absl::Time deadline, GetDone done);
  void PutAsync(const std::string& key, const std::string& value, uint64_t client_id,
                uint64_t seq, absl::Time deadline, PutDone done);
  void DeleteAsync(const std::string& key, uint64_t client_id, uint64_t seq, absl::Time deadline,
                   DeleteDone done);

  // Validates (kInvalidArgument, kAlreadyExists, kFailedPrecondition, kUnavailable, nothing
  // changed on error), persists the plan, and migrates. Returns when the ring has switched, or
  // kDeadlineExceeded if `deadline` comes first (the migration carries on in the background).
  absl::StatusOr<paxoskv::v1::AddShardResponse> AddShard(
      const paxoskv::v1::AddShardRequest& request, absl::Time deadline);
  // Validates (kInvalidArgument for id 0, kNotFound for a shard not in the ring,
  // kFailedPrecondition for the last shard or while a shard is added or removed, kUnavailable
  // when a shard has no reachable leader; nothing changed on error), persists the plan, moves
  // the shard's keys to the owners the ring without it names, and drops it from the ring.
  // Returns as AddShard does.
  absl::StatusOr<paxoskv::v1::RemoveShardResponse> RemoveShard(uint32_t shard_id,
                                                               absl::Time deadline);
  paxoskv::v1::ClusterStatusResponse ClusterStatus();
  // Admin.Routes: the ring, each shard's replicas and cached leader, and whether a migration
  // runs, from memory (nothing is sent): a direct client's routing table
  // (services/client/kv_client.h). Cheap: a lock or two, no RPC.
  paxoskv::v1::RoutesResponse Routes() ABSL_LOCKS_EXCLUDED(mu_);

  // Admin.Member*: a shard's membership, read and changed through its leader (MemberAdmin);
  // the master then routes by the members' addresses and records them in its ring file.
  // A change is refused (kFailedPrecondition) while a shard is being added.
  absl::StatusOr<paxoskv::v1::MemberListResponse> MemberList(uint32_t shard_id,
                                                             absl::Time deadline);
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> ChangeMember(
      paxoskv::v1::MembershipChange change, absl::Time deadline);

  // Admin.Alarm*: the raised alarms of one shard (0: every shard), read and cleared through
  // each leader (AlarmAdmin). kNotFound for an unknown shard.
  absl::StatusOr<paxoskv::v1::AlarmListResponse> AlarmList(uint32_t shard_id, absl::Time deadline);
  absl::StatusOr<paxoskv::v1::AlarmDisarmResponse> AlarmDisarm(uint32_t shard_id,
                                                               absl::Time deadline);

  // Admin.Backup: the header, then every shard of the ring (BackupShard, backup.h), each
  // emitted as it is read. kFailedPrecondition while a shard is added or removed; kAborted
  // when the ring changed meanwhile (every shard must be from one ring); kCancelled when
  // `emit` says the caller has gone; a shard's errors.
  absl::Status Backup(const BackupEmit& emit) ABSL_LOCKS_EXCLUDED(mu_, save_mu_);

  // For tests and diagnostics.
  std::shared_ptr<const ring::HashRing> ring() const { return admission_.ring(); }
  int waiting_requests() const { return admission_.waiting(); }
  // True once at least `count` requests wait for a migrating range; false at `deadline`.
  bool AwaitWaitingRequests(int count, absl::Time deadline) const {
    return admission_.AwaitWaiting(count, deadline);
  }
  bool migration_running() const ABSL_LOCKS_EXCLUDED(mu_);
  // True once no migration runs; false if `deadline` passed first.
  bool AwaitMigrationIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Write lanes opened so far.
  size_t write_lanes() const { return lanes_.lanes(); }

 private:
  Master(MasterOptions options, std::unique_ptr<ShardDirectory> config_directory);

  // Runs `command` for `key` on its owner shard, within admission control; routes again
  // when a shard answers "wrong shard". `stamp`: give it a write lane's (client_id, seq) after
  // admission (if it has none yet) and release the lane when done.
  absl::StatusOr<paxoskv::v1::CommandResult> Route(uint64_t hash, paxoskv::v1::Command command,
                                                   absl::Time deadline, bool stamp);
  // Route without blocking a thread on the fast path (see GetAsync).
  using RouteDone = absl::AnyInvocable<void(absl::StatusOr<paxoskv::v1::CommandResult>) &&>;
  void RouteAsync(uint64_t hash, paxoskv::v1::Command command, absl::Time deadline, bool stamp,
                  RouteDone done);
  absl::Time EffectiveDeadline(absl::Time deadline) const;
  // `result`, or UNAVAILABLE for a "wrong shard" refusal that lasted until the request's
  // deadline (its range is being moved: not applied, retryable anywhere).
  static absl::StatusOr<paxoskv::v1::CommandResult> StillMoving(
      absl::StatusOr<paxoskv::v1::CommandResult> result);

  absl::Status ValidateAddShard(const paxoskv::v1::AddShardRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ValidateRemoveShard(uint32_t shard_id) ABSL_LOCKS_EXCLUDED(mu_);
  // What an AddShard or RemoveShard starts from (under admin_mu_, so no migration runs): the
  // ring as recorded and as routed, and the count of finished migrations its own will make.
  struct CurrentRing {
    paxoskv::v1::RingConfig config;
    std::shared_ptr<const ring::HashRing> ring;
  };
  CurrentRing Current() ABSL_LOCKS_EXCLUDED(mu_);
  // A plan moving the ranges whose owner differs between `now` and `next`, with its own client
  // id; its next_ring is now's configuration at next's epoch (the caller adds or drops the
  // shard).
  static paxoskv::v1::MigrationPlan MakePlan(const CurrentRing& now, const ring::HashRing& next);
  // Waits until the ring has reached `epoch` (whichever master finished the move): (epoch,
  // keys moved); kDeadlineExceeded at `deadline` (it carries on), kUnavailable when shutting
  // down.
  absl::StatusOr<std::pair<uint64_t, uint64_t>> AwaitMigration(uint64_t epoch, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts the migration thread for `plan` (already durable, driven by this master) and
  // routes by its progress (RouteByPlan); a shard it adds joins the directory. Under save_mu_, in
  // the same critical section that recorded or took over the plan: the refresher's takeover check
  // (TakeOverStalledMigration) then sees migrating_ and cannot start the plan a second time. Does
  // nothing while an earlier thread still runs (one taken over, stopping): the refresher starts the
  // plan once it ended.
  void StartMigration(paxoskv::v1::MigrationPlan plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RunMigration(paxoskv::v1::MigrationPlan plan) ABSL_LOCKS_EXCLUDED(mu_, save_mu_);
  // Routes by `plan` while it runs: its ranges moved go to their new owners; the range at
  // index `moving` (-1: none) and any range half moved wait; the rest go to their old owners.
  void RouteByPlan(const paxoskv::v1::MigrationPlan& plan, int moving);
  // ClusterStatus's view of a running `plan` (its shard, kind, phase, progress; the key
  // estimate only grows).
  void ShowPlanLocked(const paxoskv::v1::MigrationPlan& plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `plan`: a new one (kFailedPrecondition while another is stored), or this master's
  // progress on its own. kAborted if the stored state moved on: another master changed it
  // first, or took the plan over (the migration stops: migration_lost_).
  absl::Status PersistPlan(const paxoskv::v1::MigrationPlan& plan, bool new_plan)
      ABSL_LOCKS_EXCLUDED(save_mu_);
  absl::Status PersistPlanLocked(const paxoskv::v1::MigrationPlan& plan, bool new_plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);

  // ---- the stored state, shared with other masters ----
  // Saves `next` over stored_ (raising its version). kAborted: another master changed the
  // state first; it is reloaded and adopted. Other errors: outcome unknown (the next refresh
  // tells).
  absl::Status Commit(paxoskv::v1::MasterState next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  // Loads the stored state and adopts it if it is newer than stored_ (AdoptIfNewer; a failed
  // load is logged).
  void Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  void AdoptIfNewer(absl::StatusOr<paxoskv::v1::MasterState> loaded)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  // Makes `state` (newer than stored_) this master's: routes by its ring, pauses the ranges of
  // another master's migration, stops its own if another master took it over.
  void Adopt(paxoskv::v1::MasterState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  // Routes by `state`'s ring: the directory (the joining shard of its plan kept), admission,
  // ring_config_. `finished`, when given, is this master's plan that the ring ends: it shows as
  // done in the same step that ring_config_ changes, so whoever sees the new epoch (AwaitMigration,
  // ClusterStatus) never also sees the migration running.
  void ApplyRing(const paxoskv::v1::MasterState& state,
                 const paxoskv::v1::MigrationPlan* finished = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  // The refresher thread: Refresh every config_refresh (or when asked), the driver's sign of
  // life, and the takeover of a migration whose driver went silent.
  void RefreshLoop() ABSL_LOCKS_EXCLUDED(save_mu_);
  void RequestRefresh() ABSL_LOCKS_EXCLUDED(refresh_mu_);
  void TakeOverStalledMigration() ABSL_EXCLUSIVE_LOCKS_REQUIRED(save_mu_);
  // A shard's member addresses as its leader knows them: recorded (ring file, directory)
  // when they differ from the ring's.
  void SetShardAddresses(uint32_t shard_id, std::vector<std::string> addresses)
      ABSL_LOCKS_EXCLUDED(mu_, admin_mu_, save_mu_);

  const MasterOptions options_;
  const uint64_t master_id_;  // random, per process: names the driver of a migration
  std::shared_ptr<spdlog::logger> log_;
  // The configuration group's replicas and the calls to them (when options_.config_group is
  // set), and the store.
  std::unique_ptr<ShardDirectory> config_directory_;
  std::unique_ptr<Router> config_router_;
  std::unique_ptr<ConfigStore> store_;
  Admission admission_;  // where requests route: the ring, ranges moved early, one paused
  ShardDirectory directory_;
  Router router_;
  BlockingPool pool_;   // the asynchronous requests' blocking paths
  Batcher batcher_;     // KV ops; the migration calls router_ directly
  MemberAdmin members_;
  AlarmAdmin alarms_;
  // Asynchronous requests not yet answered (the destructor waits for none), and the bytes of
  // their keys and values: both bounded by MasterOptions.
  std::atomic<int64_t> async_outstanding_{0};
  std::atomic<int64_t> bytes_outstanding_{0};
  WriteLanes lanes_;   // exactly-once ids of the writes without client_id
  // Reads the admission counts, the ring and the migration at each scrape (master_metrics.h).
  const std::shared_ptr<metrics::FunctionCollector> collector_;

  absl::Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(save_mu_);  // AddShard/RemoveShard validation + plan

  // One change of the stored state at a time; held across the store's calls.
  absl::Mutex save_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  paxoskv::v1::MasterState stored_ ABSL_GUARDED_BY(save_mu_);  // as last loaded or saved
  absl::Time stored_since_ ABSL_GUARDED_BY(save_mu_);          // when stored_ last changed
  // Another master runs this plan (its client id; 0: none): its ranges are paused here.
  uint64_t foreign_plan_ ABSL_GUARDED_BY(save_mu_) = 0;

  absl::Mutex refresh_mu_;
  bool refresh_requested_ ABSL_GUARDED_BY(refresh_mu_) = false;
  bool refresher_stop_ ABSL_GUARDED_BY(refresh_mu_) = false;
  std::thread refresher_;

  mutable absl::Mutex mu_;
  paxoskv::v1::RingConfig ring_config_ ABSL_GUARDED_BY(mu_);  // as durable; admission_ routes
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool migrating_ ABSL_GUARDED_BY(mu_) = false;  // this master's migration thread runs
  // This master's or another's (running() while either runs).
  paxoskv::v1::MigrationInfo migration_info_ ABSL_GUARDED_BY(mu_);
  uint64_t last_keys_moved_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_flag_{false};
  // Another master took this master's migration over: it stops.
  std::atomic<bool> migration_lost_{false};
  std::thread migration_thread_;
};

}  // namespace paxoskv::master
