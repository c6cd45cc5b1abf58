// Tests of RocksDbStore: durable round trips across reopen, identity checks, snapshot
// truncation and bounded disk use.
#include "libs/storage/rocksdb_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <rocksdb/db.h>
#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/storage/test_util.h"

namespace paxoskv::storage {
namespace {

using testing_util::Batch;
using testing_util::EntryKey;
using testing_util::MakeBallot;
using testing_util::MakeEntry;
using testing_util::ReadSnapshot;
using testing_util::SaveSnapshot;

// A fresh directory per test under the gtest temp dir.
std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/paxoskv_storage_", name);
  std::filesystem::remove_all(dir);
  return dir;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<AcceptorStore> Open(const std::string& dir, RocksDbStoreOptions options = {}) {
  auto store = OpenRocksDbStore(dir, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

TEST(RocksDbStoreTest, EmptyStoreLoadsZeroState) {
  auto store = Open(FreshDir("empty"));
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->promised.round(), 0u);
  EXPECT_TRUE(state->entries.empty());
  EXPECT_EQ(state->chosen_through, 0u);
  EXPECT_EQ(state->snapshot_slot, 0u);
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->meta.last_slot, 0u);
  EXPECT_TRUE(snapshot->chunks.empty());
}

TEST(RocksDbStoreTest, RoundTripsAcrossReopen) {
  const std::string dir = FreshDir("roundtrip");
  {
    auto store = Open(dir);
    WriteBatch batch;
    batch.promised = MakeBallot(3, 2);
    // Out of order on purpose: Load must return slot order.
    batch.accepted = {MakeEntry(300, MakeBallot(3, 2), "c"), MakeEntry(2, MakeBallot(1, 1), "a"),
                      MakeEntry(256, MakeBallot(3, 2), "b")};
    batch.chosen_through = 2;
    ASSERT_TRUE(store->Write(batch).ok());
    // Upsert by slot, unsynced: a clean close still keeps it (RocksDB WAL).
    WriteBatch upsert;
    upsert.accepted = {MakeEntry(256, MakeBallot(3, 2), "b2")};
    upsert.sync = false;
    ASSERT_TRUE(store->Write(upsert).ok());
  }
  auto store = Open(dir);
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->promised.round(), 3u);
  EXPECT_EQ(state->promised.node_id(), 2u);
  ASSERT_EQ(state->entries.size(), 3u);
  EXPECT_EQ(state->entries[0].slot(), 2u);
  EXPECT_EQ(state->entries[1].slot(), 256u);
  EXPECT_EQ(state->entries[2].slot(), 300u);
  EXPECT_EQ(EntryKey(state->entries[1]), "b2");
  EXPECT_EQ(state->chosen_through, 2u);
}

// A process killed right after a synced write (no destructor, no clean close) loses nothing.
// The child exits with _exit() from inside the write path's caller, as kill -9 would leave it.
TEST(RocksDbStoreTest, SyncedWriteSurvivesAbruptProcessExit) {
  const std::string dir = FreshDir("abrupt");
  EXPECT_EXIT(
      {
        auto store = OpenRocksDbStore(dir);
        if (!store.ok()) _exit(2);
        WriteBatch batch = Batch(MakeBallot(4, 1), {MakeEntry(7, MakeBallot(4, 1), "kept")}, 7);
        if (!(*store)->Write(batch).ok()) _exit(3);
        if (!SaveSnapshot(**store, 5, {"fi", "ve"}).ok()) _exit(4);
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  auto store = Open(dir);
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->promised.round(), 4u);
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(EntryKey(state->entries[0]), "kept");
  EXPECT_EQ(state->chosen_through, 7u);
  EXPECT_EQ(state->snapshot_slot, 5u);
  EXPECT_EQ(ReadSnapshot(*store)->chunks, (std::vector<std::string>{"fi", "ve"}));
}

TEST(RocksDbStoreTest, ChosenThroughNeverDecreases) {
  auto store = Open(FreshDir("chosen"));
  WriteBatch up;
  up.chosen_through = 10;
  ASSERT_TRUE(store->Write(up).ok());
  WriteBatch down;
  down.chosen_through = 4;
  ASSERT_TRUE(store->Write(down).ok());
  EXPECT_EQ(store->Load()->chosen_through, 10u);
}

TEST(RocksDbStoreTest, FirstStartRecordsIdentityAndMismatchIsRefused) {
  const std::string dir = FreshDir("identity");
  {
    auto store = Open(dir);
    EXPECT_TRUE(store->CheckIdentity({.shard_id = 2, .replica_id = 3, .incarnation = 11}).ok());
    EXPECT_TRUE(store->CheckIdentity({.shard_id = 2, .replica_id = 3, .incarnation = 12}).ok());
  }
  auto store = Open(dir);
  absl::StatusOr<Identity> reopened =
      store->CheckIdentity({.shard_id = 2, .replica_id = 3, .incarnation = 13});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(reopened->incarnation, 11u);   // made once, kept across reopens
  absl::Status status =
      store->CheckIdentity({.shard_id = 1, .replica_id = 1, .incarnation = 11}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), absl::StrCat("data directory ", dir,
                                           " belongs to shard 2 replica 3, not shard 1 replica 1"));
}

// A directory written before incarnations existed (a 16-byte identity record) gets one on its
// next start, once, and keeps it.
TEST(RocksDbStoreTest, ADirectoryWithoutIncarnationGetsOneOnce) {
  const std::string dir = FreshDir("legacy-identity");
  {
    std::filesystem::create_directories(dir + "/rocksdb");
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir + "/rocksdb", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string record(16, '\0');
    record[7] = 2;    // shard 2, big-endian
    record[15] = 3;   // replica 3
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "I", record).ok());
  }
  {
    auto store = Open(dir);
    absl::StatusOr<Identity> upgraded =
        store->CheckIdentity({.shard_id = 2, .replica_id = 3, .incarnation = 21});
    ASSERT_TRUE(upgraded.ok()) << upgraded.status();
    EXPECT_EQ(upgraded->incarnation, 21u);
  }
  auto store = Open(dir);
  absl::StatusOr<Identity> kept =
      store->CheckIdentity({.shard_id = 2, .replica_id = 3, .incarnation = 22});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->incarnation, 21u);
}

