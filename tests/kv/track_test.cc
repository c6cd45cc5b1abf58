// Tests of change tracking (OP_TRACK_CHANGES) and the scan of changed keys (OP_SCAN_RANGE with
// scan_changed), which let a migration copy a range while it serves and, after the fence, copy
// only what changed: what a tracking records, what a changed scan returns (present keys with
// their values, deleted ones as absent keys, paged in scan order), that a copy of any age plus
// the changed keys rebuilds the range exactly, stop and restart, snapshots, and refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

constexpr uint64_t kTracking = 7;

pb::HashRange Range(uint64_t begin, uint64_t end) {
  pb::HashRange range;
  range.set_begin(begin);
  range.set_end(end);
  return range;
}

// The lower half of the ring: about half of any set of keys.
const pb::HashRange kHalf = Range(0, uint64_t{1} << 63);

pb::Command Track(const pb::HashRange& range, bool stop = false, uint64_t id = kTracking) {
  pb::Command command;
  command.set_op(pb::OP_TRACK_CHANGES);
  command.set_freeze_id(id);
  *command.add_freeze_ranges() = range;
  command.set_track_stop(stop);
  return command;
}

pb::Command ScanChanged(const pb::HashRange& range, uint32_t limit, uint64_t id = kTracking) {
  pb::Command command = Scan(range.begin(), range.end(), limit);
  command.set_scan_changed(true);
  command.set_freeze_id(id);
  return command;
}

// Continues `scan` after the last key of `page` (entries and absent keys together).
void Advance(pb::Command* scan, const pb::CommandResult& page) {
  std::string last;
  for (const auto& entry : page.entries()) {
    if (last.empty() || KeyHash(entry.key()) > KeyHash(last) ||
        (KeyHash(entry.key()) == KeyHash(last) && entry.key() > last)) {
      last = entry.key();
    }
  }
  for (const auto& key : page.absent_keys()) {
    if (last.empty() || KeyHash(key) > KeyHash(last) ||
        (KeyHash(key) == KeyHash(last) && key > last)) {
      last = key;
    }
  }
  scan->set_scan_started(true);
  scan->set_scan_after_hash(KeyHash(last));
  scan->set_scan_after_key(last);
}

// A key in kHalf (`inside`) or outside it.
std::string KeyOf(bool inside, const std::string& prefix) {
  for (int i = 0;; ++i) {
    std::string key = absl::StrCat(prefix, i);
    if (ring::HashRing::RangeContains(kHalf, KeyHash(key)) == inside) return key;
  }
}

// Every key of the state machine in `range`, with its value.
std::map<std::string, std::string> KeysIn(KvStateMachine& kv, const pb::HashRange& range,
                                          uint64_t* slot) {
  std::map<std::string, std::string> keys;
  pb::Command scan = Scan(range.begin(), range.end(), 7);
  while (true) {
    pb::CommandResult page = kv.Apply((*slot)++, scan);
    for (const auto& entry : page.entries()) keys[entry.key()] = entry.value();
    if (page.scan_done()) return keys;
    Advance(&scan, page);
  }
}

