// Client library for paxoskv, shared by kvctl, kvbench and the tests.
//
// KvClient talks to the master gateways (services KV and Admin): one address or several
// ("h:p,h:p,h:p"). A call goes to the master that answered last and fails over to the next one
// as libs/common/leader_retry.h says (the one retry loop, shared with ReplicaClient and the
// master's Router): UNAVAILABLE, an attempt's timeout, CANCELLED or RESOURCE_EXHAUSTED (a
// busy master; not a NOSPACE alarm) move on, round-robin, backing off after each full round,
// until the call's deadline. ReplicaClient talks to one replica group directly (service
// Replica), following leader hints; tests of a replica group, migration checks and
// `kvbench --target replica` use it.
//
// Exactly once: each KvClient picks a random 64-bit client id; every Put/Delete gets the next
// seq, and a retry (at the same master or another) re-sends the same (client_id, seq), so
// the replicas' dedup table applies it once and returns the first result.
//
// Direct mode (KvClientOptions::direct, as TiKV's client does): Get/Put/Delete go straight to
// the key's shard leader (Replica.Execute) rather than through a master. On first use the
// client fetches the masters' routing table (Admin.Routes: ring epoch and virtual nodes, each
// shard's replicas and the master's cached leader, whether a migration runs, all from the
// master's memory), builds the ring (libs/ring) and keeps one ReplicaClient per shard, which
// follows the replicas' leader hints and fails over within the shard. The table is fetched
// again on the calling thread (there is no background thread), never twice within
// routes_refresh_min: when it is older than routes_max_age, while it says a migration runs,
// and after any fallback below. A request goes through the masters instead, with the SAME
// (client_id, seq), so that a write the direct try may have applied is applied once (the
// replicas' dedup table), when:
//  - no table has been fetched yet, or the ring names a shard the table does not list;
//  - a migration runs: the master holds requests to the range being moved (a direct client
//    would only bounce off the fences);
//  - the shard answers WRONG_SHARD: the key's range moved, the table is stale;
//  - no replica of the shard answered within the direct budget (UNAVAILABLE,
//    DEADLINE_EXCEEDED: a dead leader, an election).
// Every other answer is final and mapped as the master maps it (ResultStatus,
// libs/common/result_status.h), so a result and its code are the same either way. The client
// must reach the replicas at the addresses the ring names, and gives up the master's
// admission: its in-flight bounds and its waiting behind a moving range (README.md, "Direct
// mode").
//
// Both classes are thread-safe: any number of threads may call them concurrently (each call
// is independent; seqs come from an atomic counter; direct mode's table is swapped whole
// under a lock and shared).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/leader_retry.h"
#include "libs/common/limits.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/admin.grpc.pb.h"
#include "paxoskv/v1/command.pb.h"
#include "paxoskv/v1/kv.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::client {

// Per-call options.
struct CallOptions {
  // Overall budget of the call, retries included. Zero: the client's default_timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

struct KvClientOptions {
  absl::Duration default_timeout = absl::Seconds(5);
  // Retry (at the same master or the next one) until the call's deadline, as the header says.
  // Off: one attempt, at the master that answered last.
  bool retry = true;
  // Budget of one attempt. Zero: the whole remaining deadline with one master;
  // kMasterAttemptTimeout with several, so a hung master hands over to the next in time.
  absl::Duration attempt_timeout = absl::ZeroDuration();
  absl::Duration backoff_initial = absl::Milliseconds(10);
  absl::Duration backoff_max = absl::Milliseconds(200);
  // A call (and so its retries, which keep its (client_id, seq)) ends by this, whatever its
  // timeout: the replicas' dedup sessions recognise a copy of a command only that long
  // (libs/common/limits.h kRetryWindowMaxMs).
  absl::Duration retry_window_max = absl::Milliseconds(kRetryWindowMaxMs);
  // 0: random (never 0).
  uint64_t client_id = 0;
  // Mutual TLS with the caller's certificate (libs/common/tls.h), or plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  // Makes the channel to one master (and in direct mode to one replica). Empty: `credentials`
  // and PaxoskvChannelArguments().
  std::function<std::shared_ptr<grpc::Channel>(const std::string& address)> make_channel = nullptr;

