// Conformance tests run against every AcceptorStore (memory, faulty, RocksDB): the twins
// must behave like the real store so tests of the core and the replica mean something.
#include "libs/storage/memory_store.h"

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "libs/storage/faulty_store.h"
#include "libs/storage/rocksdb_store.h"
#include "tests/storage/test_util.h"

namespace paxoskv::storage {
namespace {

using testing_util::Batch;
using testing_util::EntryKey;
using testing_util::MakeBallot;
using testing_util::MakeEntry;
using testing_util::ReadSnapshot;
using testing_util::SaveSnapshot;

struct StoreKind {
  std::string name;
  std::function<std::unique_ptr<AcceptorStore>(const std::string& test_name)> make;
};

// Keeps gtest from printing the std::function bytes in test names and failures.
void PrintTo(const StoreKind& kind, std::ostream* out) { *out << kind.name; }

class AcceptorStoreConformanceTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  std::unique_ptr<AcceptorStore> Make() {
    return GetParam().make(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
};

TEST_P(AcceptorStoreConformanceTest, LoadReturnsEntriesInSlotOrder) {
  auto store = Make();
  WriteBatch batch;
  batch.promised = MakeBallot(2, 1);
  batch.accepted = {MakeEntry(9, MakeBallot(2, 1), "c"), MakeEntry(1, MakeBallot(1, 1), "a"),
                    MakeEntry(4, MakeBallot(2, 1), "b")};
  ASSERT_TRUE(store->Write(batch).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->entries.size(), 3u);
  EXPECT_EQ(EntryKey(state->entries[0]), "a");
  EXPECT_EQ(EntryKey(state->entries[1]), "b");
  EXPECT_EQ(EntryKey(state->entries[2]), "c");
  EXPECT_EQ(state->promised.round(), 2u);
}

TEST_P(AcceptorStoreConformanceTest, UpsertBySlotReplacesValue) {
  auto store = Make();
  ASSERT_TRUE(store->Write(Batch(MakeBallot(3, 1), {MakeEntry(1, MakeBallot(1, 1), "old")}))
                  .ok());
  ASSERT_TRUE(store->Write(Batch(std::nullopt, {MakeEntry(1, MakeBallot(3, 1), "new")})).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(EntryKey(state->entries[0]), "new");
  EXPECT_EQ(state->entries[0].ballot().round(), 3u);
}

TEST_P(AcceptorStoreConformanceTest, SnapshotDropsCoveredEntries) {
  auto store = Make();
  WriteBatch batch;
  batch.promised = MakeBallot(1, 1);
  for (SlotId slot = 1; slot <= 6; ++slot) {
    batch.accepted.push_back(MakeEntry(slot, MakeBallot(1, 1), absl::StrCat("k", slot)));
  }
  ASSERT_TRUE(store->Write(batch).ok());
  const uint64_t before = store->ApproximateSizeBytes();
  ASSERT_TRUE(SaveSnapshot(*store, 4, {"snap"}).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->snapshot_slot, 4u);
  EXPECT_GE(state->chosen_through, 4u);
  ASSERT_EQ(state->entries.size(), 2u);
  EXPECT_EQ(state->entries[0].slot(), 5u);
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->meta.last_slot, 4u);
  EXPECT_EQ(snapshot->chunks, std::vector<std::string>{"snap"});
  EXPECT_GT(before, 0u);
}

TEST_P(AcceptorStoreConformanceTest, IdentityMismatchNamesBoth) {
  auto store = Make();
  ASSERT_TRUE(store->CheckIdentity({.shard_id = 4, .replica_id = 2, .incarnation = 5}).ok());
  absl::Status status =
      store->CheckIdentity({.shard_id = 4, .replica_id = 1, .incarnation = 5}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("belongs to shard 4 replica 2, not shard 4 replica 1"),
            std::string::npos)
      << status;
}

// Goal: a data directory's incarnation is made once, on its first start, and kept: a later
// start gets the stored one whatever it asks for, and a new directory refuses incarnation 0.
TEST_P(AcceptorStoreConformanceTest, IncarnationIsMadeOnceAndKept) {
  auto store = Make();
  EXPECT_EQ(store->CheckIdentity({.shard_id = 1, .replica_id = 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Identity> first =
      store->CheckIdentity({.shard_id = 1, .replica_id = 2, .incarnation = 0xabc});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->incarnation, 0xabcu);
  absl::StatusOr<Identity> again =
      store->CheckIdentity({.shard_id = 1, .replica_id = 2, .incarnation = 0xdef});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->incarnation, 0xabcu);
}

// Goal: a snapshot of many chunks (a state far larger than one chunk) reads back exactly,
// with a meta that describes it. Method: 500 chunks of distinct sizes, one of them empty.
TEST_P(AcceptorStoreConformanceTest, SnapshotOfManyChunksRoundTrips) {
  auto store = Make();
  std::vector<std::string> chunks;
  uint64_t bytes = 0;
  SnapshotDigest digest;
  for (int i = 0; i < 500; ++i) {
    chunks.push_back(std::string(static_cast<size_t>(i % 37), static_cast<char>('a' + i % 26)));
    bytes += chunks.back().size();
    digest.Add(chunks.back());
  }
  ASSERT_TRUE(SaveSnapshot(*store, 77, chunks).ok());
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->chunks, chunks);
  EXPECT_EQ(snapshot->meta.last_slot, 77u);
  EXPECT_EQ(snapshot->meta.chunks, 500u);
  EXPECT_EQ(snapshot->meta.bytes, bytes);
  EXPECT_EQ(snapshot->meta.digest, digest.value());
}

TEST_P(AcceptorStoreConformanceTest, NoSnapshotReadsAsEmpty) {
  auto store = Make();
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->meta.last_slot, 0u);
  EXPECT_TRUE(snapshot->chunks.empty());
}

// An uncommitted writer changes nothing, and a snapshot older than the current one is
// ignored even when its writer was opened first (two writers racing to commit).
TEST_P(AcceptorStoreConformanceTest, OnlyCommittedNewestSnapshotCounts) {
  auto store = Make();
  {
    auto abandoned = store->NewSnapshot(50);
    ASSERT_TRUE(abandoned.ok());
    ASSERT_TRUE((*abandoned)->Append("never committed").ok());
  }
  EXPECT_EQ(store->Load()->snapshot_slot, 0u);
  auto older = store->NewSnapshot(5);
  ASSERT_TRUE(older.ok());
  ASSERT_TRUE((*older)->Append("old").ok());
  ASSERT_TRUE(SaveSnapshot(*store, 9, {"new"}).ok());
  ASSERT_TRUE((*older)->Commit().ok());
  auto snapshot = ReadSnapshot(*store);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->meta.last_slot, 9u);
  EXPECT_EQ(snapshot->chunks, std::vector<std::string>{"new"});
  EXPECT_EQ(store->Load()->snapshot_slot, 9u);
}

// A reader opened before a newer snapshot is committed still reads its own snapshot whole
// (a snapshot being sent to a peer while the replica takes the next one).
TEST_P(AcceptorStoreConformanceTest, ReaderKeepsItsSnapshotAcrossNewerCommit) {
  auto store = Make();
  ASSERT_TRUE(SaveSnapshot(*store, 3, {"a", "b"}).ok());
  auto reader = store->OpenSnapshot();
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(SaveSnapshot(*store, 6, {"c"}).ok());
  auto chunks = ReadAllChunks(**reader);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  EXPECT_EQ(*chunks, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*reader)->meta().last_slot, 3u);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, AcceptorStoreConformanceTest,
    ::testing::Values(
        StoreKind{"Memory",
                  [](const std::string&) { return std::make_unique<MemoryStore>(); }},
        StoreKind{"Faulty",
                  [](const std::string&) { return std::make_unique<FaultyStore>(); }},
        StoreKind{"RocksDb",
                  [](const std::string& test_name) -> std::unique_ptr<AcceptorStore> {
                    const std::string dir = absl::StrCat(
                        ::testing::TempDir(), "/paxoskv_conformance_", test_name);
                    std::filesystem::remove_all(dir);
                    auto store = OpenRocksDbStore(dir);
                    EXPECT_TRUE(store.ok()) << store.status();
                    return std::move(store).value();
                  }}),
    [](const ::testing::TestParamInfo<StoreKind>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace paxoskv::storage
