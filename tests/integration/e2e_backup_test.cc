// Backup and restore with the real binaries (kvctl snapshot save / status / restore, README
// "Backup and restore"): a loaded cluster of two shards is backed up while a writer keeps
// overwriting some keys, a new cluster of another shape is built from the file, and every key
// reads back (the overwritten ones with a value that was written); a second restore into the
// now non-empty cluster is refused unless forced; a truncated or corrupted file is refused with
// a clear message and writes nothing; endpoint health and status answer for every process.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/client/kv_client.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

constexpr int kKeys = 2000;
constexpr int kHotKeys = 20;

CommandResult Kvctl(const ProcessCluster& cluster, const std::string& args) {
  return RunCommand(absl::StrCat(cluster.bin_dir(), "/kvctl --insecure --master ",
                                 cluster.master_addresses(), " ", args));
}

std::string Value(int i) { return absl::StrCat("value-", i, "-", std::string(40, 'x')); }

void StartShardsAndMaster(ProcessCluster& cluster, const std::vector<uint32_t>& shards) {
  for (uint32_t id : shards) ASSERT_TRUE(cluster.StartShard(id).ok());
  for (uint32_t id : shards) ASSERT_TRUE(cluster.WaitForLeader(id).ok());
  ASSERT_TRUE(cluster.StartMaster(shards).ok());
}

void Load(const ProcessCluster& cluster) {
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      client::KvClient kv(cluster.master_address());
      for (int i = t; i < kKeys; i += 8) {
        if (!kv.Put(absl::StrCat("key-", i), Value(i)).ok()) ++failed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(failed.load(), 0);
}

class BackupTest : public ::testing::Test {
 protected:
  std::string dir_ = [] {
    const std::string dir = ::testing::TempDir() + "/e2e_backup_test";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
  }();
};

TEST_F(BackupTest, ALoadedClusterIsSavedWhileWrittenAndRestoredIntoANewOne) {
  const std::string file = dir_ + "/backup.snap";
  std::map<std::string, std::set<std::string>> hot_written;  // every value tried, per hot key
  {
    ProcessCluster source;
    StartShardsAndMaster(source, {1, 2});
    Load(source);
    // A writer overwrites the hot keys for as long as the backup runs.
    std::atomic<bool> stop{false};
    absl::Mutex mu;
    std::thread writer([&] {
      client::KvClient kv(source.master_address());
      for (int n = 0; !stop.load(); ++n) {
        const std::string key = absl::StrCat("hot-", n % kHotKeys);
        const std::string value = absl::StrCat("hot-value-", n);
        {
          absl::MutexLock lock(&mu);
          hot_written[key].insert(value);
        }
        (void)kv.Put(key, value);
      }
    });
    absl::SleepFor(absl::Milliseconds(300));
    const CommandResult saved = Kvctl(source, absl::StrCat("snapshot save ", file));
    stop = true;
    writer.join();
    ASSERT_EQ(saved.exit_code, 0) << saved.out;
    EXPECT_TRUE(absl::StrContains(saved.out, "snapshot saved to")) << saved.out;
    // The same file again is not overwritten.
    const CommandResult again = Kvctl(source, absl::StrCat("snapshot save ", file));
    EXPECT_NE(again.exit_code, 0);
    EXPECT_TRUE(absl::StrContains(again.out, "not overwriting")) << again.out;

    const CommandResult health = Kvctl(source, "endpoint health");
    EXPECT_EQ(health.exit_code, 0) << health.out;
    EXPECT_EQ(std::count(health.out.begin(), health.out.end(), '\n'), 1 + 6) << health.out;
    EXPECT_TRUE(absl::StrContains(health.out, "(master) is healthy")) << health.out;
    const CommandResult status = Kvctl(source, "status");
    EXPECT_EQ(status.exit_code, 0) << status.out;
    EXPECT_TRUE(absl::StrContains(status.out, "DB SIZE")) << status.out;
  }
  const CommandResult described = RunCommand(
      absl::StrCat(std::getenv("PAXOSKV_BIN_DIR"), "/kvctl snapshot status ", file, " --json"));
  ASSERT_EQ(described.exit_code, 0) << described.out;
  EXPECT_TRUE(absl::StrContains(described.out, "\"checksum\": \"xxh64:")) << described.out;

  // A new cluster of another shape: one shard.
  ProcessCluster target;
  StartShardsAndMaster(target, {1});
  const CommandResult restored = Kvctl(target, absl::StrCat("snapshot restore ", file));
  ASSERT_EQ(restored.exit_code, 0) << restored.out;
  client::KvClient kv(target.master_address());
  for (int i = 0; i < kKeys; ++i) {
    auto value = kv.Get(absl::StrCat("key-", i));
    ASSERT_TRUE(value.ok()) << "key-" << i << ": " << value.status();
    ASSERT_EQ(*value, Value(i));
  }
  for (int h = 0; h < kHotKeys; ++h) {
    const std::string key = absl::StrCat("hot-", h);
    auto value = kv.Get(key);
    if (!value.ok()) {
      // Absent only if the backup was taken before the writer's first put of it.
      EXPECT_TRUE(absl::IsNotFound(value.status())) << key << ": " << value.status();
      continue;
    }
    EXPECT_EQ(hot_written[key].count(*value), 1u) << key << " = " << *value;
  }

  // The cluster now holds keys: a second restore is refused and changes nothing; --force
  // writes over them.
  ASSERT_TRUE(kv.Put("key-0", "changed").ok());
  const CommandResult refused = Kvctl(target, absl::StrCat("snapshot restore ", file));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(refused.out, "FAILED_PRECONDITION")) << refused.out;
  EXPECT_EQ(*kv.Get("key-0"), "changed");
  const CommandResult forced = Kvctl(target, absl::StrCat("snapshot restore ", file, " --force"));
  EXPECT_EQ(forced.exit_code, 0) << forced.out;
  EXPECT_EQ(*kv.Get("key-0"), Value(0));
}

