// See backup.h.
#include "services/master/backup.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/random_id.h"
#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::master {
namespace {

namespace pb = paxoskv::v1;

// The whole ring of hashes (begin == end).
pb::HashRange WholeRing() { return pb::HashRange(); }

class ShardBackup {
 public:
  ShardBackup(Router* router, uint32_t shard_id, const ShardBackupOptions& options,
              const BackupEmit& emit)
      : router_(router), shard_id_(shard_id), options_(options), emit_(emit) {}

  ~ShardBackup() {
    // Best effort: a tracking left behind only costs the shard a record per changed key until
    // the next backup or migration of the same id, which never comes: stop it now.
    for (uint64_t id : tracking_) (void)Track(id, /*stop=*/true);
  }

  using SlotId = uint64_t;

  absl::StatusOr<pb::BackupShardEnd> Run() {
    uint64_t current = RandomId();
    RETURN_IF_ERROR(Track(current, /*stop=*/false));
    // Pass 0: every key, page by page, each page as of its own slot.
    RETURN_IF_ERROR(ReadPages(/*changed_of=*/0, options_.page_size).status());
    for (int pass = 1; pass <= options_.passes_max; ++pass) {
      // What changes from now on is recorded before what changed so far is read.
      const uint64_t next = RandomId();
      RETURN_IF_ERROR(Track(next, /*stop=*/false));
      ASSIGN_OR_RETURN(const std::optional<SlotId> one_read,
                       ReadPages(current, options_.changed_page_size));
      RETURN_IF_ERROR(Track(current, /*stop=*/true));
      current = next;
      if (one_read.has_value()) {
        pb::BackupShardEnd end;
        end.set_shard_id(shard_id_);
        end.set_slot(*one_read);
        end.set_rounds(static_cast<uint32_t>(pass));
        return end;
      }
    }
    return absl::AbortedError(
        absl::StrCat("shard ", shard_id_, " changed faster than ", options_.passes_max,
                     " passes could follow; back it up when it is less busy"));
  }

 private:
  absl::StatusOr<pb::CommandResult> Call(const pb::Command& command) {
    ASSIGN_OR_RETURN(pb::CommandResult result,
                     router_->Execute(shard_id_, command, absl::Now() + options_.op_deadline,
                                      options_.attempt_timeout, ReplicaService::kMigration));
    if (absl::Status refused = ResultStatus(result); !refused.ok()) {
      return absl::Status(refused.code(),
                          absl::StrCat("shard ", shard_id_, " refused ", pb::Op_Name(command.op()),
                                       ": ", refused.message()));
    }
    return result;
  }

  // Starts or stops tracking `id` over the whole ring (idempotent: retries are safe).
  absl::Status Track(uint64_t id, bool stop) {
    pb::Command track;
    track.set_op(pb::OP_TRACK_CHANGES);
    track.set_freeze_id(id);
    *track.add_freeze_ranges() = WholeRing();
    track.set_track_stop(stop);
    RETURN_IF_ERROR(Call(track).status());
    if (stop) {
      std::erase(tracking_, id);
    } else {
      tracking_.push_back(id);
    }
    return absl::OkStatus();
  }

  // Emits every key (changed_of 0) or every key tracking `changed_of` recorded, page by page.
  // Returns the slot of the read when the first page held them all, else nullopt.
  absl::StatusOr<std::optional<SlotId>> ReadPages(uint64_t changed_of, uint32_t page_size) {
    pb::Command scan;
    scan.set_op(pb::OP_SCAN_RANGE);
    *scan.mutable_range() = WholeRing();
    scan.set_scan_started(true);  // from (0, ""), without the dedup table
    scan.set_scan_limit(page_size);
    if (changed_of != 0) {
      scan.set_scan_changed(true);
      scan.set_freeze_id(changed_of);
    }
    for (bool first = true;; first = false) {
      ASSIGN_OR_RETURN(pb::CommandResult page, Call(scan));
      const bool last = page.scan_done();
      // The cursor: the last key of the page in (hash, key) order, present or absent.
      std::string last_key;
      uint64_t last_hash = 0;
      auto advance = [&](const std::string& key) {
        const uint64_t hash = ring::StableHash(key);
        if (last_key.empty() || hash > last_hash || (hash == last_hash && key > last_key)) {
          last_hash = hash;
          last_key = key;
        }
      };
      pb::BackupChunk chunk;
      pb::BackupRecords* records = chunk.mutable_records();
      for (pb::KeyValue& entry : *page.mutable_entries()) {
        advance(entry.key());
        *records->add_puts() = std::move(entry);
      }
      for (std::string& key : *page.mutable_absent_keys()) {
        advance(key);
        records->add_deletes(std::move(key));
      }
      if ((records->puts_size() > 0 || records->deletes_size() > 0) && !emit_(chunk)) {
        return absl::CancelledError("the caller went away");
      }
      if (last) {
        if (first) return std::optional<SlotId>(page.applied_slot());
        return std::optional<SlotId>();
      }
      if (last_key.empty()) {
        return absl::InternalError(
            absl::StrCat("shard ", shard_id_, " returned an empty page that is not the last"));
      }
      scan.set_scan_after_hash(last_hash);
      scan.set_scan_after_key(last_key);
    }
  }

  Router* const router_;
  const uint32_t shard_id_;
  const ShardBackupOptions& options_;
  const BackupEmit& emit_;
  std::vector<uint64_t> tracking_;  // started and not yet stopped
};

}  // namespace

absl::StatusOr<pb::BackupShardEnd> BackupShard(Router* router, uint32_t shard_id,
                                               const ShardBackupOptions& options,
                                               const BackupEmit& emit) {
  return ShardBackup(router, shard_id, options, emit).Run();
}

}  // namespace paxoskv::master
