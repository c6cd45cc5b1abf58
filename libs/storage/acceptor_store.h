// Durable state of one replica: its identity, the acceptor state (promised ballot, accepted
// entries), the chosen watermark and the latest state-machine snapshot (chunked: snapshot.h).
// Implementations: RocksDbStore (real, fsync), MemoryStore (tests), FaultyStore (tests: drops
// what was not synced on a simulated crash, injects I/O errors and power cuts).
// Thread-safety: implementations are thread-safe for one writer of acceptor state (the
// replica core's persist step), snapshot writers on other threads (a background snapshot,
// a snapshot being received) and concurrent readers (snapshot sends).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/ids.h"
#include "libs/paxos/durable_state.h"
#include "libs/storage/snapshot.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::storage {

// Who a data directory belongs to. Written on first start; a mismatch refuses to start.
struct Identity {
  uint32_t shard_id = 0;
  uint32_t replica_id = 0;
  // Made once, when the directory is created (the caller draws it at random; never 0), and
  // kept for the directory's life. A replica restarted on an empty directory under the same
  // id gets a new one: it is not the member that made the promises and acceptances the old
  // directory held, and membership (libs/paxos README) tells the two apart by it.
  uint64_t incarnation = 0;
};

// One atomic write. `sync` = fsync before returning (required whenever promised/accepted
// are set: the caller replies to peers right after).
struct WriteBatch {
  std::optional<paxoskv::v1::Ballot> promised;
  std::vector<paxoskv::v1::Entry> accepted;  // upsert by slot
  std::optional<SlotId> chosen_through;
  bool sync = true;
};

class AcceptorStore {
 public:
  virtual ~AcceptorStore() = default;

  // First start: records `wanted` (synced) and returns it; kInvalidArgument if its
  // incarnation is 0. Later starts: returns the stored identity, whose incarnation is the
  // directory's own (wanted.incarnation is ignored); kFailedPrecondition if the directory
  // belongs to another shard or replica id (the message names both). A directory written
  // before incarnations existed gets wanted.incarnation, once.
  virtual absl::StatusOr<Identity> CheckIdentity(const Identity& wanted) = 0;

  // Everything a restarted Node needs (entries with slot > snapshot slot, in slot order).
  virtual absl::StatusOr<paxos::DurableState> Load() = 0;

  // Applies the batch atomically; when batch.sync, it is on disk (fsync) on return.
  // An I/O error is returned; callers treat it as fatal (PAXOSKV_CHECK_OK).
  virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Starts a snapshot covering slots <= last_slot (see SnapshotWriter). Several writers may
  // exist at once (a background snapshot, one being received); commits are serialised and
  // the newest snapshot wins. kInternal on an I/O error.
  virtual absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshot(SlotId last_slot) = 0;

  // Opens the current snapshot for reading (meta().last_slot 0 and no chunks when none). A
  // reader keeps its snapshot readable even if a newer one is committed meanwhile.
  virtual absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot() = 0;

  // Bytes on disk (or in memory), for status and tests of bounded growth.
  virtual uint64_t ApproximateSizeBytes() = 0;
};

// Opens (creating if needed) a RocksDB store in `directory`; every synced write is fsynced.
absl::StatusOr<std::unique_ptr<AcceptorStore>> OpenRocksDbStore(const std::string& directory);

}  // namespace paxoskv::storage