TEST_F(BackupTest, ATruncatedOrCorruptedFileIsRefusedAndWritesNothing) {
  const std::string file = dir_ + "/good.snap";
  ProcessCluster cluster;
  StartShardsAndMaster(cluster, {1});
  {
    client::KvClient kv(cluster.master_address());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(kv.Put(absl::StrCat("k", i), "v").ok());
  }
  ASSERT_EQ(Kvctl(cluster, absl::StrCat("snapshot save ", file)).exit_code, 0);
  std::ifstream in(file, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  ASSERT_GT(bytes.size(), 100u);

  // Into an empty cluster, so that only the file can be the reason for a refusal.
  ProcessCluster empty;
  StartShardsAndMaster(empty, {1});
  struct Bad {
    std::string name;
    std::string bytes;
    std::string message;
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x01);
  for (const Bad& bad : {Bad{"truncated", bytes.substr(0, bytes.size() - 10), "truncated"},
                         Bad{"half", bytes.substr(0, bytes.size() / 2), "truncated"},
                         Bad{"flipped", flipped, "refusing it"}}) {
    const std::string path = dir_ + "/" + bad.name + ".snap";
    std::ofstream(path, std::ios::binary) << bad.bytes;
    const CommandResult restore = Kvctl(empty, absl::StrCat("snapshot restore ", path));
    EXPECT_EQ(restore.exit_code, 3) << bad.name << ": " << restore.out;
    EXPECT_TRUE(absl::StrContains(restore.out, "DATA_LOSS")) << bad.name << ": " << restore.out;
    EXPECT_TRUE(absl::StrContains(restore.out, bad.message)) << bad.name << ": " << restore.out;
    const CommandResult status = Kvctl(empty, absl::StrCat("snapshot status ", path));
    EXPECT_EQ(status.exit_code, 3) << bad.name << ": " << status.out;
  }
  client::KvClient kv(empty.master_address());
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(absl::IsNotFound(kv.Get(absl::StrCat("k", i)).status())) << "k" << i;
  }
}

}  // namespace
}  // namespace paxoskv::testing