  // Direct mode, as the header says. Off: every request goes through a master.
  bool direct = false;
  // One attempt at a replica (so a dead leader hands over in time), and the whole direct try
  // before the request goes through the masters: at most half of what remains of the call's
  // deadline, so the masters get the other half.
  absl::Duration direct_attempt_timeout = absl::Milliseconds(500);
  absl::Duration direct_budget = absl::Seconds(2);
  // The routing table is fetched again once older than this (and on the events the header
  // names), but never twice within routes_refresh_min.
  absl::Duration routes_max_age = absl::Seconds(5);
  absl::Duration routes_refresh_min = absl::Milliseconds(100);
};

// The attempt budget with several masters when KvClientOptions::attempt_timeout is zero.
inline constexpr absl::Duration kMasterAttemptTimeout = absl::Seconds(1);
// The longest a direct client waits for Admin.Routes (never more than half of what remains of
// the call that fetches it).
inline constexpr absl::Duration kRoutesFetchTimeout = absl::Seconds(1);

// What direct mode did since the client was made (for tests and tools).
struct DirectStats {
  uint64_t direct = 0;          // answered by the key's shard
  uint64_t via_master = 0;      // sent through the masters instead, for one of these causes:
  uint64_t no_route = 0;        //   no routing table yet, or the key's shard not in it
  uint64_t migration = 0;       //   a migration was running
  uint64_t wrong_shard = 0;     //   the shard answered WRONG_SHARD
  uint64_t unreachable = 0;     //   no replica answered within the direct budget
  uint64_t routes_fetched = 0;  // Admin.Routes answers received
};

// Direct mode's pure parts.
// The ring an Admin.Routes answer describes (kInvalidArgument when it lists no shard).
absl::StatusOr<ring::HashRing> RingOfRoutes(const paxoskv::v1::RoutesResponse& routes);
// What a direct client does with a shard's answer: return it as final (kAnswer), or send the
// request through the masters and fetch the table again: the key's range moved
// (kWrongShard), or no replica answered in time (kUnreachable: UNAVAILABLE,
// DEADLINE_EXCEEDED, and what the leader-following loop ends in when its retries run out).
enum class DirectVerdict { kAnswer, kWrongShard, kUnreachable };
DirectVerdict JudgeDirectAnswer(const absl::Status& status);

class ReplicaClient;

// Client of the master gateways.
class KvClient {
 public:
  // `masters`: "host:port" or a comma-separated list of them (every call fails with
  // kInvalidArgument when it names none).
  explicit KvClient(const std::string& masters, KvClientOptions options = {});

  // The value of `key`. kNotFound when absent; kInvalidArgument for a bad key; kUnavailable /
  // kDeadlineExceeded when the cluster did not answer in time.
  absl::StatusOr<std::string> Get(const std::string& key, CallOptions call = {});
  // Sets `key` to `value`. On kUnavailable / kDeadlineExceeded the write may or may not have
  // been applied (it is applied at most once).
  absl::Status Put(const std::string& key, const std::string& value, CallOptions call = {});
  // Removes `key`; true if it was present. Same failure contract as Put.
  absl::StatusOr<bool> Delete(const std::string& key, CallOptions call = {});
  // Adds a shard online (blocks until its keys have moved). Not retried: a second attempt
  // after an unknown outcome would answer kAlreadyExists.
  absl::StatusOr<paxoskv::v1::AddShardResponse> AddShard(uint32_t shard_id,
                                                          const std::vector<std::string>& replicas,
                                                          CallOptions call = {});
  // Removes a shard online (blocks until its keys have moved). Not retried: a second attempt
  // after an unknown outcome would answer kNotFound.
  absl::StatusOr<paxoskv::v1::RemoveShardResponse> RemoveShard(uint32_t shard_id,
                                                               CallOptions call = {});
  absl::StatusOr<paxoskv::v1::ClusterStatusResponse> ClusterStatus(CallOptions call = {});
  // Admin.Member*. A change is retried within the deadline when the master cannot be
  // reached: a change already in effect answers OK (`already`), so a retry is safe.
  absl::StatusOr<paxoskv::v1::MemberListResponse> MemberList(uint32_t shard_id,
                                                             CallOptions call = {});
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> MemberAdd(
      const paxoskv::v1::MemberAddRequest& request, CallOptions call = {});
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> MemberRemove(
      const paxoskv::v1::MemberRemoveRequest& request, CallOptions call = {});
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> MemberPromote(
      const paxoskv::v1::MemberPromoteRequest& request, CallOptions call = {});
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> MemberUpdate(
      const paxoskv::v1::MemberUpdateRequest& request, CallOptions call = {});
  // Admin.Alarm* of one shard (0: every shard). Clearing is idempotent, so retried too.
  absl::StatusOr<paxoskv::v1::AlarmListResponse> AlarmList(uint32_t shard_id,
                                                           CallOptions call = {});
  absl::StatusOr<paxoskv::v1::AlarmDisarmResponse> AlarmDisarm(uint32_t shard_id,
                                                               CallOptions call = {});

