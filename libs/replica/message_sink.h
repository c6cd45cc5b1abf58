// Where a replica's outgoing Paxos messages go: the gRPC transport in production, a
// recording or in-process double in tests. Implementations are thread-safe.
#pragma once

#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::replica {

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Best effort: may drop; must not block on the network.
  virtual void Send(paxoskv::v1::PaxosMessage message) = 0;
  // Whether an InstallSnapshot to `to` is still on its way. The loop then skips loading and
  // sending another copy (the core asks again later): a large snapshot may take longer to
  // ship and install than the core's resend interval.
  virtual bool SnapshotInFlight(uint32_t /*to*/) const { return false; }
};

}  // namespace paxoskv::replica
