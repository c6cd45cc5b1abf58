// What a replica's Paxos node must find again after a restart: the acceptor's promise and
// accepted entries, the chosen watermark and the snapshot slot. Written by the storage layer
// (libs/storage AcceptorStore::Load), read by paxos::Node::Restore. A plain value type, so
// libs/storage needs this header only, not the Paxos core.
#pragma once

#include <vector>

#include "libs/common/ids.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos {

struct DurableState {
  paxoskv::v1::Ballot promised;
  std::vector<paxoskv::v1::Entry> entries;  // accepted (or learned-chosen) entries, by slot
  SlotId chosen_through = 0;    // entries <= this are known chosen (may lag; never leads)
  SlotId snapshot_slot = 0;     // the state machine snapshot covers slots <= this
  // The membership the snapshot records (the latest chosen at or below snapshot_slot); no
  // members: none was, and the founding one (NodeConfig::members) holds.
  paxoskv::v1::Membership membership;
};

}  // namespace paxoskv::paxos