  // Admin.Backup at the master that answered last: `on_chunk` sees every chunk as it arrives
  // (false cancels the call: kCancelled). Not retried: a backup starts over. No deadline but
  // `timeout` (a large cluster takes a while).
  absl::Status Backup(const std::function<bool(const paxoskv::v1::BackupChunk&)>& on_chunk,
                      absl::Duration timeout = absl::Hours(24));

  // Admin.Routes of the master that answers (retried as ClusterStatus is): what direct mode
  // routes by.
  absl::StatusOr<paxoskv::v1::RoutesResponse> Routes(CallOptions call = {});

  uint64_t client_id() const { return client_id_; }
  // The seq the next Put/Delete will use (for tests).
  uint64_t next_seq() const { return next_seq_.load(); }
  const std::vector<std::string>& masters() const { return masters_; }
  // The master that answered last (or the first one).
  std::string current_master() const ABSL_LOCKS_EXCLUDED(mu_);
  DirectStats direct_stats() const;

 private:
  struct Stubs {
    std::unique_ptr<paxoskv::v1::KV::Stub> kv;
    std::unique_ptr<paxoskv::v1::Admin::Stub> admin;
  };
  // Direct mode's routing table, as one Admin.Routes answer said. Immutable once made; the
  // requests that route by it share it.
  struct DirectRoutes {
    paxoskv::v1::RoutesResponse answer;
    std::optional<ring::HashRing> ring;  // none: the answer names no usable ring
    // Per shard, following its leader; kept across fetches while its replicas stay the same.
    std::map<uint32_t, std::shared_ptr<ReplicaClient>> shards;
    absl::Time fetched;
  };
  // The command's answer from its shard, or nullopt: send it through the masters (the causes
  // in the header; each counted in stats_).
  std::optional<absl::StatusOr<paxoskv::v1::CommandResult>> TryDirect(paxoskv::v1::Command command,
                                                                      absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(routes_mu_);
  // The table to route by: fetched again first when due (see the header) and no other thread
  // is fetching it; null when none was ever fetched.
  std::shared_ptr<const DirectRoutes> CurrentRoutes(absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(routes_mu_);
  std::shared_ptr<const DirectRoutes> MakeRoutes(paxoskv::v1::RoutesResponse answer,
                                                 const DirectRoutes* previous) const;
  // A fallback happened: fetch the table again at the next chance.
  void WantRoutes() ABSL_LOCKS_EXCLUDED(routes_mu_);
  absl::Time Deadline(const CallOptions& call) const;
  // Runs `attempt(stubs, context)` at the master that answered last, then as the header says
  // (only once when `retry` is false), until `deadline`.
  template <typename Attempt>
  absl::Status Call(bool retry, absl::Time deadline, Attempt attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // One Admin call, retried as ClusterStatus is.
  template <typename Request, typename Response>
  absl::StatusOr<Response> CallAdmin(grpc::Status (paxoskv::v1::Admin::Stub::*method)(
                                         grpc::ClientContext*, const Request&, Response*),
                                     const Request& request, CallOptions call);

  const KvClientOptions options_;
  const std::vector<std::string> masters_;
  const std::map<std::string, Stubs> stubs_;  // one channel per master, made at construction
  LeaderRetryPolicy policy_;
  const uint64_t client_id_;
  std::atomic<uint64_t> next_seq_{1};
  mutable absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);

  // Direct mode. Never held across an RPC, and never together with mu_.
  mutable absl::Mutex routes_mu_;
  std::shared_ptr<const DirectRoutes> routes_ ABSL_GUARDED_BY(routes_mu_);
  bool routes_wanted_ ABSL_GUARDED_BY(routes_mu_) = false;    // a fallback asked for a fetch
  bool routes_fetching_ ABSL_GUARDED_BY(routes_mu_) = false;  // a thread is fetching it
  absl::Time routes_tried_ ABSL_GUARDED_BY(routes_mu_) = absl::InfinitePast();
  struct Counters {
    std::atomic<uint64_t> direct{0}, no_route{0}, migration{0}, wrong_shard{0}, unreachable{0},
        routes_fetched{0};
  };
  Counters stats_;
};

struct ReplicaClientOptions {
  absl::Duration default_timeout = absl::Seconds(5);
  // Per-attempt timeout (1 s: a hung replica does not eat the whole deadline), backoff and
  // leader-hint hops.
  LeaderRetryPolicy retry;
  // As KvClientOptions::retry_window_max.
  absl::Duration retry_window_max = absl::Milliseconds(kRetryWindowMaxMs);
  uint64_t client_id = 0;  // 0: random
  // As KvClientOptions::credentials (a replica takes GET, PUT and DELETE from a client's or
  // admin's certificate, everything else from the master's only).
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  // As KvClientOptions::make_channel, for the replicas.
  std::function<std::shared_ptr<grpc::Channel>(const std::string& address)> make_channel = nullptr;
  // The replica tried first, e.g. the master's cached leader ("" or not listed: the first).
  std::string leader;
};

// Client of one replica group. Execute sends a Command to the last known leader and follows
// libs/common/leader_retry.h: on FAILED_PRECONDITION with a "paxoskv-leader" hint it goes to
// the hinted replica; on UNAVAILABLE or an attempt timeout it tries the next replica (backing
// off after each full round), until the deadline. The command is re-sent unchanged, so set
// (client_id, seq) for writes (the Get/Put/Delete helpers do).
class ReplicaClient {
 public:
  explicit ReplicaClient(std::vector<std::string> replicas, ReplicaClientOptions options = {});

  // The replica's CommandResult (code OK). Errors: the replica's answer when it is final
  // (kNotFound for a get of a missing key, kInvalidArgument, kAborted for a stale seq, ...),
  // kUnavailable / kDeadlineExceeded (no leader answered in time; the last error is in the
  // message).
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(const paxoskv::v1::Command& command,
                                                     CallOptions call = {});
  // The same through the replicas' Migration service: the master's range-moving ops (a scan,
  // for tests and tools that read a shard's keys through its log).
  absl::StatusOr<paxoskv::v1::CommandResult> ExecuteMigration(
      const paxoskv::v1::Command& command, CallOptions call = {});
  absl::StatusOr<std::string> Get(const std::string& key, CallOptions call = {});
  absl::Status Put(const std::string& key, const std::string& value, CallOptions call = {});
  absl::StatusOr<bool> Delete(const std::string& key, CallOptions call = {});
  // Replica.Status of one replica (no retries).
  absl::StatusOr<paxoskv::v1::ReplicaStatus> Status(const std::string& address,
                                                    absl::Duration timeout = absl::Seconds(1));

  // The replica that answered last (or the first replica).
  std::string leader() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::vector<std::string>& replicas() const { return replicas_; }
  uint64_t client_id() const { return client_id_; }
  uint64_t NextSeq() { return next_seq_.fetch_add(1); }

 private:
  struct Stubs {
    std::unique_ptr<paxoskv::v1::Replica::Stub> replica;
    std::unique_ptr<paxoskv::v1::Migration::Stub> migration;
  };
  Stubs& StubsFor(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<paxoskv::v1::CommandResult> Call(const paxoskv::v1::Command& command,
                                                  CallOptions call, bool migration);

  const std::vector<std::string> replicas_;
  const ReplicaClientOptions options_;
  const uint64_t client_id_;
  std::atomic<uint64_t> next_seq_{1};
  mutable absl::Mutex mu_;
  std::string leader_ ABSL_GUARDED_BY(mu_);
  // Node-based: references stay valid as entries are added.
  absl::node_hash_map<std::string, Stubs> stubs_ ABSL_GUARDED_BY(mu_);
};

// The gRPC code name of a status code, e.g. "DEADLINE_EXCEEDED" (as in the history files).
std::string StatusCodeName(absl::StatusCode code);

}  // namespace paxoskv::client
