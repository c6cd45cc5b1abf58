// Tests of exactly-once dedup (DESIGN "Exactly once"): a bounded window of (seq -> result)
// per client, a forgotten_below low-water mark advanced by ack_below, and bounded clients.
#include <string>

#include <gtest/gtest.h>

#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

TEST(DedupTest, RetryReturnsFirstResultWithoutReapplying) {
  KvStateMachine kv;
  kv.Apply(1, Put("k", "v"));
  pb::CommandResult first = kv.Apply(2, Delete("k", /*client_id=*/5, /*seq=*/1));
  EXPECT_TRUE(first.existed());
  kv.Apply(3, Put("k", "again"));
  pb::CommandResult retry = kv.Apply(4, Delete("k", 5, 1));
  EXPECT_TRUE(retry.existed());          // the first answer
  EXPECT_EQ(retry.applied_slot(), 2u);   // from the first application
  EXPECT_EQ(kv.Read(Get("k")).value(), "again");  // not deleted a second time
}

// The classic trap: a late duplicate of an old seq must neither be re-applied nor be answered
// with the result of another request of the same client.
TEST(DedupTest, LateDuplicateOfOldSeqIsNeitherReappliedNorAnsweredWithAnotherResult) {
  KvStateMachine kv;
  kv.Apply(1, Put("x", "old", 1, 1));
  pb::CommandResult get2 = kv.Apply(2, Get("x", 1, 2));
  EXPECT_EQ(get2.value(), "old");
  kv.Apply(3, Put("x", "new", 1, 3));
  pb::CommandResult get4 = kv.Apply(4, Get("x", 1, 4));
  EXPECT_EQ(get4.value(), "new");
  // Late duplicate of seq 1 (PUT x=old) arrives after seq 3: not re-applied.
  pb::CommandResult late = kv.Apply(5, Put("x", "old", 1, 1));
  EXPECT_EQ(late.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(late.applied_slot(), 1u);
  EXPECT_EQ(kv.Read(Get("x")).value(), "new");
  // Late duplicate of the GET seq 2: its own first answer, not seq 4's.
  pb::CommandResult late_get = kv.Apply(6, Get("x", 1, 2));
  EXPECT_EQ(late_get.value(), "old");
  EXPECT_EQ(late_get.applied_slot(), 2u);
}

TEST(DedupTest, ConcurrentSeqsFromOneClientBothApplyOutOfOrder) {
  KvStateMachine kv;
  // The client has seqs 3 and 5 in flight (results of 1 and 2 received: ack_below = 3).
  pb::CommandResult five = kv.Apply(1, Put("b", "5", 1, 5, /*ack_below=*/3));
  pb::CommandResult three = kv.Apply(2, Put("a", "3", 1, 3, /*ack_below=*/3));
  EXPECT_EQ(five.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(three.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.Read(Get("a")).value(), "3");
  EXPECT_EQ(kv.Read(Get("b")).value(), "5");
  // Both are remembered.
  EXPECT_EQ(kv.Apply(3, Put("a", "other", 1, 3)).applied_slot(), 2u);
  EXPECT_EQ(kv.Apply(4, Put("b", "other", 1, 5)).applied_slot(), 1u);
  EXPECT_EQ(kv.Read(Get("a")).value(), "3");
}

TEST(DedupTest, AckBelowForgetsResultsAndMakesOlderSeqsStale) {
  KvStateMachine kv;
  kv.Apply(1, Put("a", "1", 1, 1));
  kv.Apply(2, Put("a", "2", 1, 2));
  kv.Apply(3, Put("a", "3", 1, 3, /*ack_below=*/3));
  pb::CommandResult stale = kv.Apply(4, Put("a", "1", 1, 1));
  EXPECT_EQ(stale.code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(stale.message(), "request too old to deduplicate; outcome unknown");
  EXPECT_EQ(kv.Read(Get("a")).value(), "3");
  // Seq 3 itself is still remembered.
  EXPECT_EQ(kv.Apply(5, Put("a", "x", 1, 3)).applied_slot(), 3u);
  EXPECT_EQ(kv.Read(Get("a")).value(), "3");
}

TEST(DedupTest, WindowIsBoundedAndEvictedSeqsBecomeStale) {
  KvStateMachine kv(KvLimits{.dedup_window_per_client = 3, .dedup_clients_max = 10,
                             .scan_limit_max = 100});
  for (uint64_t seq = 1; seq <= 5; ++seq) kv.Apply(seq, Put("k", std::to_string(seq), 1, seq));
  // Window holds 3, 4, 5; 1 and 2 were evicted.
  EXPECT_EQ(kv.Apply(10, Put("k", "dup", 1, 2)).code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(kv.Apply(11, Put("k", "dup", 1, 3)).applied_slot(), 3u);
  EXPECT_EQ(kv.Read(Get("k")).value(), "5");
}

TEST(DedupTest, ClientsBeyondLimitEvictLeastRecentlyActive) {
  KvStateMachine kv(KvLimits{.dedup_window_per_client = 8, .dedup_clients_max = 2,
                             .scan_limit_max = 100});
  kv.Apply(1, Put("a", "1", /*client_id=*/10, 1));
  kv.Apply(2, Put("b", "1", /*client_id=*/20, 1));
  kv.Apply(3, Put("a", "2", /*client_id=*/10, 2));  // client 10 active again
  kv.Apply(4, Put("c", "1", /*client_id=*/30, 1));  // evicts client 20 (last_slot 2)
  pb::Command scan = Scan(0, 0, 10);
  pb::CommandResult page = kv.Apply(5, scan);
  ASSERT_EQ(page.dedup_size(), 2);
  EXPECT_EQ(page.dedup(0).client_id(), 10u);
  EXPECT_EQ(page.dedup(1).client_id(), 30u);
  // Client 20 forgotten entirely: its retry is applied again (the documented limit).
  EXPECT_EQ(kv.Apply(6, Put("b", "again", 20, 1)).applied_slot(), 6u);
}

TEST(DedupTest, ScansAreNotRememberedAndRunAgainOnRetry) {
  KvStateMachine kv;
  kv.Apply(1, Put("a", "1"));
  pb::Command scan = Scan(0, 0, 10);
  scan.set_client_id(4);
  scan.set_seq(1);
  EXPECT_EQ(kv.Apply(2, scan).entries_size(), 1);
  kv.Apply(3, Put("b", "2"));
  pb::CommandResult retry = kv.Apply(4, scan);
  EXPECT_EQ(retry.entries_size(), 2);  // a fresh read
  EXPECT_EQ(retry.applied_slot(), 4u);
  EXPECT_EQ(retry.dedup_size(), 0);     // client 4 was never recorded
}

TEST(DedupTest, ClientIdZeroBypassesDedup) {
  KvStateMachine kv;
  kv.Apply(1, Put("k", "1"));
  EXPECT_TRUE(kv.Apply(2, Delete("k")).existed());
  kv.Apply(3, Put("k", "1"));
  EXPECT_TRUE(kv.Apply(4, Delete("k")).existed());  // same (0, 0), applied again
}

TEST(DedupTest, DedupTableTravelsWithTheFirstScanPageOnly) {
  KvStateMachine kv;
  kv.Apply(1, Put("a", "1", 7, 1));
  pb::Command first = Scan(0, 0, 10);
  pb::CommandResult page = kv.Apply(2, first);
  ASSERT_EQ(page.dedup_size(), 1);
  EXPECT_EQ(page.dedup(0).client_id(), 7u);
  ASSERT_EQ(page.dedup(0).entries_size(), 1);
  EXPECT_EQ(page.dedup(0).entries(0).seq(), 1u);
  EXPECT_EQ(page.dedup(0).last_slot(), 1u);
  pb::Command next = first;
  next.set_scan_started(true);
  EXPECT_EQ(kv.Apply(3, next).dedup_size(), 0);
}

}  // namespace
}  // namespace paxoskv::kv
