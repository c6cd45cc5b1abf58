// kv_snapshot_fuzz: KvStateMachine::AddSnapshotChunk (libs/kv) fed arbitrary bytes, cut into
// chunks by the input itself (a length byte before each chunk; see FuzzInput::Bytes), as a
// replica receiving a snapshot from a peer would be. Properties:
//   - no crash and no sanitizer report, whatever the bytes;
//   - when every chunk is accepted, the state survives a round trip: WriteSnapshot (at a
//     chunk size the input picks), added chunk by chunk to a fresh machine, is accepted and
//     gives the same Digest() and key count; written again, it gives the very same chunks
//     (snapshots are deterministic), and its concatenation as one chunk gives the same state.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "libs/kv/kv_state_machine.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_targets.h"

namespace paxoskv::fuzz {
namespace {

std::vector<std::string> Write(const kv::KvStateMachine& machine, size_t chunk_bytes) {
  std::vector<std::string> chunks;
  const absl::Status status = machine.WriteSnapshot(chunk_bytes, [&](std::string_view chunk) {
    chunks.emplace_back(chunk);
    return absl::OkStatus();
  });
  FUZZ_CHECK(status.ok(), "WriteSnapshot: %s", status.ToString().c_str());
  return chunks;
}

void Restore(kv::KvStateMachine& machine, const std::vector<std::string>& chunks) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    const absl::Status status = machine.AddSnapshotChunk(chunks[i]);
    FUZZ_CHECK(status.ok(), "chunk %zu of our own snapshot refused: %s", i,
               status.ToString().c_str());
  }
}

}  // namespace

int FuzzKvSnapshot(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const size_t chunk_bytes = 1 + in.Byte() * 4;
  kv::KvStateMachine received;
  while (!in.empty()) {
    if (!received.AddSnapshotChunk(in.Bytes(1 << 16)).ok()) return 0;  // refused: discarded
  }
  const std::vector<std::string> chunks = Write(received, chunk_bytes);
  kv::KvStateMachine restored;
  Restore(restored, chunks);
  FUZZ_CHECK(restored.Digest() == received.Digest(), "digest changed by a round trip");
  FUZZ_CHECK(restored.key_count() == received.key_count(), "key count %zu became %zu",
             received.key_count(), restored.key_count());
  FUZZ_CHECK(Write(restored, chunk_bytes) == chunks, "the same state wrote other chunks");
  std::string whole;
  for (const std::string& chunk : chunks) whole += chunk;
  kv::KvStateMachine in_one;
  Restore(in_one, {whole});
  FUZZ_CHECK(in_one.Digest() == received.Digest(), "digest depends on the chunking");
  return 0;
}

}  // namespace paxoskv::fuzz
