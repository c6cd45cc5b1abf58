// Strong id types, so a slot is never passed where a node id is expected.
#pragma once

#include <cstdint>

namespace paxoskv {

using SlotId = uint64_t;                    // log position; 0 = "none", first slot is 1
enum class NodeId : uint32_t {};            // replica id within a group, 1..N
enum class ShardId : uint32_t {};           // shard (replica group) id, >= 1

constexpr uint32_t ToInt(NodeId id) { return static_cast<uint32_t>(id); }
constexpr uint32_t ToInt(ShardId id) { return static_cast<uint32_t>(id); }

}  // namespace paxoskv
