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
// A dedup table goes to a new owner in imports of about this size (ImportDedup).
constexpr size_t kDedupImportBytes = 32 << 10;

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
    if (!plan->ranges(i).copied()) {
      // Copy while it serves (a range an older master started is fenced already: it is copied
      // whole after its fence, as that master did).
      if (!plan->ranges(i).started() && !plan->ranges(i).precopied()) {
        RETURN_IF_ERROR(Precopy(plan, i));
      }
      // Pause: requests to this range wait (at this master), and those already sent end.
      const absl::Time paused = absl::Now();
      RETURN_IF_ERROR(hooks_.pause(*plan, i));
      const absl::Time drained = absl::Now();
      // Fence: the old shard refuses key ops in the range from now on, so a write chosen late
      // (an old leader's proposal; another master's request) cannot land after the range was
      // scanned. Idempotent, so simply repeated on resume. Named by the epoch of the ring this
      // migration moves to (OP_UNFREEZE_RANGES with that id would lift it).
      paxoskv::v1::Command fence;
      fence.set_op(paxoskv::v1::OP_FREEZE_RANGES);
      fence.set_freeze_id(plan->next_ring().epoch());
      *fence.add_freeze_ranges() = plan->ranges(i).range();
      RETURN_IF_ERROR(CallUntilDone(plan->ranges(i).from_shard(), fence, "fence"));
      const absl::Time fenced = absl::Now();
      RETURN_IF_ERROR(Repeat(
          plan, i, [&] { return plan->ranges(i).copied(); }, [&] { return CopyStep(plan, i); }));
      const absl::Duration pause = absl::Now() - paused;
      longest_pause_ = std::max(longest_pause_, pause);
      log_->info("range {}/{} from={} to={} switched: paused {} ms (drain {}, fence {}, copy {})",
                 i + 1, plan->ranges_size(), plan->ranges(i).from_shard(),
                 plan->ranges(i).to_shard(), absl::ToInt64Milliseconds(pause),
                 absl::ToInt64Milliseconds(drained - paused),
                 absl::ToInt64Milliseconds(fenced - drained),
                 absl::ToInt64Milliseconds(absl::Now() - fenced));
    }
    // The new owner serves the range: the old shard's copies go, out of the pause.
    RETURN_IF_ERROR(Repeat(
        plan, i, [&] { return plan->ranges(i).done(); }, [&] { return CleanupStep(plan, i); }));
  }
  log_->info("every range moved; the longest pause was {} ms",
             absl::ToInt64Milliseconds(longest_pause_));
  return absl::OkStatus();
}

absl::Status Migrator::Repeat(paxoskv::v1::MigrationPlan* plan, int range_index,
                              absl::FunctionRef<bool()> finished,
                              absl::FunctionRef<absl::Status()> step) {
  while (!finished()) {
    if (hooks_.stopped()) return absl::CancelledError("migration stopped");
    absl::Status status = step();
    if (status.code() == absl::StatusCode::kCancelled) return status;
    if (!status.ok()) {
      // Only forward is safe: keep trying (ClusterStatus shows the progress meanwhile).
      const paxoskv::v1::MigrationRange& range = plan->ranges(range_index);
      log_->warn("migration step failed range={} from={} to={} error={}; retrying", range_index,
                 range.from_shard(), range.to_shard(), status.ToString());
      absl::SleepFor(options_.retry_backoff);
    }
  }
  return absl::OkStatus();
}

paxoskv::v1::Command Migrator::TrackCommand(const paxoskv::v1::MigrationPlan& plan, int range_index,
                                            bool stop) {
  paxoskv::v1::Command track;
  track.set_op(paxoskv::v1::OP_TRACK_CHANGES);
  track.set_freeze_id(plan.next_ring().epoch());
  *track.add_freeze_ranges() = plan.ranges(range_index).range();
  track.set_track_stop(stop);
  return track;
}

