// See snapshot.h.
#include "libs/storage/snapshot.h"

#include <cstring>

#define XXH_STATIC_LINKING_ONLY  // the state type is complete only with this
#include <xxhash.h>

#include "libs/common/status_macros.h"

namespace paxoskv::storage {
namespace {

XXH64_state_t* State(uint64_t* words) { return reinterpret_cast<XXH64_state_t*>(words); }
const XXH64_state_t* State(const uint64_t* words) {
  return reinterpret_cast<const XXH64_state_t*>(words);
}

}  // namespace

static_assert(sizeof(XXH64_state_t) <= sizeof(uint64_t[11]), "SnapshotDigest state too small");

SnapshotDigest::SnapshotDigest() {
  std::memset(state_, 0, sizeof(state_));
  XXH64_reset(State(state_), 0);
}

void SnapshotDigest::Add(std::string_view chunk) {
  unsigned char length[8];
  uint64_t size = chunk.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(size >> (8 * i));
  XXH64_update(State(state_), length, sizeof(length));
  XXH64_update(State(state_), chunk.data(), chunk.size());
}

uint64_t SnapshotDigest::value() const { return XXH64_digest(State(state_)); }

absl::StatusOr<std::vector<std::string>> ReadAllChunks(SnapshotReader& reader) {
  std::vector<std::string> chunks;
  while (true) {
    std::string chunk;
    ASSIGN_OR_RETURN(bool more, reader.Next(&chunk));
    if (!more) return chunks;
    chunks.push_back(std::move(chunk));
  }
}

}  // namespace paxoskv::storage
