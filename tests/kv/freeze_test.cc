// Tests of the migration fence (OP_FREEZE_RANGES): after it, key ops in a frozen range are
// refused with RESULT_CODE_WRONG_SHARD, never applied and never remembered by dedup, while
// earlier results stay deduplicated and other keys are unaffected; the fence is in snapshots.
#include <string>

#include <gtest/gtest.h>

#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

// A range holding exactly the hash of `key` (and nothing of "other-*" keys in practice).
pb::Command FreezeKey(const std::string& key, uint64_t freeze_id = 1) {
  pb::Command command;
  command.set_op(pb::OP_FREEZE_RANGES);
  command.set_freeze_id(freeze_id);
  auto* range = command.add_freeze_ranges();
  range->set_begin(KeyHash(key));
  range->set_end(KeyHash(key) + 1);
  return command;
}

TEST(FreezeTest, FrozenKeyOpsAreRefusedAndNotApplied) {
  KvStateMachine kv;
  kv.Apply(1, Put("moving", "before", 9, 1));
  kv.Apply(2, Put("staying", "x", 9, 2));
  ASSERT_EQ(kv.Apply(3, FreezeKey("moving")).code(), pb::RESULT_CODE_OK);

  EXPECT_EQ(kv.Apply(4, Put("moving", "late", 9, 3)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(kv.Apply(5, Delete("moving", 9, 4)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(kv.Apply(6, Get("moving")).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(kv.Read(Get("moving")).code(), pb::RESULT_CODE_WRONG_SHARD);
  // The value the scan will carry away is the one from before the fence.
  pb::CommandResult scan = kv.Apply(7, Scan(KeyHash("moving"), KeyHash("moving") + 1, 10));
  ASSERT_EQ(scan.entries_size(), 1);
  EXPECT_EQ(scan.entries(0).value(), "before");
  // Other keys are served as usual.
  EXPECT_EQ(kv.Apply(8, Put("staying", "y", 9, 5)).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.Read(Get("staying")).value(), "y");
}

TEST(FreezeTest, RefusalIsNotRememberedButEarlierResultsAre) {
  KvStateMachine kv;
  kv.Apply(1, Put("moving", "v", 9, 1));
  kv.Apply(2, FreezeKey("moving"));
  // seq 1 was applied before the fence: its retry returns the first result.
  EXPECT_EQ(kv.Apply(3, Put("moving", "v", 9, 1)).code(), pb::RESULT_CODE_OK);
  // seq 2 is refused, and a retry of seq 2 is refused again (not a stored OK or a stale).
  EXPECT_EQ(kv.Apply(4, Put("moving", "w", 9, 2)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(kv.Apply(5, Put("moving", "w", 9, 2)).code(), pb::RESULT_CODE_WRONG_SHARD);
  // The dedup table carried to the new shard does not hold seq 2, so it can run there.
  pb::Command first_page = Scan(0, 0, 10);
  pb::CommandResult page = kv.Apply(6, first_page);
  ASSERT_EQ(page.dedup_size(), 1);
  for (const auto& entry : page.dedup(0).entries()) EXPECT_NE(entry.seq(), 2u);
}

TEST(FreezeTest, FenceSurvivesSnapshotAndIsIdempotent) {
  KvStateMachine kv;
  kv.Apply(1, FreezeKey("moving"));
  kv.Apply(2, FreezeKey("moving"));   // the master may resend it after a restart
  auto copy = Restored(SnapshotChunks(kv));
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->Apply(3, Put("moving", "x", 1, 1)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(SnapshotChunks(*copy), SnapshotChunks(kv));
}

// Rule: a fence is lifted by the operation that set it (its freeze_id), and only that one.
TEST(FreezeTest, UnfreezeLiftsOnlyItsOwnFence) {
  KvStateMachine kv;
  kv.Apply(1, FreezeKey("a", /*freeze_id=*/7));
  kv.Apply(2, FreezeKey("b", /*freeze_id=*/8));
  pb::Command unfreeze;
  unfreeze.set_op(pb::OP_UNFREEZE_RANGES);
  unfreeze.set_freeze_id(7);
  pb::CommandResult lifted = kv.Apply(3, unfreeze);
  EXPECT_EQ(lifted.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(lifted.existed());
  EXPECT_EQ(kv.Apply(4, Put("a", "x", 1, 1)).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.Apply(5, Put("b", "x", 1, 2)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_FALSE(kv.Apply(6, unfreeze).existed());   // nothing left to lift
  // The lifted fence stays lifted across a snapshot.
  auto copy = Restored(SnapshotChunks(kv));
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->Apply(7, Put("a", "y", 1, 3)).code(), pb::RESULT_CODE_OK);
}

// Rule: ranges that come back to a shard (a removed shard gives them back) are lifted from
// every fence by naming them; what each fence holds outside them stays fenced, through a
// snapshot too. Naming both a fence and ranges is refused.
TEST(FreezeTest, UnfreezingRangesLiftsExactlyThem) {
  KvStateMachine kv;
  // One fence over a wide range around "a"'s hash, another over "b"'s hash alone.
  pb::Command wide;
  wide.set_op(pb::OP_FREEZE_RANGES);
  wide.set_freeze_id(7);
  pb::HashRange* range = wide.add_freeze_ranges();
  range->set_begin(KeyHash("a") - 1000);
  range->set_end(KeyHash("a") + 1000);
  kv.Apply(1, wide);
  kv.Apply(2, FreezeKey("b", /*freeze_id=*/8));
  pb::Command unfreeze;
  unfreeze.set_op(pb::OP_UNFREEZE_RANGES);
  pb::HashRange* back = unfreeze.add_freeze_ranges();
  back->set_begin(KeyHash("a"));
  back->set_end(KeyHash("a") + 1);
  ASSERT_TRUE(ValidateMigrationCommand(unfreeze).ok());
  pb::CommandResult lifted = kv.Apply(3, unfreeze);
  EXPECT_EQ(lifted.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(lifted.existed());
  EXPECT_EQ(kv.Apply(4, Put("a", "x", 1, 1)).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.Apply(5, Put("b", "x", 1, 2)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_FALSE(kv.Apply(6, unfreeze).existed());  // nothing fenced there any more
  // The rest of the wide fence holds: a range just beside "a"'s hash is still fenced.
  pb::Command beside = unfreeze;
  beside.mutable_freeze_ranges(0)->set_begin(KeyHash("a") + 1);
  beside.mutable_freeze_ranges(0)->set_end(KeyHash("a") + 2);
  auto copy = Restored(SnapshotChunks(kv));
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_TRUE(copy->Apply(7, beside).existed());
  EXPECT_EQ(copy->Apply(8, Put("a", "y", 1, 3)).code(), pb::RESULT_CODE_OK);
  unfreeze.set_freeze_id(7);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(unfreeze)));
}

// A fence without an id could never be lifted: refused.
TEST(FreezeTest, FenceNeedsAnId) {
  pb::Command command = FreezeKey("a", /*freeze_id=*/0);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(command)));
  pb::Command unfreeze;
  unfreeze.set_op(pb::OP_UNFREEZE_RANGES);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(unfreeze)));
}

// Rule: a client may not freeze anything: Replica.Execute takes GET, PUT and DELETE only,
// the migration service nothing else.
TEST(FreezeTest, MigrationOpsAreNotClientOps) {
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateClientCommand(FreezeKey("a"))));
  EXPECT_TRUE(ValidateMigrationCommand(FreezeKey("a")).ok());
  EXPECT_TRUE(ValidateClientCommand(Put("a", "b")).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateMigrationCommand(Put("a", "b"))));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateClientCommand(Scan(0, 0, 10))));
}

TEST(FreezeTest, EmptyFenceIsInvalid) {
  pb::Command command;
  command.set_op(pb::OP_FREEZE_RANGES);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(command)));
}

}  // namespace
}  // namespace paxoskv::kv
