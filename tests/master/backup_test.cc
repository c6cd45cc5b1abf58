// BackupShard (services/master/backup.h) against a fake replica over the real KV state
// machine: writes made while the first pass is under way (overwrites on both sides of its
// cursor, deletes, new keys) are followed pass after pass until one read holds them all, and
// the records, applied in order, are the shard's state; every tracking it started is stopped,
// also when the caller goes away.
#include "services/master/backup.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/ring/stable_hash.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/master/router.h"
#include "services/master/shard_directory.h"
#include "tests/master/fake_replica.h"

namespace paxoskv::master {
namespace {

namespace pb = paxoskv::v1;
using testing::FakeReplica;

std::map<std::string, std::string> Apply(const std::vector<pb::BackupChunk>& chunks) {
  std::map<std::string, std::string> keys;
  for (const pb::BackupChunk& chunk : chunks) {
    for (const pb::KeyValue& put : chunk.records().puts()) keys[put.key()] = put.value();
    for (const std::string& key : chunk.records().deletes()) keys.erase(key);
  }
  return keys;
}

// Tracking ids started and stopped, from the commands the replica received.
std::pair<std::set<uint64_t>, std::set<uint64_t>> Trackings(const FakeReplica& replica) {
  std::set<uint64_t> started, stopped;
  for (const pb::Command& command : replica.commands()) {
    if (command.op() != pb::OP_TRACK_CHANGES) continue;
    (command.track_stop() ? stopped : started).insert(command.freeze_id());
  }
  return {started, stopped};
}

class BackupShardTest : public ::testing::Test {
 protected:
  BackupShardTest() {
    std::map<std::string, std::string> data;
    for (int i = 0; i < 50; ++i) data[absl::StrCat("key-", i)] = absl::StrCat("v", i);
    replica_.SetData(data);
    directory_.SetShard(1, {replica_.address()});
    options_.page_size = 10;
    options_.changed_page_size = 5;
  }

  void Put(const std::string& key, const std::string& value, bool remove = false) {
    auto stub = pb::Replica::NewStub(
        grpc::CreateChannel(replica_.address(), grpc::InsecureChannelCredentials()));
    pb::Command command;
    command.set_op(remove ? pb::OP_DELETE : pb::OP_PUT);
    command.set_key(key);
    command.set_value(value);
    command.set_client_id(77);
    command.set_seq(++seq_);
    grpc::ClientContext context;
    pb::CommandResult result;
    ASSERT_TRUE(stub->Execute(&context, command, &result).ok()) << key;
  }

  std::vector<pb::Command> Scans() const {
    std::vector<pb::Command> scans;
    for (pb::Command& command : replica_.commands()) {
      if (command.op() == pb::OP_SCAN_RANGE) scans.push_back(std::move(command));
    }
    return scans;
  }
  // True once `count` scans arrived and one of them waits in a block.
  bool AwaitScans(size_t count) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (Scans().size() < count || replica_.blocked_calls() != 1) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  // Runs BackupShard on a thread of its own: its chunks into chunks_, its outcome into end_.
  void StartBackup() {
    backup_ = std::thread([this] { end_ = BackupShard(&router_, 1, options_, Collect()); });
  }
  BackupEmit Collect() {
    return [this](const pb::BackupChunk& chunk) {
      chunks_.push_back(chunk);
      return true;
    };
  }
  ~BackupShardTest() override {
    if (!backup_.joinable()) return;  // a failed assertion left it waiting in a block
    replica_.Release();
    backup_.join();
  }

