// Goal (the security issue's space tests): a shard filled to its quota raises a NOSPACE
// alarm through its log and then refuses writes with RESOURCE_EXHAUSTED while reads and
// deletes work; deleting keys and `kvctl alarm disarm` bring writes back, and nothing is
// lost. A replica whose data directory sits on a small tmpfs that fills up raises the alarm
// (its free-space floor) instead of crashing.
// Method: the real binaries through the master (ProcessCluster); kvctl for the alarms, as a
// user would run it.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/status_markers.h"
#include "services/client/kv_client.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

namespace fs = std::filesystem;

// `bytes` random letters and digits (values are UTF-8 strings): the disk's compression can
// take only a quarter of them away.
std::string Incompressible(size_t bytes, std::mt19937_64& random) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out(bytes, '\0');
  for (char& c : out) c = kAlphabet[random() & 63];
  return out;
}

// Puts `value_bytes`-byte values under key-0, key-1, ... until one is refused with
// RESOURCE_EXHAUSTED (or `max_keys`); returns the keys written. Each put may take long on a
// busy machine: it has 30 s.
std::vector<std::string> FillUntilRefused(client::KvClient& client, size_t value_bytes,
                                          int max_keys, absl::Status* refusal) {
  std::mt19937_64 random(42);
  std::vector<std::string> written;
  for (int i = 0; i < max_keys; ++i) {
    const std::string key = absl::StrCat("key-", i);
    absl::Status status =
        client.Put(key, Incompressible(value_bytes, random), {.timeout = absl::Seconds(30)});
    if (!status.ok()) {
      *refusal = status;
      return written;
    }
    written.push_back(key);
    absl::SleepFor(absl::Milliseconds(20));  // the replicas measure once a second
  }
  *refusal = absl::OkStatus();
  return written;
}

std::string Kvctl(const ProcessCluster& cluster, const std::string& args) {
  CommandResult r = RunCommand(absl::StrCat(cluster.bin_dir(), "/kvctl --insecure --master ",
                                            cluster.master_address(), " ", args));
  EXPECT_EQ(r.exit_code, 0) << "kvctl " << args << ": " << r.out;
  return r.out;
}

TEST(QuotaTest, AFullShardRefusesWritesUntilDeletesAndDisarm) {
  ProcessClusterOptions options;
  options.replica_flags = {"--quota_backend_bytes=300000"};
  ProcessCluster cluster(options);
  ASSERT_TRUE(cluster.StartShard(1).ok());
  ASSERT_TRUE(cluster.WaitForLeader(1).ok());
  ASSERT_TRUE(cluster.StartMaster({1}).ok());
  client::KvClient client(cluster.master_address());

  absl::Status refusal;
  std::vector<std::string> written = FillUntilRefused(client, 20000, 200, &refusal);
  ASSERT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted) << refusal;
  EXPECT_TRUE(absl::StrContains(refusal.message(), "NOSPACE")) << refusal;
  // Marked as a refusal that holds (the master passes the mark on), so clients do not retry
  // it at another master as they would a busy one.
  EXPECT_TRUE(IsNoSpace(refusal)) << refusal;
  ASSERT_GE(written.size(), 15u) << "refused long before the quota";

  // Every replica holds the same state, so each one is past its quota: three alarms, once
  // each has measured (about once a second) and the leader heard it.
  std::string alarms;
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    alarms = Kvctl(cluster, "alarm list");
    if (absl::StrContains(alarms, "memberID:1 ") && absl::StrContains(alarms, "memberID:2 ") &&
        absl::StrContains(alarms, "memberID:3 ")) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  for (int member = 1; member <= 3; ++member) {
    EXPECT_TRUE(
        absl::StrContains(alarms, absl::StrCat("shard:1 memberID:", member, " alarm:NOSPACE")))
        << alarms;
  }
  // Writes are refused at once (not retried until the deadline); reads work.
  const absl::Time before = absl::Now();
  absl::Status refused = client.Put("one-more", "v");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_LT(absl::Now() - before, absl::Seconds(2));
  CommandResult put = RunCommand(absl::StrCat(cluster.bin_dir(), "/kvctl --insecure --master ",
                                              cluster.master_address(), " put one-more v"));
  EXPECT_EQ(put.exit_code, 3) << put.out;
  EXPECT_TRUE(absl::StrContains(put.out, "RESOURCE_EXHAUSTED")) << put.out;
  for (const std::string& key : written) {
    auto value = client.Get(key);
    ASSERT_TRUE(value.ok()) << key << ": " << value.status();
    EXPECT_EQ(value->size(), 20000u);
  }
  EXPECT_TRUE(absl::IsNotFound(client.Get("one-more").status())) << "a refused put applied";

  // Deletes work; with the state back under the quota, disarm brings writes back. All but
  // the last five keys go (100 kB, a third of the quota): however many puts got in before the
  // alarm was raised (more on a busy machine, where half of them could still be over it), the
  // state is then under the quota and nobody raises the alarm again.
  const size_t deleted_count = written.size() - 5;
  for (size_t i = 0; i < deleted_count; ++i) {
    auto deleted = client.Delete(written[i]);
    ASSERT_TRUE(deleted.ok()) << deleted.status();
    EXPECT_TRUE(*deleted);
  }
  absl::SleepFor(absl::Seconds(2));  // each replica measures again
  const std::string disarmed = Kvctl(cluster, "alarm disarm");
  EXPECT_TRUE(absl::StrContains(disarmed, "alarm:NOSPACE")) << disarmed;
  absl::SleepFor(absl::Seconds(2));  // nobody raises it again
  EXPECT_EQ(Kvctl(cluster, "alarm list"), "");
  ASSERT_TRUE(client.Put("one-more", "v").ok());
  EXPECT_EQ(*client.Get("one-more"), "v");
  for (size_t i = deleted_count; i < written.size(); ++i) {
    auto value = client.Get(written[i]);
    ASSERT_TRUE(value.ok()) << written[i] << ": " << value.status();
    EXPECT_EQ(value->size(), 20000u);
  }
}

