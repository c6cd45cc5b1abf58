// Tests of the ProcessCluster fixture itself, against stand-in shell scripts in a temporary
// bin dir, so they run before (and independently of) the real paxoskv binaries.
#include "tests/integration/process_cluster.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace paxoskv::testing {
namespace {

namespace fs = std::filesystem;

// A temporary directory holding fake paxoskv-replica / paxoskv-master scripts.
class FakeBinDir {
 public:
  FakeBinDir() {
    dir_ = fs::temp_directory_path() / ("paxoskv-fakebin-" + std::to_string(getpid()) + "-" +
                                        std::to_string(counter_++));
    fs::create_directories(dir_);
  }
  ~FakeBinDir() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void Write(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / name;
    std::ofstream out(path);
    out << "#!/bin/sh\n" << body << "\n";
    out.close();
    fs::permissions(path, fs::perms::owner_all);
  }
  std::string path() const { return dir_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(ProcessClusterTest, StartShardPassesTheFlagContract) {
  FakeBinDir bin;
  bin.Write("paxoskv-replica", "echo \"fake replica $*\"\nexec sleep 600");
  ProcessCluster cluster({.bin_dir = bin.path()});
  ASSERT_TRUE(cluster.StartShard(7).ok());
  std::vector<std::string> addresses = cluster.ShardAddresses(7);
  ASSERT_EQ(addresses.size(), 3u);
  EXPECT_NE(addresses[0], addresses[1]);
  EXPECT_TRUE(absl::StartsWith(addresses[0], "127.0.0.1:"));
  for (int r = 1; r <= 3; ++r) {
    Process& replica = cluster.Replica(7, r);
    EXPECT_TRUE(cluster.IsRunning(replica));
    EXPECT_TRUE(fs::is_directory(replica.data_dir));
  }
  // The echo lands in the log once the child has run; await it.
  const Process& r2 = cluster.Replica(7, 2);
  const std::string expected_peers = "--peers=1=" + addresses[0] + ",2=" + addresses[1] +
                                     ",3=" + addresses[2];
  std::string log;
  for (int i = 0; i < 1000 && !absl::StrContains(log, "fake replica"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log = ReadFile(r2.log_path);
  }
  EXPECT_TRUE(absl::StrContains(log, "fake replica --shard_id=7 --replica_id=2 --listen=" +
                                         addresses[1] + " " + expected_peers))
      << log;
  EXPECT_TRUE(absl::StrContains(log, "--data_dir=" + r2.data_dir)) << log;
  EXPECT_EQ(cluster.StartShard(7).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cluster.ShardsFlag({7}), "7=" + addresses[0] + "," + addresses[1] + "," +
                                         addresses[2]);
}

TEST(ProcessClusterTest, KillAndRestartKeepFlagsAndPort) {
  FakeBinDir bin;
  bin.Write("paxoskv-replica", "exec sleep 600");
  ProcessCluster cluster({.bin_dir = bin.path()});
  ASSERT_TRUE(cluster.StartShard(1).ok());
  Process& replica = cluster.Replica(1, 1);
  const std::vector<std::string> args = replica.args;
  const pid_t first_pid = replica.pid;
  ASSERT_TRUE(cluster.Kill(replica, SIGKILL).ok());
  EXPECT_FALSE(cluster.IsRunning(replica));
  EXPECT_EQ(cluster.Kill(replica, SIGKILL).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(cluster.Restart(replica).ok());
  EXPECT_TRUE(cluster.IsRunning(replica));
  EXPECT_NE(replica.pid, first_pid);
  EXPECT_EQ(replica.args, args);
  EXPECT_EQ(replica.restarts, 1);
  cluster.Stop();
  for (Process* process : cluster.ShardReplicas(1)) EXPECT_FALSE(cluster.IsRunning(*process));
}

TEST(ProcessClusterTest, StopEscalatesToSigkillAfterGrace) {
  FakeBinDir bin;
  // Ignores SIGTERM; the loop only ends by SIGKILL.
  bin.Write("paxoskv-replica", "trap '' TERM\nwhile :; do sleep 0.05; done");
  ProcessCluster cluster({.bin_dir = bin.path(), .stop_grace = absl::Milliseconds(200)});
  ASSERT_TRUE(cluster.StartShard(1).ok());
  cluster.Stop();
  for (Process* process : cluster.ShardReplicas(1)) EXPECT_FALSE(process->running());
}

TEST(ProcessClusterTest, WaitForLeaderReportsExitedShard) {
  FakeBinDir bin;
  bin.Write("paxoskv-replica", "echo 'bad flag' >&2\nexit 1");
  ProcessCluster cluster({.bin_dir = bin.path()});
  ASSERT_TRUE(cluster.StartShard(1).ok());
  auto leader = cluster.WaitForLeader(1, absl::Now() + absl::Seconds(30));
  EXPECT_EQ(leader.status().code(), absl::StatusCode::kAborted) << leader.status();
  EXPECT_TRUE(absl::StrContains(cluster.LogTails(), "bad flag"));
  EXPECT_TRUE(absl::StrContains(cluster.LogTails(), "exited with code 1"));
}

TEST(ProcessClusterTest, MissingBinaryIsAFailedPrecondition) {
  FakeBinDir bin;
  ProcessCluster cluster({.bin_dir = bin.path()});
  EXPECT_EQ(cluster.StartShard(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster.StartMaster({}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProcessClusterTest, PickFreePortNeverRepeats) {
  std::set<int> ports;
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(ports.insert(ProcessCluster::PickFreePort()).second);
}

}  // namespace
}  // namespace paxoskv::testing
