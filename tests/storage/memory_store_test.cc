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
#include "libs/storage/store_ref.h"
#include "tests/storage/test_util.h"

namespace paxoskv::storage {
namespace {

using testing_util::Batch;
using testing_util::EntryKey;
using testing_util::MakeBallot;
using testing_util::MakeEntry;

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
  ASSERT_TRUE(store->SaveSnapshot({.last_slot = 4, .data = "snap"}).ok());
  auto state = store->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->snapshot_slot, 4u);
  EXPECT_GE(state->chosen_through, 4u);
  ASSERT_EQ(state->entries.size(), 2u);
  EXPECT_EQ(state->entries[0].slot(), 5u);
  auto snapshot = store->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->last_slot, 4u);
  EXPECT_EQ(snapshot->data, "snap");
  EXPECT_GT(before, 0u);
}

TEST_P(AcceptorStoreConformanceTest, IdentityMismatchNamesBoth) {
  auto store = Make();
  ASSERT_TRUE(store->CheckIdentity({.shard_id = 4, .replica_id = 2}).ok());
  absl::Status status = store->CheckIdentity({.shard_id = 4, .replica_id = 1});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("belongs to shard 4 replica 2, not shard 4 replica 1"),
            std::string::npos)
      << status;
}

TEST_P(AcceptorStoreConformanceTest, StoreRefForwards) {
  auto store = Make();
  auto ref = MakeStoreRef(store.get());
  ASSERT_TRUE(ref->Write(Batch(MakeBallot(8, 3))).ok());
  EXPECT_EQ(store->Load()->promised.round(), 8u);
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
