// Tests of KvStateMachine: every op, import/delete_keys, snapshots (equality, determinism,
// restore), Read, and input validation.
#include "libs/kv/kv_state_machine.h"

#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "libs/common/limits.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

TEST(KvStateMachineTest, CompareAndSetPutsOnlyWhenTheCompareHolds) {
  KvStateMachine kv;
  const std::string one = "1";
  const std::string two = "2";
  // Absent: only an expect-absent compare holds.
  pb::CommandResult failed = kv.Apply(1, Cas("k", &one, "x"));
  EXPECT_EQ(failed.code(), pb::RESULT_CODE_OK);
  EXPECT_FALSE(failed.succeeded());
  EXPECT_FALSE(failed.existed());
  EXPECT_EQ(kv.Apply(2, Get("k")).code(), pb::RESULT_CODE_NOT_FOUND);
  pb::CommandResult created = kv.Apply(3, Cas("k", nullptr, one));
  EXPECT_TRUE(created.succeeded());
  EXPECT_FALSE(created.existed());
  EXPECT_EQ(kv.Apply(4, Get("k")).value(), "1");
  // Present: an expect-absent compare fails and returns the current value.
  failed = kv.Apply(5, Cas("k", nullptr, "y"));
  EXPECT_FALSE(failed.succeeded());
  EXPECT_TRUE(failed.existed());
  EXPECT_EQ(failed.value(), "1");
  // The wrong value fails likewise; the right one puts.
  failed = kv.Apply(6, Cas("k", &two, "y"));
  EXPECT_FALSE(failed.succeeded());
  EXPECT_EQ(failed.value(), "1");
  EXPECT_EQ(kv.Apply(7, Get("k")).value(), "1");
  EXPECT_TRUE(kv.Apply(8, Cas("k", &one, two)).succeeded());
  EXPECT_EQ(kv.Apply(9, Get("k")).value(), "2");
  // A retry of a CAS that succeeded gets its first answer, not a failed compare against the
  // value it put itself.
  EXPECT_TRUE(kv.Apply(10, Cas("k", &two, "3", 7, 1)).succeeded());
  EXPECT_TRUE(kv.Apply(11, Cas("k", &two, "3", 7, 1)).succeeded());
  EXPECT_EQ(kv.Apply(12, Get("k")).value(), "3");
  // Both compares at once is malformed.
  pb::Command both = Cas("k", &one, "z");
  both.set_cas_expect_absent(true);
  EXPECT_EQ(kv.Apply(13, both).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(kv.Apply(14, Get("k")).value(), "3");
}

TEST(KvStateMachineTest, PutGetDelete) {
  KvStateMachine kv;
  EXPECT_EQ(kv.Apply(1, Get("a")).code(), pb::RESULT_CODE_NOT_FOUND);
  pb::CommandResult put = kv.Apply(2, Put("a", "1"));
  EXPECT_EQ(put.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(put.applied_slot(), 2u);
  pb::CommandResult get = kv.Apply(3, Get("a"));
  EXPECT_EQ(get.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(get.value(), "1");
  kv.Apply(4, Put("a", "22"));
  EXPECT_EQ(kv.Apply(5, Get("a")).value(), "22");
  EXPECT_EQ(kv.key_count(), 1u);
  EXPECT_EQ(kv.approximate_bytes(), 3u);  // "a" + "22"
  pb::CommandResult deleted = kv.Apply(6, Delete("a"));
  EXPECT_EQ(deleted.code(), pb::RESULT_CODE_OK);
  EXPECT_TRUE(deleted.existed());
  EXPECT_FALSE(kv.Apply(7, Delete("a")).existed());
  EXPECT_EQ(kv.Apply(8, Get("a")).code(), pb::RESULT_CODE_NOT_FOUND);
  EXPECT_EQ(kv.key_count(), 0u);
  EXPECT_EQ(kv.approximate_bytes(), 0u);
}

TEST(KvStateMachineTest, EmptyValueIsAValue) {
  KvStateMachine kv;
  kv.Apply(1, Put("k", ""));
  pb::CommandResult get = kv.Read(Get("k"));
  EXPECT_EQ(get.code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(get.value(), "");
  // And it survives a snapshot (proto3 omits the empty field on the wire).
  auto copy = Restored(SnapshotChunks(kv));
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->Read(Get("k")).code(), pb::RESULT_CODE_OK);
}

TEST(KvStateMachineTest, ReadServesGetsWithoutDedup) {
  KvStateMachine kv;
  kv.Apply(1, Put("a", "x"));
  EXPECT_EQ(kv.Read(Get("a")).value(), "x");
  EXPECT_EQ(kv.Read(Get("b")).code(), pb::RESULT_CODE_NOT_FOUND);
  EXPECT_EQ(kv.Read(Put("a", "y")).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(kv.Read(Get("")).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
}

TEST(KvStateMachineTest, ImportInsertsEntriesAndDeleteKeysRemovesThem) {
  KvStateMachine kv;
  kv.Apply(1, Put("keep", "k"));
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  for (int i = 0; i < 5; ++i) {
    pb::KeyValue* entry = import.add_import_entries();
    entry->set_key("m" + std::to_string(i));
    entry->set_value("v" + std::to_string(i));
  }
  EXPECT_EQ(kv.Apply(2, import).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.key_count(), 6u);
  EXPECT_EQ(kv.Read(Get("m3")).value(), "v3");

  pb::Command remove;
  remove.set_op(pb::OP_DELETE_KEYS);
  for (int i = 0; i < 5; ++i) remove.add_keys("m" + std::to_string(i));
  remove.add_keys("absent");
  EXPECT_EQ(kv.Apply(3, remove).code(), pb::RESULT_CODE_OK);
  EXPECT_EQ(kv.key_count(), 1u);
  EXPECT_EQ(kv.Read(Get("keep")).value(), "k");
}

TEST(KvStateMachineTest, ImportMergesDedupTables) {
  KvStateMachine kv;
  // Local window of client 7: seq 10 applied here.
  kv.Apply(1, Put("a", "1", /*client_id=*/7, /*seq=*/10));
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  pb::DedupClient* client = import.add_import_dedup();
  client->set_client_id(7);
  client->set_forgotten_below(5);
  pb::DedupEntry* entry = client->add_entries();
  entry->set_seq(6);
  entry->mutable_result()->set_existed(true);
  entry = client->add_entries();  // clash with a local seq: the local result wins
  entry->set_seq(10);
  entry->mutable_result()->set_message("imported");
  pb::DedupClient* other = import.add_import_dedup();
  other->set_client_id(9);
  other->set_forgotten_below(3);
  ASSERT_EQ(kv.Apply(2, import).code(), pb::RESULT_CODE_OK);

  // Imported seq 6 answers from the table without applying the delete.
  kv.Apply(3, Put("b", "2"));
  pb::CommandResult duplicate = kv.Apply(4, Delete("b", 7, 6));
  EXPECT_TRUE(duplicate.existed());
  EXPECT_EQ(kv.Read(Get("b")).value(), "2");
  EXPECT_EQ(kv.Apply(5, Put("a", "1", 7, 10)).message(), "");   // the local result
  EXPECT_EQ(kv.Read(Get("a")).value(), "1");
  // forgotten_below took the max: seq 4 of client 7 is stale, seq 2 of client 9 too.
  EXPECT_EQ(kv.Apply(6, Put("c", "3", 7, 4)).code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(kv.Apply(7, Put("c", "3", 9, 2)).code(), pb::RESULT_CODE_STALE_REQUEST);
  EXPECT_EQ(kv.Read(Get("c")).code(), pb::RESULT_CODE_NOT_FOUND);
}

// Feeds the same deterministic mix of commands to a machine.
void FeedWorkload(KvStateMachine& kv) {
  SlotId slot = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "key" + std::to_string(i % 97);
    const uint64_t client = 1 + static_cast<uint64_t>(i % 5);
    const uint64_t seq = 1 + static_cast<uint64_t>(i / 5);
    switch (i % 4) {
      case 0:
      case 1:
        kv.Apply(++slot, Put(key, std::string(static_cast<size_t>(i % 13), 'x'), client, seq,
                             seq > 3 ? seq - 3 : 0));
        break;
      case 2:
        kv.Apply(++slot, Get(key, client, seq));
        break;
      case 3:
        kv.Apply(++slot, Delete(key, client, seq));
        break;
    }
  }
}

TEST(KvStateMachineTest, SameCommandsGiveIdenticalSnapshots) {
  KvStateMachine a;
  KvStateMachine b;
  FeedWorkload(a);
  FeedWorkload(b);
  EXPECT_GT(a.key_count(), 0u);
  EXPECT_EQ(SnapshotChunks(a), SnapshotChunks(b));
  EXPECT_EQ(a.Digest(), b.Digest());
  b.Apply(1000, Put("extra", "1"));
  EXPECT_NE(SnapshotChunks(a), SnapshotChunks(b));
  EXPECT_NE(a.Digest(), b.Digest());
}

TEST(KvStateMachineTest, SnapshotIsTheDeterministicKvSnapshotProto) {
  KvStateMachine kv;
  FeedWorkload(kv);
  std::string bytes;
  for (const std::string& chunk : SnapshotChunks(kv, /*chunk_bytes=*/64)) bytes += chunk;
  pb::KvSnapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(static_cast<size_t>(parsed.entries_size()), kv.key_count());
  EXPECT_EQ(parsed.dedup_size(), 5);
  for (int i = 1; i < parsed.dedup_size(); ++i) {
    EXPECT_LT(parsed.dedup(i - 1).client_id(), parsed.dedup(i).client_id());
  }
  std::string reserialized;
  {
    google::protobuf::io::StringOutputStream stream(&reserialized);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    parsed.SerializeToCodedStream(&coded);
  }
  EXPECT_EQ(reserialized, bytes);
}

TEST(KvStateMachineTest, RestoreReproducesStateAndDedup) {
  KvStateMachine original;
  FeedWorkload(original);
  KvStateMachine restored;
  restored.Apply(1, Put("stale", "gone"));
  auto rebuilt = Restored(SnapshotChunks(original));
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  restored = *std::move(rebuilt);
  EXPECT_EQ(SnapshotChunks(restored), SnapshotChunks(original));
  EXPECT_EQ(restored.Digest(), original.Digest());
  EXPECT_EQ(restored.key_count(), original.key_count());
  EXPECT_EQ(restored.approximate_bytes(), original.approximate_bytes());
  EXPECT_EQ(restored.Read(Get("stale")).code(), pb::RESULT_CODE_NOT_FOUND);
  // Dedup state came along: a retry gets the first result on both, and both stay equal.
  pb::CommandResult a = original.Apply(2000, Put("key1", "retry", 1, 60));
  pb::CommandResult b = restored.Apply(2000, Put("key1", "retry", 1, 60));
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(restored.Digest(), original.Digest());
}

TEST(KvStateMachineTest, TheMembershipTravelsInEverySnapshot) {
  KvStateMachine kv;
  FeedWorkload(kv);
  pb::Membership membership;
  for (uint32_t id : {1u, 2u, 4u}) {
    pb::Member* m = membership.add_members();
    m->set_id(id);
    m->set_incarnation(100 + id);
  }
  membership.add_removed(3);
  const uint64_t before = kv.Digest();
  kv.SetMembership(membership);
  EXPECT_NE(kv.Digest(), before);
  const std::vector<std::string> chunks = SnapshotChunks(kv, /*chunk_bytes=*/64);
  ASSERT_FALSE(chunks.empty());
  pb::KvSnapshot last;
  ASSERT_TRUE(last.ParseFromString(chunks.back()));
  EXPECT_EQ(last.membership().SerializeAsString(), membership.SerializeAsString());
  auto restored = Restored(chunks);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->membership().SerializeAsString(), membership.SerializeAsString());
  EXPECT_EQ(restored->Digest(), kv.Digest());
  // A membership without members is corrupt, not "none".
  pb::KvSnapshot bad;
  bad.mutable_membership()->add_removed(7);
  EXPECT_FALSE(Restored({bad.SerializeAsString()}).ok());
}

TEST(KvStateMachineTest, EmptyStateHasNoChunks) {
  KvStateMachine kv;
  EXPECT_TRUE(SnapshotChunks(kv).empty());
  auto restored = Restored({});
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->key_count(), 0u);
  EXPECT_EQ(restored->Digest(), kv.Digest());
}

// Goal: a state far larger than one chunk is written as many chunks, each within the chunk
// size unless one record alone is larger, and rebuilds exactly; the digest does not depend on
// the chunk size. Method: a workload with a 100 KiB value, chunk sizes from 16 B to 1 MiB.
TEST(KvStateMachineTest, ChunkedSnapshotRebuildsTheSameStateAtAnyChunkSize) {
  KvStateMachine original;
  FeedWorkload(original);
  original.Apply(5000, Put("big", std::string(100 << 10, 'b'), 99, 1));
  for (size_t chunk_bytes : {size_t{16}, size_t{1000}, size_t{64 << 10}, size_t{1 << 20}}) {
    SCOPED_TRACE(chunk_bytes);
    const std::vector<std::string> chunks = SnapshotChunks(original, chunk_bytes);
    if (chunk_bytes < 1000) {
      EXPECT_GT(chunks.size(), original.key_count() / 2);
    }
    for (const std::string& chunk : chunks) {
      pb::KvSnapshot one;
      ASSERT_TRUE(one.ParseFromString(chunk));
      const int records = one.entries_size() + one.dedup_size() + one.frozen_ranges_size() +
                          (one.has_sessions() ? 1 : 0);
      if (records > 1) {
        EXPECT_LE(chunk.size(), chunk_bytes);
      }
    }
    auto restored = Restored(chunks);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(restored->Digest(), original.Digest());
    EXPECT_EQ(restored->key_count(), original.key_count());
    EXPECT_EQ(restored->Read(Get("big")).value().size(), size_t{100 << 10});
  }
}

// Rule: a snapshot chunk is input like any other: garbage and chunks that break a limit are
// refused with kInvalidArgument, never a crash (the fuzzer in tests/fuzz feeds many more).
TEST(KvStateMachineTest, AddSnapshotChunkRefusesBadChunks) {
  const auto chunk_of = [](const pb::KvSnapshot& snapshot) { return snapshot.SerializeAsString(); };
  pb::KvSnapshot empty_key;
  empty_key.add_entries()->set_value("v");
  pb::KvSnapshot huge_value;
  huge_value.add_entries()->set_key("k");
  huge_value.mutable_entries(0)->set_value(std::string(kValueSizeMax + 1, 'v'));
  pb::KvSnapshot client_zero;
  client_zero.add_dedup()->set_forgotten_below(1);
  pb::KvSnapshot twice;
  twice.add_dedup()->set_client_id(4);
  twice.add_dedup()->set_client_id(4);
  for (const std::string& bad :
       {std::string("\x0a\xff\xff\xff garbage"), chunk_of(empty_key), chunk_of(huge_value),
        chunk_of(client_zero), chunk_of(twice)}) {
    KvStateMachine kv;
    EXPECT_EQ(kv.AddSnapshotChunk(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(KvStateMachineTest, ValidationNamesTheProblem) {
  EXPECT_TRUE(ValidateCommand(Put("k", "v")).ok());
  const auto message = [](const pb::Command& command) {
    return std::string(ValidateCommand(command).message());
  };
  EXPECT_EQ(ValidateCommand(Put("", "v")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(message(Put("", "v")), "key is empty");
  EXPECT_EQ(message(Get(std::string(kKeySizeMax + 1, 'k'))),
            "key is 1025 bytes; the limit is 1024");
  EXPECT_TRUE(ValidateCommand(Get(std::string(kKeySizeMax, 'k'))).ok());
  EXPECT_EQ(message(Put("k", std::string(kValueSizeMax + 1, 'v'))),
            "value is 1048577 bytes; the limit is 1048576");
  EXPECT_TRUE(ValidateCommand(Put("k", std::string(kValueSizeMax, 'v'))).ok());
  pb::Command unspecified;
  EXPECT_EQ(message(unspecified), "op is unspecified");
  pb::Command unknown;
  unknown.set_op(static_cast<pb::Op>(42));
  EXPECT_EQ(message(unknown), "unknown op 42");
  EXPECT_EQ(message(Scan(0, 0, 0)), "scan_limit must be positive");
  pb::Command import;
  import.set_op(pb::OP_IMPORT);
  import.add_import_entries()->set_key("ok");
  import.add_import_entries()->set_value("no key");
  EXPECT_EQ(message(import), "import_entries[1]: key is empty");
  pb::Command remove;
  remove.set_op(pb::OP_DELETE_KEYS);
  remove.add_keys("a");
  remove.add_keys("");
  EXPECT_EQ(message(remove), "keys[1]: key is empty");
}

TEST(KvStateMachineTest, ApplyAnswersInvalidCommandsWithoutCrashing) {
  KvStateMachine kv;
  pb::Command unknown;
  unknown.set_op(static_cast<pb::Op>(99));
  unknown.set_client_id(3);
  unknown.set_seq(1);
  pb::CommandResult result = kv.Apply(1, unknown);
  EXPECT_EQ(result.code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(result.message(), "unknown op 99");
  EXPECT_EQ(kv.Apply(2, Put("", "v")).code(), pb::RESULT_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(kv.key_count(), 0u);
}

}  // namespace
}  // namespace paxoskv::kv
