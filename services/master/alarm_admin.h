// AlarmAdmin: the Admin.Alarm* methods (etcdctl alarm list / disarm). A shard's alarms live
// in its own log (libs/kv OP_ALARM: a replica out of space asks its leader to raise NOSPACE);
// this module reads them from each shard's leader (Replica.Status) and clears them there
// (Replica.Execute of an OP_ALARM clear), through the Router's one leader-following loop.
// Thread-safe: no state of its own; holds no lock across an RPC.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paxoskv/v1/admin.pb.h"
#include "services/master/router.h"

namespace paxoskv::master {

class AlarmAdmin {
 public:
  explicit AlarmAdmin(Router* router) : router_(router) {}

  // The raised alarms of `shards`, as each one's leader applied them. The first shard whose
  // leader does not answer fails the call (the Router's error).
  absl::StatusOr<paxoskv::v1::AlarmListResponse> List(const std::vector<uint32_t>& shards,
                                                      absl::Time deadline);
  // Clears every alarm of `shards` through their logs; returns what was raised before. A
  // member still out of space has its alarm raised again by its leader within a second or so.
  absl::StatusOr<paxoskv::v1::AlarmDisarmResponse> Disarm(const std::vector<uint32_t>& shards,
                                                          absl::Time deadline);

 private:
  Router* const router_;
};

}  // namespace paxoskv::master
