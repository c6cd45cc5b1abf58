// See stable_hash.h.
#include "libs/ring/stable_hash.h"

#include <string>

#include <xxhash.h>

#include "absl/strings/str_cat.h"

namespace paxoskv::ring {

uint64_t StableHash(std::string_view bytes) {
  return static_cast<uint64_t>(XXH64(bytes.data(), bytes.size(), /*seed=*/0));
}

uint64_t VirtualNodePosition(uint32_t shard_id, uint32_t vnode) {
  const std::string name = absl::StrCat("shard-", shard_id, "-vnode-", vnode);
  return StableHash(name);
}

}  // namespace paxoskv::ring