TEST(RocksDbStoreTest, SnapshotTruncatesLogAndSurvivesReopen) {
  const std::string dir = FreshDir("snapshot");
  {
    auto store = Open(dir);
    WriteBatch batch;
    batch.promised = MakeBallot(1, 1);
    for (SlotId slot = 1; slot <= 20; ++slot) {
      batch.accepted.push_back(MakeEntry(slot, MakeBallot(1, 1), absl::StrCat("k", slot)));
    }
    batch.chosen_through = 12;
    ASSERT_TRUE(store->Write(batch).ok());
    ASSERT_TRUE(SaveSnapshot(*store, 10, {"state@10"}).ok());
    // An entry at or below the snapshot is ignored from now on.
    WriteBatch late;
    late.accepted = {MakeEntry(5, MakeBallot(1, 1), "late")};
    ASSERT_TRUE(store->Write(late).ok());
    // An older snapshot never replaces a newer one.
    ASSERT_TRUE(SaveSnapshot(*store, 7, {"state@7"}).ok());
  }
  auto store = Open(dir);
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->snapshot_slot, 10u);
  ASSERT_EQ(state->entries.size(), 10u);
  EXPECT_EQ(state->entries.front().slot(), 11u);
  EXPECT_EQ(state->entries.back().slot(), 20u);
  EXPECT_EQ(state->chosen_through, 12u);
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->meta.last_slot, 10u);
  EXPECT_EQ(snapshot->chunks, std::vector<std::string>{"state@10"});
  // Only the current snapshot file is kept.
  int files = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir + "/snapshots")) {
    (void)file;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(RocksDbStoreTest, SnapshotRaisesChosenThrough) {
  auto store = Open(FreshDir("snapshot_chosen"));
  ASSERT_TRUE(SaveSnapshot(*store, 42, {"x"}).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->chosen_through, 42u);
  EXPECT_EQ(state->snapshot_slot, 42u);
}

TEST(RocksDbStoreTest, CorruptSnapshotFileIsDataLoss) {
  const std::string dir = FreshDir("corrupt_snapshot");
  auto store = Open(dir);
  ASSERT_TRUE(SaveSnapshot(*store, 3, {"good data", "more good data"}).ok());
  const auto path = std::filesystem::directory_iterator(dir + "/snapshots")->path();
  const std::string good = ReadFile(path);
  // A flipped byte, a truncated file, and a chunk length that runs past the end.
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 1;
  std::string long_length = good;
  long_length[8 + 7] = 0x7f;   // high byte of the first chunk's length
  for (const std::string& bad : {flipped, good.substr(0, good.size() - 4), long_length}) {
    std::ofstream(path, std::ios::trunc | std::ios::binary) << bad;
    EXPECT_EQ(ReadSnapshot(*store).status().code(), absl::StatusCode::kDataLoss);
  }
  std::ofstream(path, std::ios::trunc | std::ios::binary) << good;
  EXPECT_TRUE(ReadSnapshot(*store).ok());
}

// A snapshot written before snapshots were chunked (a 24-byte "S" record naming a file of one
// unframed chunk, checked by the XXH64 of the file) still loads after an upgrade.
TEST(RocksDbStoreTest, ReadsSnapshotWrittenBeforeChunking) {
  const std::string dir = FreshDir("legacy_snapshot");
  const std::string data = "a snapshot written by an older version";
  {
    std::filesystem::create_directories(dir + "/snapshots");
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir + "/rocksdb", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const uint64_t hash = XXH64(data.data(), data.size(), 0);
    std::string record;
    for (uint64_t value : {uint64_t{12}, uint64_t{data.size()}, hash}) {
      for (int shift = 56; shift >= 0; shift -= 8) record.push_back(char((value >> shift) & 0xff));
    }
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "S", record).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "C", record.substr(0, 8)).ok());
    std::ofstream(absl::StrFormat("%s/snapshots/snapshot-%020u-%016x.bin", dir, 12, hash),
                  std::ios::binary)
        << data;
  }
  auto store = Open(dir);
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->meta.last_slot, 12u);
  EXPECT_EQ(snapshot->chunks, std::vector<std::string>{data});
  EXPECT_EQ(store->Load()->snapshot_slot, 12u);
  // The next snapshot is written chunked and replaces it.
  ASSERT_TRUE(SaveSnapshot(*store, 20, {"x", "y"}).ok());
  EXPECT_EQ(ReadSnapshot(*store)->chunks, (std::vector<std::string>{"x", "y"}));
}

