// KeyHash: XXH64 with seed 0 (same function as ring::StableHash).
#include "libs/kv/key_hash.h"

#include <xxhash.h>

namespace paxoskv::kv {

uint64_t KeyHash(std::string_view key) { return XXH64(key.data(), key.size(), 0); }

}  // namespace paxoskv::kv
