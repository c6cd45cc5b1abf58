// Builders shared by the storage tests. Header-only; no state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/common/status_macros.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::storage::testing_util {

inline paxoskv::v1::Ballot MakeBallot(uint64_t round, uint32_t node) {
  paxoskv::v1::Ballot ballot;
  ballot.set_round(round);
  ballot.set_node_id(node);
  return ballot;
}

// An entry whose single command puts `key` (so values are distinguishable).
inline paxoskv::v1::Entry MakeEntry(SlotId slot, const paxoskv::v1::Ballot& ballot,
                                    const std::string& key, size_t value_bytes = 8) {
  paxoskv::v1::Entry entry;
  entry.set_slot(slot);
  *entry.mutable_ballot() = ballot;
  auto* command = entry.mutable_value()->add_commands();
  command->set_op(paxoskv::v1::OP_PUT);
  command->set_key(key);
  // Hardly compressible but deterministic ASCII (proto3 strings must be UTF-8), so
  // disk-usage tests measure real data.
  std::string value(value_bytes, '\0');
  uint64_t state = slot * 0x9e3779b97f4a7c15ULL + 1;
  for (char& c : value) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>('a' + (state >> 58) % 26);  // letters: valid UTF-8
  }
  command->set_value(std::move(value));
  return entry;
}

// A WriteBatch without designated initializers (GCC warns about the omitted fields).
inline WriteBatch Batch(std::optional<paxoskv::v1::Ballot> promised,
                        std::vector<paxoskv::v1::Entry> accepted = {},
                        std::optional<SlotId> chosen_through = std::nullopt, bool sync = true) {
  WriteBatch batch;
  batch.promised = std::move(promised);
  batch.accepted = std::move(accepted);
  batch.chosen_through = chosen_through;
  batch.sync = sync;
  return batch;
}

inline std::string EntryKey(const paxoskv::v1::Entry& entry) {
  return entry.value().commands(0).key();
}

// Writes and commits a snapshot of `chunks` covering slots <= last_slot.
inline absl::Status SaveSnapshot(AcceptorStore& store, SlotId last_slot,
                                 const std::vector<std::string>& chunks) {
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer, store.NewSnapshot(last_slot));
  for (const std::string& chunk : chunks) RETURN_IF_ERROR(writer->Append(chunk));
  return writer->Commit();
}

// The current snapshot, read back whole.
struct SnapshotContents {
  SnapshotMeta meta;
  std::vector<std::string> chunks;
};
inline absl::StatusOr<SnapshotContents> ReadSnapshot(AcceptorStore& store) {
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, store.OpenSnapshot());
  SnapshotContents contents;
  contents.meta = reader->meta();
  ASSIGN_OR_RETURN(contents.chunks, ReadAllChunks(*reader));
  return contents;
}

}  // namespace paxoskv::storage::testing_util
