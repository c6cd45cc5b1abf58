// Master: the gateway's core, independent of gRPC serving. Routes Get/Put/Delete by the hash
// ring to shard leaders (through Router), assigns exactly-once ids to anonymous writes (one
// write lane each, services/master/write_lanes.h), changes shards' members through their
// leaders (services/master/member_admin.h), and runs AddShard: validate, persist the plan, pause
// only the keys whose hash range moves, drain the requests in flight to those ranges, copy
// (Migrator), persist and switch the ring, release the paused requests. On start it loads the
// durable ring (the --shards seed only counts the first time) and resumes an unfinished migration
// before admitting traffic for its moving ranges. Thread-safe: gRPC handler threads call everything
// concurrently; one background thread runs a migration. The ring is a std::shared_ptr<const
// HashRing> swapped under mu_; no lock is held across an RPC.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/limits.h"
#include "libs/common/tls.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/admin.pb.h"
#include "paxoskv/v1/master_state.pb.h"
#include "services/master/alarm_admin.h"
#include "services/master/batcher.h"
#include "services/master/blocking_pool.h"
#include "services/master/member_admin.h"
#include "services/master/migration.h"
#include "services/master/ring_store.h"
#include "services/master/router.h"
#include "services/master/shard_directory.h"
#include "services/master/write_lanes.h"

namespace paxoskv::master {

struct MasterOptions {
  std::string data_dir;
  std::vector<paxoskv::v1::ShardConfig> initial_shards;  // used only when data_dir is empty
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
  paxoskv::v1::ClusterStatusResponse ClusterStatus();

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

  // For tests and diagnostics.
  std::shared_ptr<const ring::HashRing> ring() const ABSL_LOCKS_EXCLUDED(mu_);
  int waiting_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  // True once at least `count` requests wait for a migrating range; false at `deadline`.
  bool AwaitWaitingRequests(int count, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);
  bool migration_running() const ABSL_LOCKS_EXCLUDED(mu_);
  // True once no migration runs; false if `deadline` passed first.
  bool AwaitMigrationIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Write lanes opened so far.
  size_t write_lanes() const { return lanes_.lanes(); }

 private:
  Master(MasterOptions options, RingStore store);

  // Admission control. Admit waits while `hash` lies in a moving range (until `deadline`,
  // then kDeadlineExceeded), then registers the request as in flight and returns the ring to
  // route by. Release ends it.
  absl::StatusOr<std::shared_ptr<const ring::HashRing>> Admit(uint64_t hash, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Release(uint64_t hash) ABSL_LOCKS_EXCLUDED(mu_);
  // Admit without waiting: the ring when admitted; nullptr when `hash` is moving (the caller
  // takes the blocking path); kUnavailable when shutting down.
  absl::StatusOr<std::shared_ptr<const ring::HashRing>> TryAdmit(uint64_t hash)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool MovingLocked(uint64_t hash) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InFlightMovingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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

  absl::Status ValidateAddShard(const paxoskv::v1::AddShardRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts the migration thread for `plan` (already durable) and pauses its ranges.
  void StartMigration(paxoskv::v1::MigrationPlan plan) ABSL_LOCKS_EXCLUDED(mu_);
  void RunMigration(paxoskv::v1::MigrationPlan plan) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status PersistPlan(const paxoskv::v1::MigrationPlan& plan) ABSL_LOCKS_EXCLUDED(mu_);
  // A shard's member addresses as its leader knows them: recorded (ring file, directory)
  // when they differ from the ring's.
  void SetShardAddresses(uint32_t shard_id, std::vector<std::string> addresses)
      ABSL_LOCKS_EXCLUDED(mu_, admin_mu_);

  const MasterOptions options_;
  const RingStore store_;
  std::shared_ptr<spdlog::logger> log_;
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

  absl::Mutex admin_mu_;  // Serialises AddShard validation + plan creation.

  mutable absl::Mutex mu_;
  paxoskv::v1::RingConfig ring_config_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ring::HashRing> ring_ ABSL_GUARDED_BY(mu_);
  std::vector<paxoskv::v1::HashRange> moving_ ABSL_GUARDED_BY(mu_);  // paused while migrating
  std::multiset<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);           // hashes of admitted reqs
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool migrating_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t migrations_finished_ ABSL_GUARDED_BY(mu_) = 0;
  paxoskv::v1::MigrationInfo migration_info_ ABSL_GUARDED_BY(mu_);
  uint64_t last_keys_moved_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_flag_{false};
  std::thread migration_thread_;
};

}  // namespace paxoskv::master
