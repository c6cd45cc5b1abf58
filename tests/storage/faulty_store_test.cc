// Tests of FaultyStore: a simulated crash keeps exactly what was synced; injected I/O
// errors are reported and change nothing.
#include "libs/storage/faulty_store.h"

#include <gtest/gtest.h>

#include "tests/storage/test_util.h"

namespace paxoskv::storage {
namespace {

using testing_util::Batch;
using testing_util::EntryKey;
using testing_util::MakeBallot;
using testing_util::MakeEntry;

TEST(FaultyStoreTest, CrashDropsUnsyncedWritesButKeepsSyncedOnes) {
  FaultyStore store;
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1), {MakeEntry(1, MakeBallot(1, 1), "synced")},
                                 std::nullopt, /*sync=*/true))
                  .ok());
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(2, MakeBallot(1, 1), "volatile")},
                                 /*chosen_through=*/1, /*sync=*/false))
                  .ok());
  EXPECT_EQ(store.volatile_writes(), 1u);
  // Before the crash, reads see everything written.
  EXPECT_EQ(store.Load()->entries.size(), 2u);
  EXPECT_EQ(store.Load()->chosen_through, 1u);

  store.SimulateCrash();
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(EntryKey(state->entries[0]), "synced");
  EXPECT_EQ(state->chosen_through, 0u);
  EXPECT_EQ(state->promised.round(), 1u);
  EXPECT_EQ(store.volatile_writes(), 0u);
}

TEST(FaultyStoreTest, CrashMayKeepAPrefixOfUnsyncedWrites) {
  FaultyStore store;
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1))).ok());
  for (SlotId slot = 1; slot <= 3; ++slot) {
    ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(slot, MakeBallot(1, 1), "v")},
                                  std::nullopt, /*sync=*/false))
                    .ok());
  }
  store.SimulateCrash(/*keep_volatile=*/2);
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->entries.size(), 2u);
  EXPECT_EQ(state->entries[1].slot(), 2u);
}

TEST(FaultyStoreTest, SyncedWriteMakesEarlierUnsyncedWritesDurable) {
  FaultyStore store;
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {}, 5, /*sync=*/false)).ok());
  ASSERT_TRUE(store.Write(Batch(MakeBallot(2, 2))).ok());
  store.SimulateCrash();
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->chosen_through, 5u);
  EXPECT_EQ(state->promised.round(), 2u);
  EXPECT_EQ(store.synced_writes(), 1u);
  EXPECT_EQ(store.writes(), 2u);
}

TEST(FaultyStoreTest, SnapshotIsDurable) {
  FaultyStore store;
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1),
                                 {MakeEntry(1, MakeBallot(1, 1), "a"),
                                  MakeEntry(2, MakeBallot(1, 1), "b")},
                                 std::nullopt, /*sync=*/false))
                  .ok());
  ASSERT_TRUE(store.SaveSnapshot({.last_slot = 1, .data = "s1"}).ok());
  store.SimulateCrash();
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->snapshot_slot, 1u);
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(EntryKey(state->entries[0]), "b");
  EXPECT_EQ(store.LoadSnapshot()->data, "s1");
}

TEST(FaultyStoreTest, InjectedIoErrorsAreReturnedAndChangeNothing) {
  FaultyStore store;
  store.FailNextWrites(2);
  absl::Status first = store.Write(Batch(MakeBallot(1, 1)));
  EXPECT_EQ(first.code(), absl::StatusCode::kInternal);
  EXPECT_NE(first.message().find("I/O error"), std::string::npos);
  EXPECT_EQ(store.SaveSnapshot({.last_slot = 3, .data = "x"}).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(store.failed_writes(), 2u);
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->promised.round(), 0u);
  EXPECT_EQ(state->snapshot_slot, 0u);
  // Faults used up: writes succeed again.
  EXPECT_TRUE(store.Write(Batch(MakeBallot(1, 1))).ok());
  EXPECT_EQ(store.Load()->promised.round(), 1u);
}

TEST(FaultyStoreTest, IdentitySurvivesCrash) {
  FaultyStore store("dir-a");
  ASSERT_TRUE(store.CheckIdentity({.shard_id = 1, .replica_id = 2}).ok());
  store.SimulateCrash();
  absl::Status status = store.CheckIdentity({.shard_id = 1, .replica_id = 3});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "data directory dir-a belongs to shard 1 replica 2, not shard 1 replica 3");
}

}  // namespace
}  // namespace paxoskv::storage
