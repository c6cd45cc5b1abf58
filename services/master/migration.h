// Migrator: the copy phase of AddShard. For every unfinished range of a MigrationPlan it pages
// through the old shard with OP_SCAN_RANGE (through the old leader's log, so every chosen write
// is seen; the first page also returns the old shard's dedup table), sends the page to the new
// shard with OP_IMPORT (with the dedup table, once per old shard), removes those keys from the
// old shard with OP_DELETE_KEYS, and then persists the advanced cursor. Every step is
// idempotent while the range is paused, so a master killed anywhere resumes from the last
// persisted cursor and ends with each key exactly once, in its new shard.
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
  // steps. `on_progress` sees keys_moved after each persisted page.
  struct Hooks {
    std::function<absl::Status(const paxoskv::v1::MigrationPlan&)> persist;
    std::function<bool()> stopped;
    std::function<void(uint64_t keys_moved)> on_progress;
  };

  Migrator(Router* router, MigratorOptions options, Hooks hooks,
           std::shared_ptr<spdlog::logger> log)
      : router_(router), options_(options), hooks_(std::move(hooks)), log_(std::move(log)) {}

  // Runs every range of `plan` to `done`, retrying failed steps (with backoff) for as long as
  // it takes: a half-moved range can only go forward. OK when every range is done;
  // kCancelled if `stopped` became true first (the plan on disk stays resumable).
  // Imports and deletes carry the plan's (client_id, seq): the client id of every run of this
  // plan, and seqs counting up from the plan's next_seq, which is raised durably before a seq
  // is used (so no run reuses a seq an earlier one may have sent). The migration has one write
  // in flight, so ack_below = seq.
  absl::Status Run(paxoskv::v1::MigrationPlan* plan);

 private:
  // One page of one range: scan, import, delete, persist. OK means progress was made.
  absl::Status Step(paxoskv::v1::MigrationPlan* plan, int range_index);
  // Runs `command` on `shard_id`; retries until OK, a non-retryable error, or stop.
  absl::StatusOr<paxoskv::v1::CommandResult> Call(uint32_t shard_id,
                                                  const paxoskv::v1::Command& command);
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
