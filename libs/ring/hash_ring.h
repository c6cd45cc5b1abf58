// Consistent hashing with virtual nodes: maps a key to the shard that owns it.
// The position of a key is KeyHash(key) = XXH64(key, seed 0); the position of virtual node v
// of shard s is XXH64("shard-<s>-vnode-<v>", seed 0). A key belongs to the first virtual node
// at or after its position, wrapping past 2^64-1 to 0 (see stable_hash.h, golden vectors in
// tests/ring). Immutable after construction; safe to share across threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::ring {

constexpr uint32_t kDefaultVirtualNodes = 128;

uint64_t StableHash(std::string_view bytes);          // XXH64(bytes, seed 0)
uint64_t VirtualNodePosition(uint32_t shard_id, uint32_t vnode);

// A range of key hashes that changes owner when a shard is added or removed.
struct MovingRange {
  paxoskv::v1::HashRange range;   // half-open [begin, end), may wrap
  uint32_t from_shard = 0;
  uint32_t to_shard = 0;
};

class HashRing {
 public:
  // kInvalidArgument on an empty or duplicated shard list, shard id 0, or vnodes == 0.
  static absl::StatusOr<HashRing> Create(uint64_t epoch, std::vector<uint32_t> shard_ids,
                                         uint32_t virtual_nodes = kDefaultVirtualNodes);

  uint64_t epoch() const { return epoch_; }
  uint32_t virtual_nodes() const { return virtual_nodes_; }
  const std::vector<uint32_t>& shards() const { return shard_ids_; }  // sorted

  uint32_t OwnerOfHash(uint64_t hash) const;
  uint32_t OwnerOf(std::string_view key) const;

  // The ring with `shard_id` added and epoch + 1. kAlreadyExists if present.
  absl::StatusOr<HashRing> WithShard(uint32_t shard_id) const;
  // The ring without `shard_id` and epoch + 1: its keys go to the owners of the next virtual
  // nodes, every other key stays. kNotFound if absent; kFailedPrecondition for the last shard.
  absl::StatusOr<HashRing> WithoutShard(uint32_t shard_id) const;

  // The hash ranges whose owner differs between *this and `next`, coalesced, each with its
  // old and new owner. Every hash h lies in some returned range iff
  // OwnerOfHash(h) != next.OwnerOfHash(h).
  std::vector<MovingRange> Diff(const HashRing& next) const;

  // True if `hash` lies in the half-open, possibly wrapping range.
  static bool RangeContains(const paxoskv::v1::HashRange& range, uint64_t hash);
  // The hashes of `from` outside `cut`, as a few ranges (none when `cut` covers it all).
  static std::vector<paxoskv::v1::HashRange> RangeMinus(const paxoskv::v1::HashRange& from,
                                                        const paxoskv::v1::HashRange& cut);

 private:
  HashRing() = default;
  uint64_t epoch_ = 0;
  uint32_t virtual_nodes_ = kDefaultVirtualNodes;
  std::vector<uint32_t> shard_ids_;
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (position, shard) sorted
};

}  // namespace paxoskv::ring
