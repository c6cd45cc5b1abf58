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
using testing_util::ReadSnapshot;
using testing_util::SaveSnapshot;

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
  ASSERT_TRUE(SaveSnapshot(store, 1, {"s1"}).ok());
  store.SimulateCrash();
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->snapshot_slot, 1u);
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(EntryKey(state->entries[0]), "b");
  EXPECT_EQ(ReadSnapshot(store)->chunks, std::vector<std::string>{"s1"});
}

TEST(FaultyStoreTest, InjectedIoErrorsAreReturnedAndChangeNothing) {
  FaultyStore store;
  store.FailNextWrites(2);
  absl::Status first = store.Write(Batch(MakeBallot(1, 1)));
  EXPECT_EQ(first.code(), absl::StatusCode::kInternal);
  EXPECT_NE(first.message().find("I/O error"), std::string::npos);
  EXPECT_EQ(SaveSnapshot(store, 3, {"x"}).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(store.failed_writes(), 2u);
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->promised.round(), 0u);
  EXPECT_EQ(state->snapshot_slot, 0u);
  // Faults used up: writes succeed again.
  EXPECT_TRUE(store.Write(Batch(MakeBallot(1, 1))).ok());
  EXPECT_EQ(store.Load()->promised.round(), 1u);
}

// Rule: a power cut after n durable operations keeps exactly those n (and the volatile
// writes the crash chooses to keep, a prefix of those made before the cut); the process
// goes on unaware: every later call succeeds and reads see its writes until the crash.
TEST(FaultyStoreTest, PowerCutKeepsOnlyWhatWasDurableBeforeIt) {
  FaultyStore store;
  store.CutPowerAfter(1);
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1), {MakeEntry(1, MakeBallot(1, 1), "a")})).ok());
  EXPECT_FALSE(store.power_cut());
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(2, MakeBallot(1, 1), "b")},
                                std::nullopt, /*sync=*/false))
                  .ok());
  // The second durable operation finds the power cut, yet reports success.
  ASSERT_TRUE(store.Write(Batch(MakeBallot(2, 1), {MakeEntry(3, MakeBallot(2, 1), "c")})).ok());
  EXPECT_TRUE(store.power_cut());
  ASSERT_TRUE(SaveSnapshot(store, 3, {"lost"}).ok());
  EXPECT_EQ(store.Load()->snapshot_slot, 3u);   // the running process sees its writes
  store.SimulateCrash(/*keep_volatile=*/1);     // the unsynced "b" reached the disk
  EXPECT_FALSE(store.power_cut());
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->promised.round(), 1u);
  EXPECT_EQ(state->snapshot_slot, 0u);
  ASSERT_EQ(state->entries.size(), 2u);
  EXPECT_EQ(EntryKey(state->entries[0]), "a");
  EXPECT_EQ(EntryKey(state->entries[1]), "b");
  EXPECT_TRUE(ReadSnapshot(store)->chunks.empty());
}

TEST(FaultyStoreTest, PowerCutBeforeSnapshotCommitLosesIt) {
  FaultyStore store;
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1), {MakeEntry(1, MakeBallot(1, 1), "a")})).ok());
  store.CutPowerAfter(0);
  ASSERT_TRUE(SaveSnapshot(store, 1, {"s"}).ok());
  EXPECT_TRUE(store.power_cut());
  store.SimulateCrash();
  EXPECT_EQ(store.Load()->snapshot_slot, 0u);
  EXPECT_EQ(store.Load()->entries.size(), 1u);
}

// The hook sees each batch when it becomes durable: a synced write makes earlier unsynced
// ones durable too (in order); a crash that keeps a volatile prefix reports it then.
TEST(FaultyStoreTest, DurableHookSeesBatchesWhenTheyBecomeDurable) {
  FaultyStore store;
  std::vector<std::string> seen;
  store.SetDurableHook([&seen](const WriteBatch& batch) {
    for (const auto& entry : batch.accepted) seen.push_back(EntryKey(entry));
  });
  ASSERT_TRUE(store.Write(Batch(MakeBallot(1, 1), {MakeEntry(1, MakeBallot(1, 1), "a")},
                                std::nullopt, /*sync=*/false))
                  .ok());
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(2, MakeBallot(1, 1), "b")})).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(3, MakeBallot(1, 1), "c")},
                                std::nullopt, /*sync=*/false))
                  .ok());
  ASSERT_TRUE(store.Write(Batch(std::nullopt, {MakeEntry(4, MakeBallot(1, 1), "d")},
                                std::nullopt, /*sync=*/false))
                  .ok());
  store.SimulateCrash(/*keep_volatile=*/1);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(FaultyStoreTest, IdentitySurvivesCrash) {
  FaultyStore store("dir-a");
  ASSERT_TRUE(store.CheckIdentity({.shard_id = 1, .replica_id = 2, .incarnation = 7}).ok());
  store.SimulateCrash();
  absl::StatusOr<Identity> same = store.CheckIdentity({.shard_id = 1, .replica_id = 2, .incarnation = 8});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->incarnation, 7u);
  absl::Status status = store.CheckIdentity({.shard_id = 1, .replica_id = 3, .incarnation = 9}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "data directory dir-a belongs to shard 1 replica 2, not shard 1 replica 3");
}

}  // namespace
}  // namespace paxoskv::storage
