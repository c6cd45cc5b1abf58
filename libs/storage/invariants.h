// Invariants of durable acceptor state, checked before every save and after every load by
// all AcceptorStore implementations (a broken invariant on disk is fatal: PAXOSKV_CHECK).
// Stateless functions; thread-safe.
#pragma once

#include "libs/common/ids.h"
#include "libs/paxos/durable_state.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::storage {

// Crashes if applying `batch` on top of (promised, chosen_through) would break an invariant:
// the promised ballot never decreases, no entry has slot 0, and every accepted entry that is
// not yet known chosen (slot > chosen_through after the batch) has ballot <= promised.
// Entries at or below chosen_through are exempt: a replica may learn a chosen value at a
// ballot higher than the one it promised (catch-up through Learn).
void CheckBatchOrDie(const paxoskv::v1::Ballot& promised, SlotId chosen_through,
                     const WriteBatch& batch);

// Crashes if a loaded state breaks the same invariants, or entries are not in strictly
// increasing slot order above snapshot_slot.
void CheckDurableStateOrDie(const paxos::DurableState& state);

}  // namespace paxoskv::storage