TEST(TrackTest, RecordsEveryKeyChangedInsideTheRangeAfterItStarts) {
  KvStateMachine kv;
  const std::string before = KeyOf(true, "before-");
  const std::string put = KeyOf(true, "put-");
  const std::string deleted = KeyOf(true, "deleted-");
  const std::string cas = KeyOf(true, "cas-");
  const std::string failed_cas = KeyOf(true, "failed-cas-");
  const std::string imported = KeyOf(true, "imported-");
  const std::string outside = KeyOf(false, "outside-");
  kv.Apply(1, Put(before, "old"));
  kv.Apply(2, Put(deleted, "old"));
  kv.Apply(3, Put(failed_cas, "old"));
  pb::CommandResult started = kv.Apply(4, Track(kHalf));
  ASSERT_EQ(started.code(), pb::RESULT_CODE_OK);
  EXPECT_FALSE(started.existed());

  kv.Apply(5, Put(put, "new"));
  kv.Apply(6, Delete(deleted));
  kv.Apply(7, Delete(KeyOf(true, "never-there-")));  // changes nothing: not recorded
  kv.Apply(8, Cas(cas, nullptr, "new"));
  const std::string wrong = "not-the-value";
  kv.Apply(9, Cas(failed_cas, &wrong, "new"));  // fails: not recorded
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  pb::KeyValue* entry = import.add_import_entries();
  entry->set_key(imported);
  entry->set_value("new");
  kv.Apply(10, import);
  kv.Apply(11, Put(outside, "new"));

  pb::CommandResult page = kv.Apply(12, ScanChanged(kHalf, 100));
  ASSERT_EQ(page.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(page.scan_done());
  std::map<std::string, std::string> present;
  for (const auto& e : page.entries()) present[e.key()] = e.value();
  EXPECT_EQ(present,
            (std::map<std::string, std::string>{{put, "new"}, {cas, "new"}, {imported, "new"}}));
  EXPECT_EQ(std::vector<std::string>(page.absent_keys().begin(), page.absent_keys().end()),
            std::vector<std::string>{deleted});
  // Another tracking's id sees nothing.
  EXPECT_EQ(kv.Apply(13, ScanChanged(kHalf, 100, kTracking + 1)).entries_size(), 0);
}

TEST(TrackTest, ChangedScanPagesInScanOrderAndItsFirstPageCarriesTheDedupTable) {
  KvStateMachine kv;
  uint64_t slot = 1;
  kv.Apply(slot++, Track(Range(0, 0)));  // the whole ring
  std::map<std::string, bool> want;      // key -> present
  for (int i = 0; i < 50; ++i) {
    const std::string key = absl::StrCat("k", i);
    kv.Apply(slot++, Put(key, "v", 9, static_cast<uint64_t>(i + 1)));
    want[key] = true;
    if (i % 3 == 0) {
      kv.Apply(slot++, Delete(key));
      want[key] = false;
    }
  }
  pb::Command scan = ScanChanged(Range(0, 0), 4);
  std::map<std::string, bool> got;
  std::pair<uint64_t, std::string> previous{0, ""};
  int pages = 0;
  while (true) {
    pb::CommandResult page = kv.Apply(slot++, scan);
    ASSERT_EQ(page.code(), pb::RESULT_CODE_OK);
    EXPECT_EQ(page.dedup_size(), pages == 0 ? 1 : 0);
    EXPECT_LE(page.entries_size() + page.absent_keys_size(), 4);
    std::vector<std::pair<uint64_t, std::string>> keys;
    for (const auto& e : page.entries()) {
      got[e.key()] = true;
      keys.emplace_back(KeyHash(e.key()), e.key());
    }
    for (const auto& key : page.absent_keys()) {
      got[key] = false;
      keys.emplace_back(KeyHash(key), key);
    }
    std::sort(keys.begin(), keys.end());
    if (!keys.empty()) {
      EXPECT_LT(previous, keys.front()) << "a page went back in the scan order";
      previous = keys.back();
    }
    ++pages;
    if (page.scan_done()) break;
    Advance(&scan, page);
  }
  EXPECT_EQ(got, want);
  EXPECT_GE(pages, 50 / 4);
}

// The migration's argument: a copy of the range taken at any moment after the tracking started,
// plus the changed keys read after the fence, gives exactly the range's keys at the fence.
TEST(TrackTest, ACopyOfAnyAgePlusTheChangedKeysRebuildsTheRange) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 random(seed);
    KvStateMachine source;
    KvStateMachine copy;
    uint64_t slot = 1;
    auto some_key = [&] { return absl::StrCat("key-", random() % 60); };
    auto write = [&] {
      const std::string key = some_key();
      if (random() % 3 == 0) {
        source.Apply(slot++, Delete(key));
      } else {
        source.Apply(slot++, Put(key, absl::StrCat("v", random() % 1000)));
      }
    };
    for (int i = 0; i < 80; ++i) write();
    source.Apply(slot++, Track(kHalf));
    // The copy: page by page, with writes in between.
    pb::Command scan = Scan(kHalf.begin(), kHalf.end(), 5);
    while (true) {
      for (uint32_t w = random() % 4; w > 0; --w) write();
      pb::CommandResult page = source.Apply(slot++, scan);
      pb::Command import;
      import.set_op(pb::OP_IMPORT);
      *import.mutable_import_entries() = page.entries();
      copy.Apply(slot, import);
      if (page.scan_done()) break;
      Advance(&scan, page);
    }
    for (int i = 0; i < 40; ++i) write();
    // The fence: then what changed, page by page.
    pb::Command changed = ScanChanged(kHalf, 3);
    while (true) {
      pb::CommandResult page = source.Apply(slot++, changed);
      pb::Command import;
      import.set_op(pb::OP_IMPORT);
      *import.mutable_import_entries() = page.entries();
      *import.mutable_keys() = page.absent_keys();
      ASSERT_EQ(copy.Apply(slot, import).code(), pb::RESULT_CODE_OK);
      if (page.scan_done()) break;
      Advance(&changed, page);
    }
    uint64_t read_slot = slot;
    EXPECT_EQ(KeysIn(copy, kHalf, &read_slot), KeysIn(source, kHalf, &read_slot));
  }
}

