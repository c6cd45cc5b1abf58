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
};

}  // namespace paxoskv::replica
