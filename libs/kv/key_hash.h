// KeyHash: the position of a key on the ring, XXH64(key bytes, seed 0). It must equal
// ring::StableHash (libs/ring) so that a scan of a moving HashRange finds exactly the keys
// the ring moves; tests pin both to the same golden vectors. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace paxoskv::kv {

uint64_t KeyHash(std::string_view key);

}  // namespace paxoskv::kv
