// Where a replica core's outgoing Paxos messages go: the gRPC transport in production
// (services/replica/transport.h), the simulated network in tests/sim, a recording double in
// unit tests. Implementations are thread-safe and never block on the network.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "libs/storage/snapshot.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::replica {

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Best effort: may drop.
  virtual void Send(paxoskv::v1::PaxosMessage message) = 0;
  // Sends the snapshot `reader` reads to header.to(): one InstallSnapshot message per chunk,
  // in order, each the header (ballot, last_slot, snapshot meta) with chunk_index, data and
  // last_chunk set (MakeSnapshotChunk, snapshot_transfer.h), the next one after the previous
  // was delivered. Best effort: may stop at any chunk (the core asks again later).
  virtual void SendSnapshot(paxoskv::v1::PaxosMessage header,
                            std::unique_ptr<storage::SnapshotReader> reader) = 0;
  // Whether a snapshot to `to` is still on its way. The core then skips sending another copy
  // (it asks again later): a large snapshot may take longer to ship and install than the
  // core's resend interval.
  virtual bool SnapshotInFlight(uint32_t /*to*/) const { return false; }
  // Every other member's address, as the membership in effect says (the core calls it when
  // it opens and whenever the membership changes, before it sends to a new member). Members
  // it no longer names may be forgotten.
  virtual void SetPeerAddresses(const std::map<uint32_t, std::string>& /*others*/) {}
};

}  // namespace paxoskv::replica
