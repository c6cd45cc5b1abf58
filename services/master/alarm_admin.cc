// See alarm_admin.h.
#include "services/master/alarm_admin.h"

#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"

namespace paxoskv::master {

namespace pb = paxoskv::v1;

absl::StatusOr<pb::AlarmListResponse> AlarmAdmin::List(const std::vector<uint32_t>& shards,
                                                       absl::Time deadline) {
  pb::AlarmListResponse response;
  for (uint32_t shard_id : shards) {
    ASSIGN_OR_RETURN(pb::ReplicaStatus leader, router_->LeaderStatus(shard_id, deadline));
    for (const pb::Alarm& alarm : leader.alarms()) {
      pb::ShardAlarm* out = response.add_alarms();
      out->set_shard_id(shard_id);
      *out->mutable_alarm() = alarm;
    }
  }
  return response;
}

absl::StatusOr<pb::AlarmDisarmResponse> AlarmAdmin::Disarm(const std::vector<uint32_t>& shards,
                                                           absl::Time deadline) {
  ASSIGN_OR_RETURN(pb::AlarmListResponse raised, List(shards, deadline));
  pb::Command clear;
  clear.set_op(pb::OP_ALARM);
  clear.mutable_alarm()->set_activate(false);
  clear.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NOSPACE);  // member 0: all
  for (uint32_t shard_id : shards) {
    // Clearing is idempotent, so a retry without a client id is safe.
    ASSIGN_OR_RETURN(pb::CommandResult result, router_->Execute(shard_id, clear, deadline));
    RETURN_IF_ERROR(ResultStatus(result));
  }
  pb::AlarmDisarmResponse response;
  *response.mutable_disarmed() = std::move(*raised.mutable_alarms());
  return response;
}

}  // namespace paxoskv::master
