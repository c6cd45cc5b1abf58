// Migrator: the copy phase of AddShard and RemoveShard, one hash range at a time. For every
// unfinished range of a MigrationPlan, in order:
//  1. Pre-copy, while the range still serves: the old shard starts recording which keys of the
//     range change (OP_TRACK_CHANGES), then the range is paged through with OP_SCAN_RANGE
//     (through the old leader's log, so every chosen write is seen) and each page imported
//     into the new owner (OP_IMPORT). Recorded as `precopied`.
//  2. Pause and fence: requests to the range wait at the master (the other ranges keep
//     serving) and those already sent end; the old shard refuses key ops in the range from now
//     on (OP_FREEZE_RANGES).
//  3. Copy what changed: the keys the tracking recorded (OP_SCAN_RANGE with scan_changed:
//     present ones with their values, deleted ones as absent keys) go to the new owner in one
//     OP_IMPORT per page; the first page also carries the old shard's dedup table, so a retry
//     of a write made to the range is recognised at its new owner. Recorded as `copied`, and
//     from then on the master routes the range to its new owner: the pause ends. It lasts a
//     drain, a fence, a scan and an import per page of changes, and one plan write, however
//     many keys the range holds.
//  4. Clean up, out of the pause: the old shard's copies go (OP_DELETE_KEYS, page by page),
//     then its tracking; the range is `done`.
// A range an older master fenced before pre-copies existed is copied whole after its fence
// and deleted page by page, as that master did. Every step is idempotent while the range is
// fenced, so a master killed anywhere resumes from the last persisted state and ends with each
// key exactly once, in its new shard.
// Not thread-safe: one migration thread owns a Migrator and its plan.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "paxoskv/v1/master_state.pb.h"
#include "services/master/router.h"

namespace paxoskv::master {

struct MigratorOptions {
  uint32_t page_size = 256;                          // keys per scan page
  absl::Duration op_deadline = absl::Seconds(30);    // one scan/import/delete, all retries
  absl::Duration attempt_timeout = absl::Seconds(5);
  absl::Duration retry_backoff = absl::Milliseconds(200);
};

class Migrator {
 public:
  // `persist` makes the plan durable (REQUIRES: OK means on disk). `stopped` is polled between
  // steps. `pause` holds new requests to the plan's range `index` and returns once those
  // already sent to it have ended (kCancelled when stopping). `on_progress` sees the plan after
  // each persisted page (a range it shows done is moved: route it to its new owner).
  struct Hooks {
    std::function<absl::Status(const paxoskv::v1::MigrationPlan&)> persist;
    std::function<bool()> stopped;
    std::function<absl::Status(const paxoskv::v1::MigrationPlan& plan, int index)> pause;
    std::function<void(const paxoskv::v1::MigrationPlan& plan)> on_progress;
  };

  Migrator(Router* router, MigratorOptions options, Hooks hooks,
           std::shared_ptr<spdlog::logger> log)
      : router_(router), options_(options), hooks_(std::move(hooks)), log_(std::move(log)) {}

  // Runs every range of `plan` to `done`, in order, retrying failed steps (with backoff) for as
  // long as it takes: a half-moved range can only go forward. OK when every range is done;
  // kCancelled if `stopped` became true first (the plan on disk stays resumable).
  // Imports and deletes carry the plan's (client_id, seq): the client id of every run of this
  // plan, and seqs counting up from the plan's next_seq, which is raised durably before a seq
  // is used (so no run reuses a seq an earlier one may have sent). The migration has one write
  // in flight, so ack_below = seq. Before anything else a run sends every shard of the plan a
  // write that changes nothing but makes every earlier run's writes stale there (another
  // master that ran the plan before this one took it over may still be sending).
  absl::Status Run(paxoskv::v1::MigrationPlan* plan);

 private:
  // Step 1 of a range: tracking started, every key copied, `precopied` persisted.
  absl::Status Precopy(paxoskv::v1::MigrationPlan* plan, int range_index);
  // One page of step 3 (of the whole range, for a range an older master started: its keys are
  // then deleted too): scan, import, persist the cursor; `copied` after the last page.
  absl::Status CopyStep(paxoskv::v1::MigrationPlan* plan, int range_index);
  // One page of step 4: delete what is left at the old shard, or, once nothing is, end the
  // tracking and mark the range `done`.
  absl::Status CleanupStep(paxoskv::v1::MigrationPlan* plan, int range_index);
  // Runs `step` until `finished`, backing off after a failed one (only forward is safe);
  // kCancelled when stopped.
  absl::Status Repeat(paxoskv::v1::MigrationPlan* plan, int range_index,
                      absl::FunctionRef<bool()> finished, absl::FunctionRef<absl::Status()> step);
  // OP_TRACK_CHANGES for the range, named by the epoch of the ring the plan moves to.
  static paxoskv::v1::Command TrackCommand(const paxoskv::v1::MigrationPlan& plan, int range_index,
                                           bool stop);
  // The last key of a scan page in scan order, entries and absent keys together; null if the
  // page is empty.
  static const std::string* LastKey(const paxoskv::v1::CommandResult& page);
  // Runs `command` on `shard_id`; retries until OK, a non-retryable error, or stop.
  absl::StatusOr<paxoskv::v1::CommandResult> Call(uint32_t shard_id,
                                                  const paxoskv::v1::Command& command);
  // Call, and after any error but a stop (kCancelled) again, backing off, until it is done:
  // for the idempotent steps a migration cannot go on without (`what`: "fence", for the log).
  absl::Status CallUntilDone(uint32_t shard_id, const paxoskv::v1::Command& command,
                             const char* what);
  // Stamps `command` with the plan's client id and the next seq, first making a reservation
  // that covers it durable (persist). On error nothing is stamped and the plan is unchanged.
  absl::Status StampWrite(paxoskv::v1::MigrationPlan* plan, paxoskv::v1::Command* command);

  Router* const router_;
  const MigratorOptions options_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  uint64_t next_seq_ = 1;   // the next seq to use; below plan->next_seq(), the reservation
  absl::Duration longest_pause_;  // of this run's ranges, from pause to switch (logged)
  // (from, to) -> the slot of the last scan whose dedup entries `to` has imported: the next
  // export to `to` sends only what `from` stored at that slot or later (dedup_since_slot).
  // Per run: a resumed run sends each new owner the whole table first.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> dedup_shipped_;
  // Imports `page`'s dedup table and session state into `to`, in imports of a bounded size.
  absl::Status ImportDedup(paxoskv::v1::MigrationPlan* plan, uint32_t to,
                           const paxoskv::v1::CommandResult& page);
  // Records that `to` has imported `from`'s dedup entries up to `page`'s slot.
  void DedupShipped(uint32_t from, uint32_t to, const paxoskv::v1::CommandResult& page);
};

}  // namespace paxoskv::master
