// StableHash: the one 64-bit hash every part of paxoskv uses to place keys on the ring.
// It is XXH64 (libxxhash, xxHash 0.8) with seed 0 over the raw bytes, a fixed and documented
// function, so the master, the replicas, the client tools and the tests compute the same
// position for a key on every machine and in every build. Never use std::hash or absl::Hash
// here: their values may differ between processes. Golden vectors live in
// tests/ring/hash_ring_test.cc. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace paxoskv::ring {

// XXH64(bytes, seed 0). Example: StableHash("abc") == 0x44bc2cf5ad770999.
uint64_t StableHash(std::string_view bytes);

// Position of virtual node `vnode` of shard `shard_id`: StableHash("shard-<id>-vnode-<v>"),
// both numbers in decimal without padding.
uint64_t VirtualNodePosition(uint32_t shard_id, uint32_t vnode);

}  // namespace paxoskv::ring
