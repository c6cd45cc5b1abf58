// Migrator: the copy phase of AddShard and RemoveShard, one hash range at a time. For every
// unfinished range of a MigrationPlan it has the range paused (requests to it wait at the
// master; the other ranges keep serving), fences it at the old shard (OP_FREEZE_RANGES), and
// pages through it with OP_SCAN_RANGE (through the old leader's log, so every chosen write is
// seen; the first page also returns the old shard's dedup table, so a retry of a write made to
// the range is recognised at its new owner), sends each page to the new owner with OP_IMPORT,
// removes those keys from the old shard with OP_DELETE_KEYS, and persists the advanced cursor.
// A range whose last page is persisted is done: the master routes it to its new owner at once,
// before the ring switches. Every step is idempotent while the range is fenced, so a master
// killed anywhere resumes from the last persisted cursor and ends with each key exactly once,
// in its new shard.
// Not thread-safe: one migration thread owns a Migrator and its plan.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <spdlog/spdlog.h>

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
  // One page of one range: scan, import, delete, persist. OK means progress was made.
  absl::Status Step(paxoskv::v1::MigrationPlan* plan, int range_index);
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
};

}  // namespace paxoskv::master
