// See migration.h.
#include "services/master/migration.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::master {

namespace {

// Seqs reserved per persisted reservation (each page uses two): one extra plan write per 128
// pages.
constexpr uint64_t kSeqsReserved = 256;

}  // namespace

absl::Status Migrator::Run(paxoskv::v1::MigrationPlan* plan) {
  if (plan->client_id() == 0) {  // Master draws one when it takes a plan of an older master
    return absl::InvalidArgumentError("the plan has no client id");
  }
  // Fields of plans from older masters, which sent each old shard's dedup table once.
  plan->clear_dedup_imported_from();
  plan->clear_dedup_imported();
  next_seq_ = std::max<uint64_t>(plan->next_seq(), 1);
  // Barrier: a stamped write that changes nothing (OP_BARRIER) to every shard
  // the plan touches. Its seq is above every seq an earlier run of this plan used or reserved,
  // and its ack_below says so, so from now on each of those shards refuses, as stale, any
  // write of an earlier run that still arrives: a master that was taken over while alive (a
  // pause, a partition from the configuration group) cannot import an old value over a newer
  // one after the switch.
  std::set<uint32_t> touched;
  for (const auto& range : plan->ranges()) {
    touched.insert(range.from_shard());
    touched.insert(range.to_shard());
  }
  for (uint32_t shard : touched) {
    paxoskv::v1::Command barrier;
    barrier.set_op(paxoskv::v1::OP_BARRIER);
    RETURN_IF_ERROR(StampWrite(plan, &barrier));
    RETURN_IF_ERROR(CallUntilDone(shard, barrier, "fence off earlier runs of"));
  }
  // Open: each new owner lifts any fence it still holds on the ranges it receives (it gave
  // them away in an earlier move: a removed shard's ranges may go back to the shard that gave
  // them to it). Idempotent, so simply repeated on resume. Nothing routes a range's keys to
  // its new owner before that range is moved.
  std::map<uint32_t, paxoskv::v1::Command> opens;
  for (const auto& range : plan->ranges()) {
    paxoskv::v1::Command& open = opens[range.to_shard()];
    open.set_op(paxoskv::v1::OP_UNFREEZE_RANGES);
    *open.add_freeze_ranges() = range.range();
  }
  for (const auto& [shard, open] : opens) RETURN_IF_ERROR(CallUntilDone(shard, open, "open"));
  // Then one range at a time; the others keep serving from their old shard meanwhile.
  for (int i = 0; i < plan->ranges_size(); ++i) {
    if (plan->ranges(i).done()) continue;
    if (hooks_.stopped()) return absl::CancelledError("migration stopped");
    // Pause: requests to this range wait (at this master), and those already sent end.
    RETURN_IF_ERROR(hooks_.pause(*plan, i));
    // Fence: the old shard refuses key ops in the range from now on, so a write chosen late
    // (an old leader's proposal; another master's request) cannot land after the range was
    // scanned. Idempotent, so simply repeated on resume. Named by the epoch of the ring this
    // migration moves to (OP_UNFREEZE_RANGES with that id would lift it).
    paxoskv::v1::Command fence;
    fence.set_op(paxoskv::v1::OP_FREEZE_RANGES);
    fence.set_freeze_id(plan->next_ring().epoch());
    *fence.add_freeze_ranges() = plan->ranges(i).range();
    RETURN_IF_ERROR(CallUntilDone(plan->ranges(i).from_shard(), fence, "fence"));
    while (!plan->ranges(i).done()) {
      if (hooks_.stopped()) return absl::CancelledError("migration stopped");
      absl::Status status = Step(plan, i);
      if (status.code() == absl::StatusCode::kCancelled) return status;
      if (!status.ok()) {
        // Only forward is safe: keep trying (ClusterStatus shows the progress meanwhile).
        log_->warn("migration step failed range={} from={} to={} error={}; retrying", i,
                   plan->ranges(i).from_shard(), plan->ranges(i).to_shard(), status.ToString());
        absl::SleepFor(options_.retry_backoff);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<paxoskv::v1::CommandResult> Migrator::Call(uint32_t shard_id,
                                                          const paxoskv::v1::Command& command) {
  if (hooks_.stopped()) return absl::CancelledError("migration stopped");
  auto result = router_->Execute(shard_id, command, absl::Now() + options_.op_deadline,
                                 options_.attempt_timeout, ReplicaService::kMigration);
  if (!result.ok()) return result.status();
  if (absl::Status refused = ResultStatus(*result); !refused.ok()) {
    return absl::Status(refused.code(),
                        absl::StrCat("shard ", shard_id, " refused op ",
                                     paxoskv::v1::Op_Name(command.op()), ": ", refused.message()));
  }
  return result;
}

absl::Status Migrator::CallUntilDone(uint32_t shard_id, const paxoskv::v1::Command& command,
                                     const char* what) {
  while (true) {
    auto done = Call(shard_id, command);
    if (done.ok()) return absl::OkStatus();
    if (done.status().code() == absl::StatusCode::kCancelled) return done.status();
    log_->warn("cannot {} shard={}: {}; retrying", what, shard_id, done.status().ToString());
    absl::SleepFor(options_.retry_backoff);
  }
}

absl::Status Migrator::StampWrite(paxoskv::v1::MigrationPlan* plan,
                                  paxoskv::v1::Command* command) {
  if (next_seq_ >= plan->next_seq()) {
    const uint64_t reserved = plan->next_seq();
    plan->set_next_seq(next_seq_ + kSeqsReserved);
    if (absl::Status persisted = hooks_.persist(*plan); !persisted.ok()) {
      plan->set_next_seq(reserved);
      return persisted;
    }
  }
  command->set_client_id(plan->client_id());
  command->set_seq(next_seq_);
  command->set_ack_below(next_seq_);  // Every earlier write has been answered.
  ++next_seq_;
  return absl::OkStatus();
}

absl::Status Migrator::Step(paxoskv::v1::MigrationPlan* plan, int range_index) {
  paxoskv::v1::MigrationRange* range = plan->mutable_ranges(range_index);
  const uint32_t from = range->from_shard();
  const uint32_t to = range->to_shard();

  paxoskv::v1::Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  *scan.mutable_range() = range->range();
  scan.set_scan_started(range->started());
  scan.set_scan_after_hash(range->after_hash());
  scan.set_scan_after_key(range->after_key());
  scan.set_scan_limit(options_.page_size);
  auto page = Call(from, scan);
  if (!page.ok()) return page.status();

  // The first page of every range carries `from`'s dedup table as it is now that the range is
  // fenced, so a retry of any write made to the range there (the last one may have been just
  // before the fence) is recognised at its new owner. The new owner merges the tables (its own
  // results win, the higher forgotten_below), so sending it again with each range is safe.
  const bool send_dedup = !range->started();
  if (page->entries_size() > 0 ||
      (send_dedup && (page->dedup_size() > 0 || page->has_sessions()))) {
    paxoskv::v1::Command import;
    import.set_op(paxoskv::v1::OP_IMPORT);
    *import.mutable_import_entries() = page->entries();
    if (send_dedup) {
      *import.mutable_import_dedup() = page->dedup();
      *import.mutable_import_sessions() = page->sessions();
    }
    RETURN_IF_ERROR(StampWrite(plan, &import));
    auto imported_result = Call(to, import);
    if (!imported_result.ok()) return imported_result.status();
  }
  if (page->entries_size() > 0) {
    paxoskv::v1::Command remove;
    remove.set_op(paxoskv::v1::OP_DELETE_KEYS);
    for (const auto& entry : page->entries()) remove.add_keys(entry.key());
    RETURN_IF_ERROR(StampWrite(plan, &remove));
    auto removed = Call(from, remove);
    if (!removed.ok()) return removed.status();
  }

  // Advance the cursor and make it durable. A crash before this line repeats the page:
  // the import overwrites the same values and the delete finds nothing left to delete.
  range->set_started(true);
  if (page->entries_size() > 0) {
    const std::string& last_key = page->entries(page->entries_size() - 1).key();
    range->set_after_hash(ring::StableHash(last_key));
    range->set_after_key(last_key);
  }
  if (page->scan_done() || page->entries_size() == 0) {
    if (!page->scan_done()) log_->warn("empty scan page without scan_done; ending range");
    range->set_done(true);
  }
  plan->set_keys_moved(plan->keys_moved() + static_cast<uint64_t>(page->entries_size()));
  absl::Status persisted = hooks_.persist(*plan);
  if (!persisted.ok()) return persisted;
  hooks_.on_progress(*plan);
  log_->debug("migrated page from={} to={} keys={} done={}", from, to, page->entries_size(),
              range->done());
  return absl::OkStatus();
}

}  // namespace paxoskv::master
