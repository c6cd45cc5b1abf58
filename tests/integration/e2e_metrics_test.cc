// Prometheus metrics of the real binaries (README "Metrics"): a shard of 3 paxoskv-replica
// processes and a paxoskv-master, each with --metrics_listen, scraped over HTTP as Prometheus
// does. The figures must follow what happens: a leader everywhere, committed and applied
// slots and fsyncs rising with puts, bytes to and from each peer, probe round trips, the
// master's handled requests, routing latencies and batch sizes, a leader change after the
// leader is killed. A bad --metrics_listen stops the binary with a clear message.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/client/kv_client.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

// The value of the first sample of `name` whose labels include every one of `labels`
// (`k="v"` pairs), or nullopt.
std::optional<double> Sample(const std::string& text, const std::string& name,
                             const std::vector<std::string>& labels = {}) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, name)) continue;
    if (line.empty() || (line[0] != ' ' && line[0] != '{')) continue;  // a longer name
    const size_t space = line.rfind(' ');
    const absl::string_view label_part = line.substr(0, space);
    bool all = true;
    for (const auto& label : labels) all = all && absl::StrContains(label_part, label);
    double value = 0;
    if (all && absl::SimpleAtod(line.substr(space + 1), &value)) return value;
  }
  return std::nullopt;
}

double SampleOr0(const std::string& text, const std::string& name,
                 const std::vector<std::string>& labels = {}) {
  return Sample(text, name, labels).value_or(0);
}

// The sum of every sample of `name` (over all its label sets).
double Sum(const std::string& text, const std::string& name) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, name)) continue;
    if (line.empty() || (line[0] != ' ' && line[0] != '{')) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) sum += value;
  }
  return sum;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessClusterOptions options;
    options.metrics = true;
    cluster_ = std::make_unique<ProcessCluster>(options);
    ASSERT_TRUE(cluster_->StartShard(1).ok());
    auto leader = cluster_->WaitForLeader(1);
    ASSERT_TRUE(leader.ok()) << leader.status();
    ASSERT_TRUE(cluster_->StartMaster({1}).ok());
  }

  // The replica that says it leads (by its metrics), or nullptr.
  Process* MetricsLeader() {
    for (Process* replica : cluster_->ShardReplicas(1)) {
      if (!cluster_->IsRunning(*replica)) continue;
      if (SampleOr0(Scrape(replica->metrics_address), "paxoskv_server_is_leader") == 1) {
        return replica;
      }
    }
    return nullptr;
  }

  std::unique_ptr<ProcessCluster> cluster_;
};