// The data directory of replica 3 on a 48 MiB tmpfs with a 36 MiB floor: it fills up, and the
// replica raises the shard's alarm and keeps running (a full disk must never crash-loop it).
TEST(QuotaTest, AReplicaOnAFillingDiskRaisesTheAlarmInsteadOfCrashing) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs as root)";
  ProcessClusterOptions options;
  options.replica_flags = {"--quota_backend_bytes=0", "--min_free_bytes=37748736"};
  ProcessCluster cluster(options);
  ASSERT_TRUE(cluster.StartShard(1).ok());
  ASSERT_TRUE(cluster.WaitForLeader(1).ok());
  ASSERT_TRUE(cluster.StartMaster({1}).ok());
  Process& small = cluster.Replica(1, 3);
  ASSERT_TRUE(cluster.Kill(small).ok());
  // Move its (tiny) directory onto a tmpfs mounted in its place.
  const std::string saved = small.data_dir + ".saved";
  fs::rename(small.data_dir, saved);
  fs::create_directories(small.data_dir);
  ASSERT_EQ(mount("tmpfs", small.data_dir.c_str(), "tmpfs", 0, "size=48m"), 0)
      << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{small.data_dir};
  for (const auto& entry : fs::directory_iterator(saved)) {
    fs::copy(entry.path(), small.data_dir + "/" + entry.path().filename().string(),
             fs::copy_options::recursive);
  }
  ASSERT_TRUE(cluster.Restart(small).ok());
  client::KvClient client(cluster.master_address());

  absl::Status refusal;
  std::vector<std::string> written = FillUntilRefused(client, 100000, 200, &refusal);
  ASSERT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted) << refusal;
  EXPECT_TRUE(cluster.IsRunning(small)) << "the replica on the full disk exited";
  const std::string alarms = Kvctl(cluster, "alarm list");
  EXPECT_TRUE(absl::StrContains(alarms, "shard:1 memberID:3 alarm:NOSPACE")) << alarms;
  EXPECT_FALSE(absl::StrContains(alarms, "memberID:1 ")) << alarms;
  // The shard still serves reads, and the replica stays up a while longer.
  for (const std::string& key : written) ASSERT_TRUE(client.Get(key).ok()) << key;
  absl::SleepFor(absl::Seconds(3));
  EXPECT_TRUE(cluster.IsRunning(small)) << "the replica on the full disk exited";
  auto status = cluster.ReplicaStatus(small);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->nospace());
  EXPECT_LT(status->free_bytes(), 37748736u);
  cluster.Stop();
}

}  // namespace
}  // namespace paxoskv::testing