absl::Status Migrator::Precopy(paxoskv::v1::MigrationPlan* plan, int range_index) {
  const uint32_t from = plan->ranges(range_index).from_shard();
  const uint32_t to = plan->ranges(range_index).to_shard();
  // The old shard records every key that changes in the range from now on; the copy below
  // may then be of any age: what changed after it is copied again after the fence. A resumed
  // run starts the copy over (the tracking, started by the first run, goes on).
  paxoskv::v1::Command track = TrackCommand(*plan, range_index, /*stop=*/false);
  RETURN_IF_ERROR(StampWrite(plan, &track));
  RETURN_IF_ERROR(CallUntilDone(from, track, "track changes at"));
  paxoskv::v1::Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  *scan.mutable_range() = plan->ranges(range_index).range();
  // The first copy from `from` to `to` in this run brings `from`'s whole dedup table along
  // (scan_started false), out of any pause; the copies after fences then send only what
  // was added since. Otherwise from the start, (0, ""), without it.
  const bool with_dedup = !dedup_shipped_.contains({from, to});
  scan.set_scan_started(!with_dedup);
  scan.set_scan_limit(options_.page_size);
  bool done = false;
  return Repeat(
      plan, range_index, [&] { return done; },
      [&]() -> absl::Status {
        ASSIGN_OR_RETURN(paxoskv::v1::CommandResult page, Call(from, scan));
        const bool last_page = page.scan_done() || page.entries_size() == 0;
        if (!scan.scan_started()) {
          RETURN_IF_ERROR(ImportDedup(plan, to, page));
          DedupShipped(from, to, page);
        }
        scan.set_scan_started(true);
        if (page.entries_size() > 0) {
          paxoskv::v1::Command import;
          import.set_op(paxoskv::v1::OP_IMPORT);
          *import.mutable_import_entries() = std::move(*page.mutable_entries());
          RETURN_IF_ERROR(StampWrite(plan, &import));
          RETURN_IF_ERROR(Call(to, import).status());
          const std::string& last_key =
              import.import_entries(import.import_entries_size() - 1).key();
          scan.set_scan_after_hash(ring::StableHash(last_key));
          scan.set_scan_after_key(last_key);
        }
        if (!last_page) return absl::OkStatus();
        plan->mutable_ranges(range_index)->set_precopied(true);
        RETURN_IF_ERROR(hooks_.persist(*plan));
        done = true;
        return absl::OkStatus();
      });
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

absl::Status Migrator::CopyStep(paxoskv::v1::MigrationPlan* plan, int range_index) {
  paxoskv::v1::MigrationRange* range = plan->mutable_ranges(range_index);
  const uint32_t from = range->from_shard();
  const uint32_t to = range->to_shard();
  // A range an older master started without a pre-copy is copied whole, and its keys are
  // deleted from `from` page by page, as that master did.
  const bool whole = !range->precopied();

  paxoskv::v1::Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  *scan.mutable_range() = range->range();
  scan.set_scan_started(range->started());
  scan.set_scan_after_hash(range->after_hash());
  scan.set_scan_after_key(range->after_key());
  scan.set_scan_limit(options_.page_size);
  if (!whole) {
    scan.set_scan_changed(true);
    scan.set_freeze_id(plan->next_ring().epoch());
  }
  const bool send_dedup = !range->started();
  if (send_dedup) {
    auto shipped = dedup_shipped_.find({from, to});
    if (shipped != dedup_shipped_.end()) scan.set_dedup_since_slot(shipped->second);
  }
  auto page = Call(from, scan);
  if (!page.ok()) return page.status();

  // The first page of every range carries `from`'s dedup table as it is now that the range is
  // fenced (what was added since the last export to `to`, when there was one), so a retry of
  // any write made to the range there (the last one may have been just before the fence) is
  // recognised at its new owner. The new owner merges the tables (its own results win, the
  // higher forgotten_below), so sending an entry again is safe.
  if (page->entries_size() > 0 || page->absent_keys_size() > 0 ||
      (send_dedup && (page->dedup_size() > 0 || page->has_sessions()))) {
    paxoskv::v1::Command import;
    import.set_op(paxoskv::v1::OP_IMPORT);
    *import.mutable_import_entries() = page->entries();
    *import.mutable_keys() = page->absent_keys();
    if (send_dedup) {
      *import.mutable_import_dedup() = page->dedup();
      *import.mutable_import_sessions() = page->sessions();
    }
    RETURN_IF_ERROR(StampWrite(plan, &import));
    auto imported_result = Call(to, import);
    if (!imported_result.ok()) return imported_result.status();
    if (send_dedup) DedupShipped(from, to, *page);
  }
  if (whole && page->entries_size() > 0) {
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
  const std::string* last_key = LastKey(*page);
  if (last_key != nullptr) {
    range->set_after_hash(ring::StableHash(*last_key));
    range->set_after_key(*last_key);
  }
  if (page->scan_done() || last_key == nullptr) {
    if (!page->scan_done()) log_->warn("empty scan page without scan_done; ending range");
    range->set_copied(true);  // the new owner serves it from the next on_progress
  }
  if (whole) {
    plan->set_keys_moved(plan->keys_moved() + static_cast<uint64_t>(page->entries_size()));
  }
  absl::Status persisted = hooks_.persist(*plan);
  if (!persisted.ok()) return persisted;
  hooks_.on_progress(*plan);
  log_->debug("copied page from={} to={} keys={} deleted={} copied={}", from, to,
              page->entries_size(), page->absent_keys_size(), range->copied());
  return absl::OkStatus();
}

absl::Status Migrator::ImportDedup(paxoskv::v1::MigrationPlan* plan, uint32_t to,
                                   const paxoskv::v1::CommandResult& page) {
  // A whole table can be hundreds of KB (a window of 1,024 results per client): as one log
  // entry it would hold the new owner, and every request to it, while it is replicated and
  // applied. Clients merge independently, so they go in imports of about kDedupImportBytes.
  paxoskv::v1::Command import;
  import.set_op(paxoskv::v1::OP_IMPORT);
  *import.mutable_import_sessions() = page.sessions();
  size_t bytes = 0;
  for (int i = 0; i <= page.dedup_size(); ++i) {
    const bool last = i == page.dedup_size();
    if (!last) {
      *import.add_import_dedup() = page.dedup(i);
      bytes += page.dedup(i).ByteSizeLong();
    }
    if (bytes < kDedupImportBytes && !last) continue;
    if (import.import_dedup_size() > 0 || import.has_import_sessions()) {
      RETURN_IF_ERROR(StampWrite(plan, &import));
      RETURN_IF_ERROR(Call(to, import).status());
    }
    import.clear_import_dedup();
    import.clear_import_sessions();
    bytes = 0;
  }
  return absl::OkStatus();
}

void Migrator::DedupShipped(uint32_t from, uint32_t to, const paxoskv::v1::CommandResult& page) {
  if (page.applied_slot() == 0) return;  // unknown: the next export sends the whole table
  uint64_t& shipped = dedup_shipped_[{from, to}];
  shipped = std::max(shipped, page.applied_slot());
}

const std::string* Migrator::LastKey(const paxoskv::v1::CommandResult& page) {
  // A changed-keys page holds its present keys in `entries` and its deleted ones in
  // `absent_keys`, each in scan order: the page's last key is the later of the two last ones.
  const std::string* last = nullptr;
  uint64_t last_hash = 0;
  auto consider = [&](const std::string& key) {
    const uint64_t hash = ring::StableHash(key);
    if (last == nullptr || hash > last_hash || (hash == last_hash && key > *last)) {
      last = &key;
      last_hash = hash;
    }
  };
  if (page.entries_size() > 0) consider(page.entries(page.entries_size() - 1).key());
  if (page.absent_keys_size() > 0) consider(page.absent_keys(page.absent_keys_size() - 1));
  return last;
}

absl::Status Migrator::CleanupStep(paxoskv::v1::MigrationPlan* plan, int range_index) {
  paxoskv::v1::MigrationRange* range = plan->mutable_ranges(range_index);
  const uint32_t from = range->from_shard();
  // The range is fenced at `from`: nothing but this deletes there, so every scan may start
  // from the beginning ((0, ""), which skips the dedup table) and finds only what is left.
  paxoskv::v1::Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  *scan.mutable_range() = range->range();
  scan.set_scan_started(true);
  scan.set_scan_limit(options_.page_size);
  ASSIGN_OR_RETURN(paxoskv::v1::CommandResult page, Call(from, scan));
  if (page.entries_size() > 0) {
    paxoskv::v1::Command remove;
    remove.set_op(paxoskv::v1::OP_DELETE_KEYS);
    for (const auto& entry : page.entries()) remove.add_keys(entry.key());
    RETURN_IF_ERROR(StampWrite(plan, &remove));
    RETURN_IF_ERROR(Call(from, remove).status());
    plan->set_keys_moved(plan->keys_moved() + static_cast<uint64_t>(page.entries_size()));
  } else {
    // Nothing left: the tracking ends (a repeat of a stop changes nothing), and so does the
    // range.
    paxoskv::v1::Command untrack = TrackCommand(*plan, range_index, /*stop=*/true);
    RETURN_IF_ERROR(StampWrite(plan, &untrack));
    RETURN_IF_ERROR(Call(from, untrack).status());
    range->set_done(true);
  }
  RETURN_IF_ERROR(hooks_.persist(*plan));
  hooks_.on_progress(*plan);
  return absl::OkStatus();
}

}  // namespace paxoskv::master
