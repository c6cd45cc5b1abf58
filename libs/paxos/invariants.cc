// See invariants.h.
#include "libs/paxos/invariants.h"

#include "absl/strings/str_cat.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/node_impl.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

absl::Status Invariants::Check(const Node& node) { return CheckImpl(*node.impl_); }

absl::Status Invariants::CheckImpl(const Node::Impl& n) {
  auto fail = [&](const std::string& what) {
    return absl::InternalError(absl::StrCat("node ", n.self, ": ", what));
  };
  if (initialised_ && Compare(n.promised, promised_) < 0) {
    return fail(absl::StrCat("promised decreased from ", promised_.round(), ".",
                             promised_.node_id(), " to ", n.promised.round(), ".",
                             n.promised.node_id()));
  }
  if (initialised_ && n.chosen_through < chosen_through_) {
    return fail(absl::StrCat("chosen_through decreased from ", chosen_through_, " to ",
                             n.chosen_through));
  }
  if (n.applied_through > n.chosen_through) {
    return fail(absl::StrCat("applied ", n.applied_through, " > chosen ", n.chosen_through));
  }
  if (n.compacted_through > n.applied_through) {
    return fail(absl::StrCat("compacted ", n.compacted_through, " > applied ",
                             n.applied_through));
  }
  if (n.role != Role::kFollower && !SameBallot(n.promised, n.my_ballot)) {
    return fail("candidate or leader without its own ballot promised");
  }
  for (const auto& [slot, ls] : n.log_slots) {
    if (slot != ls.entry.slot()) return fail(absl::StrCat("slot key ", slot, " mismatch"));
    if (slot <= n.compacted_through) return fail(absl::StrCat("slot ", slot, " compacted"));
    if (Compare(ls.entry.ballot(), n.promised) > 0) {
      return fail(absl::StrCat("entry at slot ", slot, " has ballot above promised"));
    }
    if (slot <= n.chosen_through && !ls.chosen) {
      return fail(absl::StrCat("slot ", slot, " <= chosen_through but not chosen"));
    }
    if (ls.chosen && !chosen_values_.contains(slot)) {
      chosen_values_.emplace(slot, n.FullEntry(ls).value().SerializeAsString());
    }
  }
  // Slots seen chosen before, again: round-robin, at least one, about kRecheckBytesPerCheck.
  auto next = chosen_values_.upper_bound(recheck_after_);
  size_t bytes = 0;
  for (size_t i = 0; i < chosen_values_.size() && bytes < kRecheckBytesPerCheck; ++i) {
    if (next == chosen_values_.end()) next = chosen_values_.begin();
    bytes += next->second.size() + 1;
    const auto& [slot, value] = *next;
    auto ls = n.log_slots.find(slot);
    if (ls != n.log_slots.end() && ls->second.chosen &&
        n.FullEntry(ls->second).value().SerializeAsString() != value) {
      return fail(absl::StrCat("chosen value of slot ", slot, " changed"));
    }
    recheck_after_ = slot;
    ++next;
  }
  for (SlotId s = n.compacted_through + 1; s <= n.chosen_through; ++s) {
    if (!n.log_slots.contains(s)) return fail(absl::StrCat("chosen slot ", s, " missing"));
  }
  chosen_values_.erase(chosen_values_.begin(), chosen_values_.upper_bound(n.compacted_through));
  initialised_ = true;
  promised_ = n.promised;
  chosen_through_ = n.chosen_through;
  return absl::OkStatus();
}

}  // namespace paxoskv::paxos
