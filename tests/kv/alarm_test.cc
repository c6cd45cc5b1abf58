// Tests of the NOSPACE alarm (OP_ALARM): while one is raised a put is refused with
// RESULT_CODE_NOSPACE, applies nothing and is not remembered (a retry after the alarm is
// cleared applies it), a copy of a put applied before still gets its first result, gets and
// deletes work; alarms are raised per member, cleared per member or all at once, kept in
// snapshots, and only clears are taken from outside (Replica.Execute).
#include <gtest/gtest.h>

#include <string>

#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

pb::Command Alarm(bool activate, uint32_t member_id) {
  pb::Command command;
  command.set_op(pb::OP_ALARM);
  command.mutable_alarm()->set_activate(activate);
  command.mutable_alarm()->mutable_alarm()->set_member_id(member_id);
  command.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NOSPACE);
  return command;
}

TEST(AlarmTest, NoSpaceRefusesPutsOnlyAndRemembersNothing) {
  KvStateMachine kv;
  ASSERT_EQ(kv.Apply(1, Put("a", "1", 7, 1)).code(), pb::RESULT_CODE_OK);
  ASSERT_EQ(kv.Apply(2, Put("b", "2", 7, 2)).code(), pb::RESULT_CODE_OK);
  pb::CommandResult raised = kv.Apply(3, Alarm(true, 2));
  ASSERT_EQ(raised.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(raised.existed());
  EXPECT_TRUE(kv.HasAlarm(2, pb::ALARM_NOSPACE));
  const uint64_t before = kv.Digest();

  EXPECT_EQ(kv.Apply(4, Put("c", "3", 7, 3)).code(), pb::RESULT_CODE_NOSPACE);
  EXPECT_EQ(kv.Apply(5, Put("a", "changed", 8, 1)).code(), pb::RESULT_CODE_NOSPACE);
  EXPECT_EQ(kv.Apply(6, Put("d", "anonymous")).code(), pb::RESULT_CODE_NOSPACE);
  EXPECT_EQ(kv.Digest(), before) << "a refused put changed the state";
  // A copy of a put applied before the alarm gets its first result.
  EXPECT_EQ(kv.Apply(7, Put("b", "2", 7, 2)).code(), pb::RESULT_CODE_OK);
  // Reads and deletes work.
  EXPECT_EQ(kv.Read(Get("a")).value(), "1");
  EXPECT_EQ(kv.Apply(8, Get("a", 7, 4)).value(), "1");
  pb::CommandResult deleted = kv.Apply(9, Delete("b", 7, 5));
  EXPECT_EQ(deleted.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(deleted.existed());

  // Cleared: the refused (client_id, seq) was not remembered, so its retry applies.
  ASSERT_EQ(kv.Apply(10, Alarm(false, 2)).code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(kv.alarms().empty());
  EXPECT_EQ(kv.Apply(11, Put("c", "3", 7, 3)).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.Read(Get("c")).value(), "3");
}

TEST(AlarmTest, RaisedPerMemberClearedPerMemberOrAll) {
  KvStateMachine kv;
  kv.Apply(1, Alarm(true, 1));
  kv.Apply(2, Alarm(true, 3));
  EXPECT_FALSE(kv.Apply(3, Alarm(true, 3)).existed()) << "raised twice";
  ASSERT_EQ(kv.alarms().size(), 2u);
  EXPECT_EQ(kv.alarms()[0].member_id(), 1u);
  EXPECT_EQ(kv.alarms()[1].member_id(), 3u);
  EXPECT_TRUE(kv.Apply(4, Alarm(false, 1)).existed());
  EXPECT_FALSE(kv.HasAlarm(1, pb::ALARM_NOSPACE));
  EXPECT_EQ(kv.Apply(5, Put("x", "y")).code(), pb::RESULT_CODE_NOSPACE) << "member 3's alarm";
  kv.Apply(6, Alarm(true, 2));
  EXPECT_TRUE(kv.Apply(7, Alarm(false, 0)).existed());
  EXPECT_TRUE(kv.alarms().empty());
  EXPECT_FALSE(kv.Apply(8, Alarm(false, 0)).existed());
  EXPECT_EQ(kv.Apply(9, Put("x", "y")).code(), pb::RESULT_CODE_OK);
}

TEST(AlarmTest, AlarmsTravelInSnapshots) {
  KvStateMachine kv;
  kv.Apply(1, Put("k", "v"));
  kv.Apply(2, Alarm(true, 3));
  auto restored = Restored(SnapshotChunks(kv, /*chunk_bytes=*/1));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->HasAlarm(3, pb::ALARM_NOSPACE));
  EXPECT_EQ(restored->Digest(), kv.Digest());
  EXPECT_EQ(restored->Apply(3, Put("k2", "v")).code(), pb::RESULT_CODE_NOSPACE);
}

TEST(AlarmTest, OnlyClearsComeFromOutside) {
  EXPECT_TRUE(ValidateClientCommand(Alarm(false, 0)).ok());
  EXPECT_TRUE(ValidateClientCommand(Alarm(false, 2)).ok());
  EXPECT_EQ(ValidateClientCommand(Alarm(true, 2)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMigrationCommand(Alarm(false, 0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateCommand(Alarm(true, 2)).ok());
  EXPECT_EQ(ValidateCommand(Alarm(true, 0)).code(), absl::StatusCode::kInvalidArgument);
  pb::Command untyped = Alarm(false, 0);
  untyped.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NONE);
  EXPECT_EQ(ValidateCommand(untyped).code(), absl::StatusCode::kInvalidArgument);
  KvStateMachine kv;
  EXPECT_EQ(kv.Apply(1, untyped).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace paxoskv::kv
