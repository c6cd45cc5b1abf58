// FillShardStatus: the per-shard part of Admin.ClusterStatus. Probes every replica of every
// shard listed at once (Replica.Status, on ShardDirectory's bounded probe threads) and reports,
// per shard, its leader and, per replica, health, role, ids, slots and, as the leader's
// membership says, its place (voter or learner) and how far it lags. Thread-safe (it keeps no
// state; ShardDirectory is).
#pragma once

#include <vector>

#include "absl/time/time.h"
#include "paxoskv/v1/admin.pb.h"
#include "paxoskv/v1/master_state.pb.h"
#include "services/master/shard_directory.h"

namespace paxoskv::master {

// Appends one ShardInfo per entry of `shards`, in order, to `response`.
void FillShardStatus(ShardDirectory* directory, const std::vector<paxoskv::v1::ShardConfig>& shards,
                     absl::Duration timeout, paxoskv::v1::ClusterStatusResponse* response);

}  // namespace paxoskv::master
