// Invariants: a checker for one Node's safety invariants, run after every Step/Tick by tests
// (tests/sim checks every node after every event) and by debug builds inside Node itself.
//   - the promised ballot never decreases;
//   - every stored entry's ballot is <= the promised ballot;
//   - a slot this node knows chosen never changes value: checked when the slot is first seen
//     chosen, then again round-robin, about kRecheckBytesPerCheck of values per check (a log
//     of migration imports holds megabytes, and serialising all of it at every step made an
//     idle test-build replica spend half a core);
//   - chosen_through never decreases, every slot <= it is known chosen (or compacted);
//   - applied_through <= chosen_through, compacted_through <= applied_through.
// Stateful (remembers what it saw last time). Not thread-safe: one checker per Node.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "libs/common/ids.h"
#include "libs/paxos/node.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos {

class Invariants {
 public:
  // Returns kInternal naming the first broken invariant, OK otherwise.
  absl::Status Check(const Node& node);
  absl::Status CheckImpl(const Node::Impl& impl);

 private:
  bool initialised_ = false;
  paxoskv::v1::Ballot promised_;
  SlotId chosen_through_ = 0;
  static constexpr size_t kRecheckBytesPerCheck = 16 * 1024;

  std::map<SlotId, std::string> chosen_values_;  // serialized Value of known-chosen slots
  SlotId recheck_after_ = 0;                     // the round-robin re-check's cursor
};

}  // namespace paxoskv::paxos
