// Tests of exactly-once dedup (DESIGN "Exactly once"): a bounded window of (seq -> result)
// per client, a forgotten_below low-water mark advanced by ack_below, bounded client sessions
// that age by the leader's proposed_ms, and fingerprints that refuse a reused seq.
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
  // Both are remembered: their retries get the first results.
  EXPECT_EQ(kv.Apply(3, Put("a", "3", 1, 3, 3)).applied_slot(), 2u);
  EXPECT_EQ(kv.Apply(4, Put("b", "5", 1, 5, 3)).applied_slot(), 1u);
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
  EXPECT_EQ(kv.Apply(5, Put("a", "3", 1, 3, 3)).applied_slot(), 3u);
  EXPECT_EQ(kv.Read(Get("a")).value(), "3");
}

TEST(DedupTest, WindowIsBoundedAndEvictedSeqsBecomeStale) {
  KvStateMachine kv(KvLimits{.dedup_window_per_client = 3, .dedup_clients_max = 10,
                             .scan_limit_max = 100});
  for (uint64_t seq = 1; seq <= 5; ++seq) kv.Apply(seq, Put("k", std::to_string(seq), 1, seq));
  // Window holds 3, 4, 5; 1 and 2 were evicted.
  EXPECT_EQ(kv.Apply(10, Put("k", "dup", 1, 2)).code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(kv.Apply(11, Put("k", "3", 1, 3)).applied_slot(), 3u);
  EXPECT_EQ(kv.Read(Get("k")).value(), "5");
}

constexpr uint64_t kMinute = 60 * 1000;
const KvLimits kTwoClients{.dedup_window_per_client = 8,
                           .dedup_clients_max = 2,
                           .client_idle_ms = 10 * kMinute,
                           .client_retry_ms = 5 * kMinute,
                           .scan_limit_max = 100};

TEST(DedupTest, ClientsBeyondLimitEvictTheLeastRecentlyActiveIdleOne) {
  KvStateMachine kv(kTwoClients);
  kv.Apply(1, At(1 * kMinute, Put("a", "1", /*client_id=*/10, 1)));
  kv.Apply(2, At(2 * kMinute, Put("b", "1", /*client_id=*/20, 1)));
  kv.Apply(3, At(3 * kMinute, Put("a", "2", /*client_id=*/10, 2)));  // client 10 active again
  // Client 20 has been idle for 10 minutes: a third client evicts it.
  EXPECT_EQ(kv.Apply(4, At(12 * kMinute, Put("c", "1", /*client_id=*/30, 1))).code(),
            pb::RESULT_CODE_OK);
  pb::CommandResult page = kv.Apply(5, Scan(0, 0, 10));
  ASSERT_EQ(page.dedup_size(), 2);
  EXPECT_EQ(page.dedup(0).client_id(), 10u);
  EXPECT_EQ(page.dedup(1).client_id(), 30u);
  EXPECT_EQ(page.sessions().evicted_active_ms(), 2 * kMinute);
}

// Review F5.2: a late copy of an evicted client's command (a retry, or a copy recovered from
// a deposed leader's log) is refused as stale, never applied a second time.
TEST(DedupTest, LateCopyFromAnEvictedClientIsRefusedNotReapplied) {
  KvStateMachine kv(kTwoClients);
  kv.Apply(1, At(1 * kMinute, Delete("k", /*client_id=*/1, 1)));
  kv.Apply(2, At(1 * kMinute, Put("k", "v", /*client_id=*/2, 1)));
  kv.Apply(3, At(12 * kMinute, Put("other", "x", /*client_id=*/3, 1)));   // evicts client 1
  // A copy of client 1's delete, proposed within the retry window of its first attempt.
  pb::CommandResult late = kv.Apply(4, At(1 * kMinute + 30000, Delete("k", 1, 1)));
  EXPECT_EQ(late.code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(kv.Read(Get("k")).value(), "v");   // the second delete did not happen
  // A client proposed after the retry window is a new session, not a copy: served.
  EXPECT_EQ(kv.Apply(5, At(13 * kMinute, Put("n", "1", /*client_id=*/4, 1))).code(),
            pb::RESULT_CODE_OK);
}

// When every session is still active, a new client is refused (nothing applied): the table
// stays bounded without forgetting anyone a retry may still need.
TEST(DedupTest, NewClientIsRefusedWhileEverySessionIsActive) {
  KvStateMachine kv(kTwoClients);
  kv.Apply(1, At(1 * kMinute, Put("a", "1", 10, 1)));
  kv.Apply(2, At(2 * kMinute, Put("b", "1", 20, 1)));
  pb::CommandResult refused = kv.Apply(3, At(3 * kMinute, Put("c", "1", 30, 1)));
  EXPECT_EQ(refused.code(), pb::RESULT_CODE_RESOURCE_EXHAUSTED);
  EXPECT_EQ(kv.Read(Get("c")).code(), pb::RESULT_CODE_NOT_FOUND);
  // Known clients go on.
  EXPECT_EQ(kv.Apply(4, At(3 * kMinute, Put("a", "2", 10, 2))).code(), pb::RESULT_CODE_OK);
}

// Review F4: a client id with seq 0 is refused (a second write with the same pair would
// otherwise be answered OK and dropped).
TEST(DedupTest, ClientIdWithSeqZeroIsRefused) {
  KvStateMachine kv;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(Put("k1", "v", 7, 0))));
  EXPECT_EQ(kv.Apply(1, Put("k1", "v", 7, 0)).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(kv.Read(Get("k1")).code(), pb::RESULT_CODE_NOT_FOUND);
}

// Review F4: a (client_id, seq) reused for another command gets an error, never the first
// command's result, and nothing is applied.
TEST(DedupTest, ReusedSeqWithAnotherCommandIsAnErrorNotTheOtherResult) {
  KvStateMachine kv;
  EXPECT_EQ(kv.Apply(1, Put("k1", "v1", 7, 1)).code(), pb::RESULT_CODE_OK);
  pb::CommandResult reused = kv.Apply(2, Put("k2", "v2", 7, 1));
  EXPECT_EQ(reused.code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(reused.message().find("already used for another command"), std::string::npos);
  EXPECT_EQ(kv.Read(Get("k2")).code(), pb::RESULT_CODE_NOT_FOUND);
  // The genuine retry still gets its first result.
  EXPECT_EQ(kv.Apply(3, Put("k1", "v1", 7, 1)).applied_slot(), 1u);
}

// A hostile or buggy ack_below above the request's own seq would forget results the client
// has not received: refused.
TEST(DedupTest, AckBelowAboveSeqIsRefused) {
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateCommand(Put("k", "v", 7, 3, /*ack_below=*/9))));
  EXPECT_TRUE(ValidateCommand(Put("k", "v", 7, 3, /*ack_below=*/3)).ok());
}

