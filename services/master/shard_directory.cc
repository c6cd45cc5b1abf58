// See shard_directory.h.
#include "services/master/shard_directory.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"

namespace paxoskv::master {

void ShardDirectory::SetShard(uint32_t shard_id, std::vector<std::string> replicas) {
  absl::MutexLock lock(&mu_);
  Shard& shard = shards_[shard_id];
  if (std::find(replicas.begin(), replicas.end(), shard.leader) == replicas.end()) {
    shard.leader.clear();
  }
  shard.replicas = std::move(replicas);
}

void ShardDirectory::RemoveShard(uint32_t shard_id) {
  absl::MutexLock lock(&mu_);
  shards_.erase(shard_id);
}

std::optional<std::vector<std::string>> ShardDirectory::Replicas(uint32_t shard_id) const {
  absl::MutexLock lock(&mu_);
  auto it = shards_.find(shard_id);
  if (it == shards_.end()) return std::nullopt;
  return it->second.replicas;
}

std::vector<uint32_t> ShardDirectory::ShardIds() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint32_t> ids;
  for (const auto& [id, shard] : shards_) ids.push_back(id);
  return ids;
}

std::optional<uint32_t> ShardDirectory::ShardOfAddress(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, shard] : shards_) {
    if (std::find(shard.replicas.begin(), shard.replicas.end(), address) !=
        shard.replicas.end()) {
      return id;
    }
  }
  return std::nullopt;
}

std::string ShardDirectory::Leader(uint32_t shard_id) const {
  absl::MutexLock lock(&mu_);
  auto it = shards_.find(shard_id);
  return it == shards_.end() ? std::string() : it->second.leader;
}

void ShardDirectory::SetLeader(uint32_t shard_id, const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = shards_.find(shard_id);
  if (it != shards_.end()) it->second.leader = address;
}

void ShardDirectory::ForgetLeader(uint32_t shard_id, const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = shards_.find(shard_id);
  if (it != shards_.end() && it->second.leader == address) it->second.leader.clear();
}

void ShardDirectory::ResetChannel(const std::string& address) {
  absl::MutexLock lock(&mu_);
  stubs_.erase(address);
}

ShardDirectory::Stubs ShardDirectory::StubsFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = stubs_.find(address);
  if (it != stubs_.end()) return it->second;
  auto channel = grpc::CreateCustomChannel(address, credentials_, PaxoskvChannelArguments());
  Stubs stubs{.replica = paxoskv::v1::Replica::NewStub(channel),
              .migration = paxoskv::v1::Migration::NewStub(channel)};
  stubs_.emplace(address, stubs);
  return stubs;
}

std::shared_ptr<paxoskv::v1::Replica::Stub> ShardDirectory::Stub(const std::string& address) {
  return StubsFor(address).replica;
}

std::shared_ptr<paxoskv::v1::Migration::Stub> ShardDirectory::MigrationStub(
    const std::string& address) {
  return StubsFor(address).migration;
}

std::vector<ShardDirectory::Probed> ShardDirectory::ProbeAll(
    const std::vector<std::string>& addresses, absl::Duration timeout) {
  std::vector<Probed> out(addresses.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < addresses.size(); i = next++) {
      if (addresses[i].empty()) {
        out[i].error = absl::NotFoundError("no address known");
        continue;
      }
      const absl::Time started = absl::Now();
      out[i].status = Probe(addresses[i], timeout, &out[i].error);
      out[i].took = absl::Now() - started;
    }
  };
  std::vector<std::thread> helpers;
  const size_t threads = std::min(addresses.size(), kProbeThreadsMax);
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
  return out;
}

paxoskv::v1::ReplicaStatus ShardDirectory::Probe(const std::string& address, absl::Duration timeout,
                                                 absl::Status* error) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(true);
  paxoskv::v1::ReplicaStatus status;
  grpc::Status rpc = Stub(address)->Status(&context, paxoskv::v1::ReplicaStatusRequest(), &status);
  *error = FromGrpcStatus(rpc, &context);
  return status;
}

}  // namespace paxoskv::master