TEST(TrackTest, StartingTwiceKeepsTheRecordAndStoppingForgetsIt) {
  KvStateMachine kv;
  const std::string key = KeyOf(true, "k-");
  kv.Apply(1, Track(kHalf));
  kv.Apply(2, Put(key, "v"));
  // A repeated start (a resumed migration) changes nothing.
  EXPECT_TRUE(kv.Apply(3, Track(kHalf)).existed());
  EXPECT_EQ(kv.Apply(4, ScanChanged(kHalf, 10)).entries_size(), 1);
  // A stop forgets; a repeated stop finds nothing to stop.
  EXPECT_TRUE(kv.Apply(5, Track(kHalf, /*stop=*/true)).existed());
  EXPECT_FALSE(kv.Apply(6, Track(kHalf, /*stop=*/true)).existed());
  EXPECT_EQ(kv.Apply(7, ScanChanged(kHalf, 10)).entries_size(), 0);
  kv.Apply(8, Put(key, "w"));
  EXPECT_EQ(kv.Apply(9, ScanChanged(kHalf, 10)).entries_size(), 0);  // not tracked any more
  // Stopping one tracking leaves another's record.
  kv.Apply(10, Track(kHalf, false, 1));
  kv.Apply(11, Track(kHalf, false, 2));
  kv.Apply(12, Put(key, "x"));
  kv.Apply(13, Track(kHalf, /*stop=*/true, 1));
  EXPECT_EQ(kv.Apply(14, ScanChanged(kHalf, 10, 1)).entries_size(), 0);
  EXPECT_EQ(kv.Apply(15, ScanChanged(kHalf, 10, 2)).entries_size(), 1);
}

TEST(TrackTest, TrackingsAndTheirRecordsAreInSnapshots) {
  KvStateMachine kv;
  kv.Apply(1, Track(kHalf));
  kv.Apply(2, Put(KeyOf(true, "a-"), "v"));
  kv.Apply(3, Put(KeyOf(true, "b-"), "v"));
  kv.Apply(4, Delete(KeyOf(true, "b-")));
  KvStateMachine restored;
  ASSERT_TRUE(kv.WriteSnapshot(64, [&](std::string_view chunk) {
                  return restored.AddSnapshotChunk(chunk);
                }).ok());
  EXPECT_EQ(restored.Digest(), kv.Digest());
  pb::CommandResult page = restored.Apply(5, ScanChanged(kHalf, 10));
  EXPECT_EQ(page.entries_size(), 1);
  EXPECT_EQ(page.absent_keys_size(), 1);
  // The restored machine goes on recording.
  restored.Apply(6, Put(KeyOf(true, "c-"), "v"));
  EXPECT_EQ(restored.Apply(7, ScanChanged(kHalf, 10)).entries_size(), 2);

  // A recorded key that no tracking holds does not restore.
  pb::KvSnapshot bad;
  pb::TrackedKey* changed = bad.add_changed();
  changed->set_key("k");
  changed->set_tracking_id(kTracking);
  KvStateMachine refused;
  EXPECT_EQ(refused.AddSnapshotChunk(bad.SerializeAsString()).code(),
            absl::StatusCode::kInvalidArgument);
}

