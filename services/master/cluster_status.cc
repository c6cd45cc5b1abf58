// See cluster_status.h.
#include "services/master/cluster_status.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace paxoskv::master {

void FillShardStatus(ShardDirectory* directory, const std::vector<paxoskv::v1::ShardConfig>& shards,
                     absl::Duration timeout, paxoskv::v1::ClusterStatusResponse* response) {
  // Every replica of every shard at once, on a bounded number of threads.
  std::vector<std::string> addresses;
  for (const paxoskv::v1::ShardConfig& shard : shards) {
    addresses.insert(addresses.end(), shard.replicas().begin(), shard.replicas().end());
  }
  std::vector<ShardDirectory::Probed> probes = directory->ProbeAll(addresses, timeout);
  size_t next_probe = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    paxoskv::v1::ShardInfo* info = response->add_shards();
    info->set_shard_id(shards[s].shard_id());
    paxoskv::v1::ReplicaStatus leader;
    for (int r = 0; r < shards[s].replicas_size(); ++r) {
      auto& [status, error, took] = probes[next_probe++];
      if (error.ok() && status.shard_id() != shards[s].shard_id()) {
        // The address now reaches another shard's replica (containers swapped IPs): that is
        // not this replica's status. Drop the stale channel so the next probe re-resolves.
        directory->ResetChannel(shards[s].replicas(r));
        error = absl::UnavailableError(
            absl::StrCat("address answered as shard ", status.shard_id(), "'s replica"));
      }
      paxoskv::v1::ReplicaInfo* replica = info->add_replicas();
      replica->set_address(shards[s].replicas(r));
      replica->set_healthy(error.ok());
      replica->set_status_micros(static_cast<uint64_t>(absl::ToInt64Microseconds(took)));
      if (!error.ok()) {
        replica->set_error(std::string(error.message()));
        continue;
      }
      replica->set_role(status.role());
      replica->set_replica_id(status.replica_id());
      replica->set_incarnation(status.incarnation());
      replica->set_chosen_slot(status.chosen_slot());
      replica->set_applied_slot(status.applied_slot());
      replica->set_ballot_round(status.ballot_round());
      replica->set_snapshot_slot(status.snapshot_slot());
      replica->set_key_count(status.key_count());
      replica->set_state_bytes(status.state_bytes());
      replica->set_quota_bytes(status.quota_bytes());
      *replica->mutable_alarms() = status.alarms();
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
    if (info->leader().empty()) info->set_leader(directory->Leader(shards[s].shard_id()));
  }
}

}  // namespace paxoskv::master
