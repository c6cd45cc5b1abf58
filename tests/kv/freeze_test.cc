// Tests of the migration fence (OP_FREEZE_RANGES): after it, key ops in a frozen range are
// refused with RESULT_CODE_WRONG_SHARD, never applied and never remembered by dedup, while
// earlier results stay deduplicated and other keys are unaffected; the fence is in snapshots.
#include <string>

#include <gtest/gtest.h>

#include "libs/kv/key_hash.h"
#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

// A range holding exactly the hash of `key` (and nothing of "other-*" keys in practice).
pb::Command FreezeKey(const std::string& key) {
  pb::Command command;
  command.set_op(pb::OP_FREEZE_RANGES);
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
  KvStateMachine copy;
  ASSERT_TRUE(copy.Restore(kv.Snapshot()).ok());
  EXPECT_EQ(copy.Apply(3, Put("moving", "x", 1, 1)).code(), pb::RESULT_CODE_WRONG_SHARD);
  EXPECT_EQ(copy.Snapshot(), kv.Snapshot());
}

TEST(FreezeTest, EmptyFenceIsInvalid) {
  pb::Command command;
  command.set_op(pb::OP_FREEZE_RANGES);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(command)));
}

}  // namespace
}  // namespace paxoskv::kv
