// See write_lanes.h.
#include "services/master/write_lanes.h"

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/random_id.h"

namespace paxoskv::master {

absl::Status WriteLanes::Stamp(paxoskv::v1::Command* command) {
  Lane lane{};
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      lane = free_.back();
      free_.pop_back();
    } else if (opened_ < lanes_max_) {
      ++opened_;
      lane = Lane{.client_id = RandomId(), .next_seq = 1};
    } else {
      return absl::ResourceExhaustedError(absl::StrCat(
          "all ", lanes_max_, " write lanes carry a request; retry later (--write_lanes_max)"));
    }
  }
  command->set_client_id(lane.client_id);
  command->set_seq(lane.next_seq);
  command->set_ack_below(lane.next_seq);   // The lane's earlier requests have all finished.
  return absl::OkStatus();
}

void WriteLanes::Release(const paxoskv::v1::Command& command) {
  PAXOSKV_CHECK(command.client_id() != 0 && command.seq() != 0) << "released an unstamped write";
  absl::MutexLock lock(&mu_);
  PAXOSKV_CHECK(free_.size() < opened_) << "released more lanes than were taken";
  free_.push_back(Lane{.client_id = command.client_id(), .next_seq = command.seq() + 1});
}

size_t WriteLanes::lanes() const {
  absl::MutexLock lock(&mu_);
  return opened_;
}

}  // namespace paxoskv::master