  FakeReplica replica_{1};
  ShardDirectory directory_{grpc::InsecureChannelCredentials()};
  Router router_{&directory_, RouterOptions(), GetLogger("backup_test")};
  ShardBackupOptions options_;
  uint64_t seq_ = 0;
  std::thread backup_;
  std::vector<pb::BackupChunk> chunks_;
  absl::StatusOr<pb::BackupShardEnd> end_ = absl::UnknownError("not run");
};

TEST_F(BackupShardTest, WritesDuringTheCopyAreFollowedUntilOneReadHoldsThemAll) {
  // The third page of the first pass waits until the writes below are made.
  replica_.BlockOps({pb::OP_SCAN_RANGE}, /*pass=*/2);
  StartBackup();
  ASSERT_TRUE(replica_.AwaitBlocked(1, absl::Seconds(10)));
  // 12 changes: more than one page of changes, so a second pass must follow.
  for (int i = 0; i < 8; ++i) Put(absl::StrCat("key-", i * 6), absl::StrCat("new", i));
  Put("key-1", "", /*remove=*/true);
  Put("key-49", "", /*remove=*/true);
  Put("fresh-1", "f1");
  Put("fresh-2", "f2");
  replica_.Release();
  backup_.join();
  ASSERT_TRUE(end_.ok()) << end_.status();
  EXPECT_EQ(end_->shard_id(), 1u);
  EXPECT_EQ(end_->rounds(), 2u) << "the first pass over changes needed three reads";
  EXPECT_EQ(Apply(chunks_), replica_.data());
  EXPECT_EQ(Apply(chunks_).count("key-1"), 0u);
  EXPECT_EQ(Apply(chunks_).at("key-6"), "new1");
  auto [started, stopped] = Trackings(replica_);
  EXPECT_EQ(started.size(), 3u);  // the first pass's, and one before each pass over changes
  EXPECT_EQ(started, stopped);
}

TEST_F(BackupShardTest, WritesDuringAPassOverChangesAreCaughtByTheNext) {
  // The first pass (50 keys, 5 pages) waits at its third page for 12 writes; the pass over
  // those changes (3 pages) then waits at its second page for 3 new keys sorted before its
  // cursor: only the tracking started before that pass began records those.
  replica_.BlockOps({pb::OP_SCAN_RANGE}, /*pass=*/2);
  StartBackup();
  ASSERT_TRUE(replica_.AwaitBlocked(1, absl::Seconds(10)));
  for (int i = 0; i < 12; ++i) Put(absl::StrCat("key-", i * 4), absl::StrCat("first", i));
  // The blocked third page goes on; pages 4 and 5 and the first page of changes pass.
  replica_.ReleaseAndBlock({pb::OP_SCAN_RANGE}, /*pass=*/3);
  ASSERT_TRUE(AwaitScans(7));  // 5 pages, then the second page of changes waits
  const pb::Command waiting = Scans().back();
  ASSERT_TRUE(waiting.scan_changed());
  // New keys that sort before that page's cursor: this pass has read past them already.
  int late = 0;
  for (int i = 0; late < 3; ++i) {
    const std::string key = absl::StrCat("late-", i);
    if (ring::StableHash(key) >= waiting.scan_after_hash()) continue;
    Put(key, absl::StrCat("late", i));
    ++late;
  }
  replica_.Release();
  backup_.join();
  ASSERT_TRUE(end_.ok()) << end_.status();
  EXPECT_GE(end_->rounds(), 2u);
  EXPECT_EQ(Apply(chunks_), replica_.data());
  auto [started, stopped] = Trackings(replica_);
  EXPECT_EQ(started, stopped);
}

TEST_F(BackupShardTest, AQuietShardTakesOnePassOverChanges) {
  end_ = BackupShard(&router_, 1, options_, Collect());
  ASSERT_TRUE(end_.ok()) << end_.status();
  EXPECT_EQ(end_->rounds(), 1u);
  EXPECT_EQ(Apply(chunks_), replica_.data());
  auto [started, stopped] = Trackings(replica_);
  EXPECT_EQ(started, stopped);
}

TEST_F(BackupShardTest, ACallerThatGoesAwayStopsItAndEveryTracking) {
  int chunks = 0;
  auto end =
      BackupShard(&router_, 1, options_, [&](const pb::BackupChunk&) { return ++chunks < 2; });
  EXPECT_TRUE(absl::IsCancelled(end.status())) << end.status();
  auto [started, stopped] = Trackings(replica_);
  EXPECT_FALSE(started.empty());
  EXPECT_EQ(started, stopped);
}

}  // namespace
}  // namespace paxoskv::master
