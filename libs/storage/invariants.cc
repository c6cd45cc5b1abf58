// Invariant checks shared by the AcceptorStore implementations.
#include "libs/storage/invariants.h"

#include <algorithm>

#include "libs/common/check.h"
#include "libs/paxos/ballot.h"   // header-only: the one ballot order

namespace paxoskv::storage {

void CheckBatchOrDie(const paxoskv::v1::Ballot& promised, SlotId chosen_through,
                     const WriteBatch& batch) {
  const paxoskv::v1::Ballot& effective = batch.promised ? *batch.promised : promised;
  if (batch.promised) {
    PAXOSKV_CHECK(paxos::Compare(*batch.promised, promised) >= 0)
        << "promised ballot would decrease from " << promised.ShortDebugString() << " to "
        << batch.promised->ShortDebugString();
  }
  const SlotId chosen = std::max(chosen_through, batch.chosen_through.value_or(0));
  for (const auto& entry : batch.accepted) {
    PAXOSKV_CHECK(entry.slot() != 0) << "entry with slot 0";
    if (entry.slot() > chosen) {
      PAXOSKV_CHECK(paxos::Compare(entry.ballot(), effective) <= 0)
          << "accepted entry slot=" << entry.slot()
          << " ballot=" << entry.ballot().ShortDebugString()
          << " above promised=" << effective.ShortDebugString();
    }
  }
}

void CheckDurableStateOrDie(const paxos::DurableState& state) {
  SlotId previous = state.snapshot_slot;
  for (const auto& entry : state.entries) {
    PAXOSKV_CHECK(entry.slot() > previous)
        << "entries out of order: slot=" << entry.slot() << " after " << previous;
    previous = entry.slot();
    if (entry.slot() > state.chosen_through) {
      PAXOSKV_CHECK(paxos::Compare(entry.ballot(), state.promised) <= 0)
          << "loaded entry slot=" << entry.slot()
          << " ballot=" << entry.ballot().ShortDebugString()
          << " above promised=" << state.promised.ShortDebugString();
    }
  }
  PAXOSKV_CHECK(state.chosen_through >= state.snapshot_slot)
      << "chosen_through=" << state.chosen_through << " below snapshot=" << state.snapshot_slot;
}

}  // namespace paxoskv::storage
