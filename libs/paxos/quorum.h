// Quorum arithmetic for a group of N acceptors (simple majorities, as etcd's quorum/majority).
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace paxoskv::paxos {

// Smallest number of acceptors that forms a majority of `members`.
inline size_t MajoritySize(size_t members) { return members / 2 + 1; }

// The largest value v such that a majority of `values` are >= v (one value per member).
// With values sorted descending, it is the majority-th one. REQUIRES: !values.empty().
inline uint64_t QuorumValue(std::vector<uint64_t> values) {
  std::sort(values.begin(), values.end(), std::greater<uint64_t>());
  return values[MajoritySize(values.size()) - 1];
}

}  // namespace paxoskv::paxos
