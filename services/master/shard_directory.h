// ShardDirectory: what the master knows about each shard group: its replica addresses, the
// last replica that answered as leader, and one gRPC channel per address (created lazily,
// reused by every request). Thread-safe: one short internal lock, never held across an RPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::master {

class ShardDirectory {
 public:
  // Channels to replicas use `credentials` (the master's certificate, or plaintext).
  explicit ShardDirectory(std::shared_ptr<grpc::ChannelCredentials> credentials)
      : credentials_(std::move(credentials)) {}

  // Adds or replaces the replica list of `shard_id` (the cached leader is kept if still listed).
  void SetShard(uint32_t shard_id, std::vector<std::string> replicas) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets a shard that left the ring (its channels stay until the process ends).
  void RemoveShard(uint32_t shard_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Replica addresses of a shard, or nullopt if the shard is unknown.
  std::optional<std::vector<std::string>> Replicas(uint32_t shard_id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<uint32_t> ShardIds() const ABSL_LOCKS_EXCLUDED(mu_);
  // The shard owning `address`, if any.
  std::optional<uint32_t> ShardOfAddress(const std::string& address) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Last replica that answered as leader ("" when unknown).
  std::string Leader(uint32_t shard_id) const ABSL_LOCKS_EXCLUDED(mu_);
  void SetLeader(uint32_t shard_id, const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the cached leader if it is `address` (after it failed).
  void ForgetLeader(uint32_t shard_id, const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets the channel to `address`; the next Stub() builds a new one (new name resolution).
  void ResetChannel(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  // Stubs for `address` (any address, including leader hints outside the list), sharing one
  // channel: the client service (Replica) and the range-moving one (Migration).
  std::shared_ptr<paxoskv::v1::Replica::Stub> Stub(const std::string& address)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<paxoskv::v1::Migration::Stub> MigrationStub(const std::string& address)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Replica.Status of `address` within `timeout` (a connection still being set up is waited
  // for: a busy machine or a replica just started is not a dead one); `error` says why not.
  paxoskv::v1::ReplicaStatus Probe(const std::string& address, absl::Duration timeout,
                                   absl::Status* error) ABSL_LOCKS_EXCLUDED(mu_);
  // Probe of every address, in order (an empty one: kNotFound, nothing sent), on at most
  // kProbeThreadsMax threads at once (the caller's among them): a cluster of many replicas,
  // or many dead ones, costs a bounded number of threads and about (addresses / threads)
  // probe timeouts.
  struct Probed {
    paxoskv::v1::ReplicaStatus status;
    absl::Status error;
    absl::Duration took;  // until it answered (or failed)
  };
  static constexpr size_t kProbeThreadsMax = 16;
  std::vector<Probed> ProbeAll(const std::vector<std::string>& addresses, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Shard {
    std::vector<std::string> replicas;
    std::string leader;
  };
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable absl::Mutex mu_;
  std::map<uint32_t, Shard> shards_ ABSL_GUARDED_BY(mu_);
  struct Stubs {
    std::shared_ptr<paxoskv::v1::Replica::Stub> replica;
    std::shared_ptr<paxoskv::v1::Migration::Stub> migration;
  };
  Stubs StubsFor(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  std::map<std::string, Stubs> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paxoskv::master
