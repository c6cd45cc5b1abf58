// Ballot helpers: the total order (round, node_id) and small constructors.
// Pure functions on value types; thread-safe.
#pragma once

#include <cstdint>

#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos {

// <0, 0 or >0 as a is below, equal to or above b in (round, node_id) order.
inline int Compare(const paxoskv::v1::Ballot& a, const paxoskv::v1::Ballot& b) {
  if (a.round() != b.round()) return a.round() < b.round() ? -1 : 1;
  if (a.node_id() != b.node_id()) return a.node_id() < b.node_id() ? -1 : 1;
  return 0;
}

inline bool IsZero(const paxoskv::v1::Ballot& b) { return b.round() == 0 && b.node_id() == 0; }

inline bool SameBallot(const paxoskv::v1::Ballot& a, const paxoskv::v1::Ballot& b) {
  return Compare(a, b) == 0;
}

inline paxoskv::v1::Ballot MakeBallot(uint64_t round, uint32_t node_id) {
  paxoskv::v1::Ballot b;
  b.set_round(round);
  b.set_node_id(node_id);
  return b;
}

}  // namespace paxoskv::paxos