// The master sends a new owner the old shard's whole dedup table once, then, with each range,
// what the table stored since: a first page with dedup_since_slot carries every client's window
// bounds and only the entries stored at that slot or later (the same slot included: a slot
// holds several commands), and an entry keeps its slot through a snapshot.
TEST(TrackTest, AFirstPageSinceASlotCarriesOnlyTheDedupEntriesStoredFromThatSlotOn) {
  KvStateMachine kv;
  kv.Apply(10, Put("a", "1", 5, 1));
  kv.Apply(20, Put("b", "1", 5, 2));
  kv.Apply(20, Put("c", "1", 6, 1));
  kv.Apply(30, Put("d", "1", 6, 2));
  KvStateMachine restored;
  ASSERT_TRUE(kv.WriteSnapshot(64, [&](std::string_view chunk) {
                  return restored.AddSnapshotChunk(chunk);
                }).ok());
  for (KvStateMachine* machine : {&kv, &restored}) {
    pb::Command first = Scan(0, 0, 1);
    first.set_dedup_since_slot(20);
    pb::CommandResult page = machine->Apply(40, first);
    std::map<uint64_t, std::vector<uint64_t>> seqs;
    for (const auto& client : page.dedup()) {
      auto& client_seqs = seqs[client.client_id()];
      for (const auto& entry : client.entries()) client_seqs.push_back(entry.seq());
    }
    EXPECT_EQ(seqs, (std::map<uint64_t, std::vector<uint64_t>>{{5, {2}}, {6, {1, 2}}}));
    // 0: the whole table, each entry with its slot.
    pb::CommandResult whole = machine->Apply(41, Scan(0, 0, 1));
    ASSERT_EQ(whole.dedup_size(), 2);
    ASSERT_EQ(whole.dedup(0).entries_size(), 2);
    EXPECT_EQ(whole.dedup(0).entries(0).stored_slot(), 10u);
  }
}

TEST(TrackTest, MalformedTrackingsAreRefusedAndClientsCannotSendThem) {
  pb::Command no_id = Track(kHalf);
  no_id.set_freeze_id(0);
  EXPECT_EQ(ValidateCommand(no_id).code(), absl::StatusCode::kInvalidArgument);
  pb::Command no_range = Track(kHalf);
  no_range.clear_freeze_ranges();
  EXPECT_EQ(ValidateCommand(no_range).code(), absl::StatusCode::kInvalidArgument);
  pb::Command scan = ScanChanged(kHalf, 10);
  scan.set_freeze_id(0);
  EXPECT_EQ(ValidateCommand(scan).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateClientCommand(Track(kHalf)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateMigrationCommand(Track(kHalf)).ok());
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  import.add_keys("");
  EXPECT_EQ(ValidateCommand(import).code(), absl::StatusCode::kInvalidArgument);

  // At most 1,024 ranges at once: beyond, the start is refused and changes nothing.
  KvStateMachine kv;
  pb::Command many;
  many.set_op(pb::OP_TRACK_CHANGES);
  many.set_freeze_id(kTracking);
  for (uint64_t i = 0; i < 1024; ++i) *many.add_freeze_ranges() = Range(i * 10, i * 10 + 5);
  ASSERT_EQ(kv.Apply(1, many).code(), pb::RESULT_CODE_OK);
  const uint64_t digest = kv.Digest();
  EXPECT_EQ(kv.Apply(2, Track(Range(1 << 20, 1 << 21))).code(), pb::RESULT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_EQ(kv.Digest(), digest);
}

}  // namespace
}  // namespace paxoskv::kv