TEST_F(MetricsTest, FiguresFollowTheWorkAndALeaderChange) {
  Process* leader = MetricsLeader();
  ASSERT_NE(leader, nullptr);
  const std::string before = Scrape(leader->metrics_address);
  ASSERT_TRUE(absl::StrContains(before, "# TYPE paxoskv_server_has_leader gauge")) << before;
  const double committed_before = SampleOr0(before, "paxoskv_server_proposals_committed_total");
  const double fsyncs_before = SampleOr0(before, "paxoskv_disk_wal_fsync_duration_seconds_count");

  constexpr int kPuts = 60;
  client::KvClient kv(cluster_->master_address());
  for (int i = 0; i < kPuts; ++i) {
    ASSERT_TRUE(kv.Put(absl::StrCat("metrics-", i), "v").ok());
  }
  ASSERT_TRUE(kv.Get("metrics-0").ok());

  // Every replica knows the leader; only one leads; each counts bytes to and from its peers.
  int leaders = 0;
  for (Process* replica : cluster_->ShardReplicas(1)) {
    const std::string text = Scrape(replica->metrics_address);
    EXPECT_EQ(SampleOr0(text, "paxoskv_server_has_leader", {"shard=\"1\""}), 1) << replica->name;
    leaders += static_cast<int>(SampleOr0(text, "paxoskv_server_is_leader"));
    EXPECT_GT(Sum(text, "paxoskv_network_peer_sent_bytes_total"), 0) << replica->name;
    EXPECT_GT(Sum(text, "paxoskv_network_peer_received_bytes_total"), 0) << replica->name;
    EXPECT_GE(SampleOr0(text, "paxoskv_server_leader_changes_seen_total"), 1) << replica->name;
    EXPECT_GE(SampleOr0(text, "paxoskv_server_proposals_applied_total"), kPuts) << replica->name;
  }
  EXPECT_EQ(leaders, 1);

  // One client, one put at a time: a slot each, an fsync each.
  const std::string after = Scrape(leader->metrics_address);
  EXPECT_GE(SampleOr0(after, "paxoskv_server_proposals_committed_total"), committed_before + kPuts);
  EXPECT_GE(SampleOr0(after, "paxoskv_disk_wal_fsync_duration_seconds_count"),
            fsyncs_before + kPuts);
  EXPECT_GE(SampleOr0(after, "paxoskv_mvcc_keys_total"), kPuts);
  EXPECT_GT(SampleOr0(after, "paxoskv_mvcc_db_total_size_in_bytes"), 0);
  EXPECT_EQ(SampleOr0(after, "paxoskv_server_proposals_pending"), 0);
  // The leader's replica service answered the master's batches.
  EXPECT_GE(SampleOr0(after, "paxoskv_grpc_server_handled_total",
                      {"grpc_service=\"paxoskv.v1.Replica\"", "grpc_method=\"ExecuteBatch\"",
                       "grpc_code=\"OK\""}),
            1);

  // The master: every Put answered OK, a routing latency per batch, batch sizes.
  const std::string master = Scrape(cluster_->Master().metrics_address);
  EXPECT_GE(
      SampleOr0(master, "paxoskv_grpc_server_handled_total",
                {"grpc_service=\"paxoskv.v1.KV\"", "grpc_method=\"Put\"", "grpc_code=\"OK\""}),
      kPuts);
  EXPECT_GE(
      SampleOr0(master, "paxoskv_master_shard_request_duration_seconds_count", {"shard=\"1\""}),
      kPuts);
  EXPECT_GE(SampleOr0(master, "paxoskv_master_batch_size_commands_count"), kPuts);
  EXPECT_EQ(SampleOr0(master, "paxoskv_master_ring_shards"), 1);
  EXPECT_EQ(SampleOr0(master, "paxoskv_master_migration_running"), 0);
  EXPECT_EQ(SampleOr0(master, "paxoskv_master_requests_in_flight"), 0);

  // The prober times a round trip to each peer every 5 s.
  const absl::Time probe_deadline = absl::Now() + absl::Seconds(12);
  double probes = 0;
  while (absl::Now() < probe_deadline) {
    probes =
        Sum(Scrape(leader->metrics_address), "paxoskv_network_peer_round_trip_time_seconds_count");
    if (probes > 0) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_GT(probes, 0);

  // The leader dies: a survivor sees a second leader, and says it has one.
  ASSERT_TRUE(cluster_->Kill(*leader).ok());
  auto next = cluster_->WaitForLeader(1);
  ASSERT_TRUE(next.ok()) << next.status();
  Process* survivor = MetricsLeader();
  ASSERT_NE(survivor, nullptr);
  const std::string text = Scrape(survivor->metrics_address);
  EXPECT_GE(SampleOr0(text, "paxoskv_server_leader_changes_seen_total"), 2);
  EXPECT_EQ(SampleOr0(text, "paxoskv_server_has_leader"), 1);
}

TEST(MetricsFlagTest, ABadAddressStopsTheBinaryWithAClearMessage) {
  const char* bin_dir = std::getenv("PAXOSKV_BIN_DIR");
  ASSERT_NE(bin_dir, nullptr);
  const std::string dir = ::testing::TempDir() + "/metrics-flag";
  const CommandResult replica = RunCommand(absl::StrCat(
      bin_dir, "/paxoskv-replica --insecure --shard_id=1 --replica_id=1 --peers=1=127.0.0.1:1 ",
      "--data_dir=", dir, " --metrics_listen=no-port"));
  EXPECT_NE(replica.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(replica.out, "--metrics_listen: want HOST:PORT")) << replica.out;
  const CommandResult master = RunCommand(absl::StrCat(
      bin_dir, "/paxoskv-master --insecure --data_dir=", dir, "-m --metrics_listen=no-port"));
  EXPECT_NE(master.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(master.out, "--metrics_listen: want HOST:PORT")) << master.out;
}

}  // namespace
}  // namespace paxoskv::testing
