// A state-machine snapshot as it rests on disk and travels between replicas: a sequence of
// chunks, each a self-contained serialized paxoskv.v1.KvSnapshot of a bounded size, so no
// buffer, file read or message ever has to hold the whole state (a protobuf message stops
// at 2 GiB; a state does not).
//
// SnapshotMeta names one snapshot: the slot it covers, its size and a digest over its
// chunks. The digest is what a receiver checks before it installs a snapshot it was sent,
// and what a store checks when it reads one back.
// SnapshotWriter / SnapshotReader are implemented by each AcceptorStore (acceptor_store.h).
// Thread-safety: a writer or reader is used by one thread at a time; SnapshotDigest is a
// plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/ids.h"

namespace paxoskv::storage {

struct SnapshotMeta {
  SlotId last_slot = 0;   // 0: no snapshot
  uint64_t bytes = 0;     // sum of chunk sizes
  uint64_t chunks = 0;
  uint64_t digest = 0;    // SnapshotDigest over every chunk, in order
};

// XXH64 over each chunk's length (8 bytes, little-endian) and bytes, in order: two snapshots
// with equal digests hold the same chunks, not merely the same concatenation.
class SnapshotDigest {
 public:
  SnapshotDigest();
  void Add(std::string_view chunk);
  uint64_t value() const;

 private:
  uint64_t state_[11];   // an XXH64_state_t, kept opaque here (static_assert in the .cc)
};

// Writes one snapshot. Nothing is visible until Commit; destroying an uncommitted writer
// discards what it wrote.
class SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;
  virtual SlotId last_slot() const = 0;
  // Appends one chunk (not yet durable). kInternal on an I/O error.
  virtual absl::Status Append(std::string_view chunk) = 0;
  // Makes the snapshot durable and current in one step: the store then reports
  // snapshot_slot = last_slot, forgets every log entry <= last_slot and raises chosen_through
  // to at least last_slot. A snapshot older than the current one is discarded (OK, nothing
  // changes). kInternal on an I/O error (the caller treats it as fatal). Call at most once.
  virtual absl::Status Commit() = 0;
  // What has been appended so far.
  virtual SnapshotMeta meta() const = 0;
};

// Reads one snapshot back, chunk by chunk.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  virtual const SnapshotMeta& meta() const = 0;
  // The next chunk into *chunk; false once every chunk was read. kDataLoss when the data
  // does not match its meta (a short, long or corrupt file), kInternal on an I/O error.
  virtual absl::StatusOr<bool> Next(std::string* chunk) = 0;
};

// Reads every chunk of `reader` (tests and small tools; a replica streams instead).
absl::StatusOr<std::vector<std::string>> ReadAllChunks(SnapshotReader& reader);

}  // namespace paxoskv::storage