// A migration carries the source's eviction watermark: a client evicted at the old shard is
// not a fresh session at the new one.
TEST(DedupTest, ImportCarriesTheEvictionWatermark) {
  KvStateMachine source(kTwoClients);
  source.Apply(1, At(1 * kMinute, Put("k", "1", 1, 1)));
  source.Apply(2, At(1 * kMinute, Put("j", "1", 2, 1)));
  source.Apply(3, At(12 * kMinute, Put("i", "1", 3, 1)));   // evicts client 1
  pb::CommandResult page = source.Apply(4, Scan(0, 0, 100));
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  *import.mutable_import_entries() = page.entries();
  *import.mutable_import_dedup() = page.dedup();
  *import.mutable_import_sessions() = page.sessions();
  KvStateMachine target(kTwoClients);
  ASSERT_EQ(target.Apply(1, At(12 * kMinute, import)).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(target.Apply(2, At(1 * kMinute + 1000, Put("k", "2", 1, 1))).code(),
            pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(target.Read(Get("k")).value(), "1");
}

// Found by command_fuzz (tests/fuzz/regressions/command/import_dedup_entry_seq_zero): an
// import whose dedup table held an entry of seq 0 was applied, and from then on the state's
// own snapshot did not restore ("dedup entry with seq 0"), so no replica could catch up from
// it or restart on it. Rule: such an import is refused, and every state Apply reaches
// restores from its snapshot.
TEST(DedupTest, ImportOfADedupEntryWithSeqZeroIsRefused) {
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  pb::DedupClient* client = import.add_import_dedup();
  client->set_client_id(5);
  client->add_entries()->set_seq(4);
  client->add_entries();   // seq 0
  EXPECT_EQ(std::string(ValidateCommand(import).message()), "import_dedup[0]: an entry has seq 0");
  KvStateMachine kv;
  EXPECT_EQ(kv.Apply(1, import).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_TRUE(Restored(SnapshotChunks(kv)).ok());
  client->mutable_entries()->RemoveLast();
  ASSERT_EQ(kv.Apply(2, import).code(), pb::RESULT_CODE_OK);
  auto restored = Restored(SnapshotChunks(kv));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->Digest(), kv.Digest());
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