TEST(RocksDbStoreTest, SecondOpenOfSameDirectoryFails) {
  const std::string dir = FreshDir("locked");
  auto first = Open(dir);
  auto second = OpenRocksDbStore(dir);
  EXPECT_FALSE(second.ok());
}

// Goal: endless writes with periodic snapshots keep disk use bounded. Method: 40 rounds of
// 200 synced entries of 1 KiB (8 MiB written in total), a snapshot after each round; the
// size after the last rounds must not exceed the size seen after the early rounds by much.
TEST(RocksDbStoreTest, DiskUseLevelsOffWithSnapshots) {
  RocksDbStoreOptions options;
  options.write_buffer_bytes = 1 << 20;
  options.max_total_wal_bytes = 2 << 20;
  options.compact_every_snapshots = 2;
  auto store = Open(FreshDir("bounded"), options);
  const paxoskv::v1::Ballot ballot = MakeBallot(1, 1);
  ASSERT_TRUE(store->Write(Batch(ballot)).ok());
  SlotId slot = 0;
  uint64_t max_early = 0;
  uint64_t max_late = 0;
  constexpr int kRounds = 40;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < 20; ++i) {
      WriteBatch batch;
      for (int j = 0; j < 10; ++j) {
        ++slot;
        batch.accepted.push_back(MakeEntry(slot, ballot, absl::StrCat("k", slot), 1024));
      }
      batch.chosen_through = slot;
      ASSERT_TRUE(store->Write(batch).ok());
    }
    ASSERT_TRUE(SaveSnapshot(*store, slot, {std::string(4096, 's')}).ok());
    const uint64_t size = store->ApproximateSizeBytes();
    if (round < 10) max_early = std::max(max_early, size);
    if (round >= kRounds - 10) max_late = std::max(max_late, size);
  }
  const uint64_t written = slot * 1024;
  SCOPED_TRACE(absl::StrCat("written=", written, " max_early=", max_early,
                            " max_late=", max_late));
  RecordProperty("written_bytes", std::to_string(written));
  RecordProperty("max_early_bytes", std::to_string(max_early));
  RecordProperty("max_late_bytes", std::to_string(max_late));
  EXPECT_GT(max_early, 0u);
  // Bounded: far less than what was written, and not growing with it.
  EXPECT_LT(max_late, written / 2);
  EXPECT_LT(max_late, max_early * 2);
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->entries.empty());
  EXPECT_EQ(state->snapshot_slot, slot);
}

// The death tests run in gtest's "threadsafe" style: the child re-executes the test binary
// instead of forking a process whose RocksDB and sanitizer threads may hold locks (a forked
// child once hung until ctest's timeout under ASan). The child opens a store of its own, in
// a directory named after its pid, beside the parent's.
std::string DeathTestDir(const std::string& name) {
  return FreshDir(absl::StrCat(name, "_", getpid()));
}

TEST(RocksDbStoreDeathTest, AcceptedAbovePromisedIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto store = Open(DeathTestDir("death_write"));
  WriteBatch batch;
  batch.promised = MakeBallot(1, 1);
  batch.accepted = {MakeEntry(1, MakeBallot(2, 1), "x")};
  EXPECT_DEATH((void)store->Write(batch), "above promised");
}

TEST(RocksDbStoreDeathTest, PromisedBallotDecreaseIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto store = Open(DeathTestDir("death_promise"));
  ASSERT_TRUE(store->Write(Batch(MakeBallot(5, 1))).ok());
  EXPECT_DEATH((void)store->Write(Batch(MakeBallot(4, 3))), "would decrease");
}

TEST(RocksDbStoreTest, LearnedChosenEntryMayCarryHigherBallot) {
  auto store = Open(FreshDir("learned"));
  WriteBatch batch;
  batch.promised = MakeBallot(1, 1);
  batch.accepted = {MakeEntry(1, MakeBallot(7, 2), "learned")};
  batch.chosen_through = 1;
  ASSERT_TRUE(store->Write(batch).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->entries.size(), 1u);
}

}  // namespace
}  // namespace paxoskv::storage
