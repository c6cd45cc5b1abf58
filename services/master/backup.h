// Backup of one shard as of one point of its log (Admin.Backup, kvctl snapshot save), without
// pausing it: the shard records which keys change (OP_TRACK_CHANGES over the whole ring), its
// keys are paged out (OP_SCAN_RANGE), then what changed meanwhile is read again, as puts and
// deletes that follow. When one read (one log slot) returns every changed key, the records,
// applied in order, are the shard's state at that slot. While the changes do not fit one page,
// another pass follows, its tracking started before the previous one's changes are read, so
// nothing that changes in between is missed (the same argument as the migration's pre-copy,
// migration.h). Trackings are stopped on every exit.
// Not thread-safe: one Admin.Backup call runs one at a time, on its gRPC handler thread.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paxoskv/v1/admin.pb.h"
#include "services/master/router.h"

namespace paxoskv::master {

struct ShardBackupOptions {
  uint32_t page_size = 1000;           // keys per page of the first pass
  uint32_t changed_page_size = 10000;  // keys per page of changes (the replicas' maximum)
  int passes_max = 8;                  // passes over changes before giving up (kAborted)
  absl::Duration op_deadline = absl::Seconds(30);
  absl::Duration attempt_timeout = absl::Seconds(5);
};

// Sends one chunk to the caller; false when the caller has gone (the backup stops).
using BackupEmit = std::function<bool(const paxoskv::v1::BackupChunk&)>;

// Emits shard `shard_id`'s records (BackupRecords chunks) and returns its end (the slot its
// copy is as of). kAborted when its changes never fit one read in passes_max passes, or the
// caller went away (kCancelled); the Router's errors when the shard has no leader.
absl::StatusOr<paxoskv::v1::BackupShardEnd> BackupShard(Router* router, uint32_t shard_id,
                                                        const ShardBackupOptions& options,
                                                        const BackupEmit& emit);

}  // namespace paxoskv::master
