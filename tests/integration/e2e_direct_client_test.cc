// Direct mode of the client library (KvClientOptions::direct: Get/Put/Delete straight to each
// key's shard leader by the masters' Admin.Routes), against the real binaries:
//   - direct puts, gets and deletes on a 2-shard cluster agree with reads through the master,
//     answer the same codes (NOT_FOUND, Delete's `deleted`, INVALID_ARGUMENT), and really
//     skip the master: its KV service handles no request meanwhile (its
//     paxoskv_grpc_server_handled_total), while the shards' Replica.Execute does; the same
//     for `kvctl --direct` and `kvbench --target=direct` (a linearizable history);
//   - the leader of a shard is killed (SIGKILL) under direct load: every operation succeeds
//     (failover within the shard, or through the master), the requests go direct again after,
//     and the history with reads through the master is linearizable (no acknowledged write
//     lost);
//   - after AddShard, a client still routing by the old ring gets WRONG_SHARD for moved keys,
//     goes through the master, fetches the routes again and from then on reaches every key
//     directly with its last value; direct writers running during the AddShard see no error
//     and stay linearizable;
//   - with mutual TLS, a client's (and an admin's) certificate may send GET, PUT and DELETE
//     to Replica.Execute and ExecuteBatch, but neither other commands (CAS, alarm clears,
//     scans) nor Replica.Status, ChangeMembership or the Migration service (PERMISSION_DENIED);
//     a replica's certificate may send none; the client may call Admin.Routes, not
//     ClusterStatus.
// The tests own their ProcessCluster (one thread starts and kills processes); the load
// threads share one KvClient.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/limits.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/client/kv_client.h"
#include "services/client/lincheck/checker.h"
#include "services/client/lincheck/history.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

namespace pb = ::paxoskv::v1;
using client::DirectStats;
using client::KvClient;
using client::KvClientOptions;

constexpr absl::Duration kOpTimeout = absl::Seconds(10);

// The sum of the samples of `name` whose labels include every one of `labels`.
double Sum(const std::string& text, const std::string& name,
           const std::vector<std::string>& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, name)) continue;
    if (line.empty() || (line[0] != ' ' && line[0] != '{')) continue;  // a longer name
    const size_t space = line.rfind(' ');
    bool all = true;
    for (const auto& label : labels) all = all && absl::StrContains(line.substr(0, space), label);
    double value = 0;
    if (all && absl::SimpleAtod(line.substr(space + 1), &value)) sum += value;
  }
  return sum;
}

// Requests the master's KV service has handled (any method, any code).
double MasterKvHandled(ProcessCluster& cluster) {
  return Sum(Scrape(cluster.Master().metrics_address), "paxoskv_grpc_server_handled_total",
             {"grpc_service=\"paxoskv.v1.KV\""});
}
double MasterRoutesHandled(ProcessCluster& cluster) {
  return Sum(Scrape(cluster.Master().metrics_address), "paxoskv_grpc_server_handled_total",
             {"grpc_service=\"paxoskv.v1.Admin\"", "grpc_method=\"Routes\""});
}
// Replica.Execute calls the replicas of `shard` answered (any code).
double ShardExecuteHandled(ProcessCluster& cluster, uint32_t shard) {
  double sum = 0;
  for (Process* replica : cluster.ShardReplicas(shard)) {
    if (!cluster.IsRunning(*replica)) continue;
    sum += Sum(Scrape(replica->metrics_address), "paxoskv_grpc_server_handled_total",
               {"grpc_service=\"paxoskv.v1.Replica\"", "grpc_method=\"Execute\""});
  }
  return sum;
}

KvClientOptions Direct() {
  KvClientOptions options;
  options.direct = true;
  return options;
}

// The JSON object kvbench --json prints as its last line.
nlohmann::json LastJson(const std::string& out) {
  const size_t start = out.rfind("\n{");
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

std::string Failures(const std::vector<lincheck::Operation>& failures) {
  std::string out;
  for (size_t i = 0; i < failures.size() && i < 10; ++i) {
    absl::StrAppend(&out, lincheck::ToJsonLine(failures[i]), "\n");
  }
  return out;
}

// Two shards of three replicas and one master (its own data dir), every process with metrics.
class DirectClientTest : public ::testing::Test {
 protected:
  static ProcessClusterOptions Options() {
    ProcessClusterOptions options;
    options.metrics = true;
    return options;
  }
  DirectClientTest() : cluster_(Options()) {}

  void SetUp() override {
    for (uint32_t shard : {1u, 2u}) ASSERT_TRUE(cluster_.StartShard(shard).ok());
    for (uint32_t shard : {1u, 2u}) {
      auto leader = cluster_.WaitForLeader(shard);
      ASSERT_TRUE(leader.ok()) << leader.status();
    }
    absl::Status master = cluster_.StartMaster({1, 2});
    ASSERT_TRUE(master.ok()) << master;
  }

  ProcessCluster cluster_;
};

TEST_F(DirectClientTest, AgreesWithTheMasterAndSkipsIt) {
  KvClient direct(cluster_.master_address(), Direct());
  KvClient master(cluster_.master_address());
  const std::vector<std::string> keys = MakeKeys("direct-", 60);
  // The first request fetches the routes.
  ASSERT_TRUE(direct.Put("warm-up", "x", {.timeout = kOpTimeout}).ok());
  ASSERT_EQ(direct.direct_stats().routes_fetched, 1u);

  const double kv_before = MasterKvHandled(cluster_);
  const double shard1_before = ShardExecuteHandled(cluster_, 1);
  const double shard2_before = ShardExecuteHandled(cluster_, 2);
  for (const std::string& key : keys) {
    ASSERT_TRUE(direct.Put(key, "v-" + key, {.timeout = kOpTimeout}).ok()) << key;
  }
  for (const std::string& key : keys) {
    auto value = direct.Get(key, {.timeout = kOpTimeout});
    ASSERT_TRUE(value.ok()) << key << ": " << value.status();
    EXPECT_EQ(*value, "v-" + key);
  }
  // Half deleted: `deleted` true once, then false; a get of a deleted key is NOT_FOUND.
  for (size_t i = 0; i < keys.size(); i += 2) {
    auto deleted = direct.Delete(keys[i], {.timeout = kOpTimeout});
    ASSERT_TRUE(deleted.ok()) << deleted.status();
    EXPECT_TRUE(*deleted) << keys[i];
    auto again = direct.Delete(keys[i], {.timeout = kOpTimeout});
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_FALSE(*again) << keys[i];
    EXPECT_EQ(direct.Get(keys[i], {.timeout = kOpTimeout}).status().code(),
              absl::StatusCode::kNotFound);
  }
  // Bad input: the replica refuses what the master would, with the same code.
  const std::string long_key(kKeySizeMax + 1, 'k');
  const std::string big_value(kValueSizeMax + 1, 'v');
  EXPECT_EQ(direct.Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(direct.Put(long_key, "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(direct.Put("big", big_value).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(direct.Delete(long_key).status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing went through the master's KV service; both shards served requests.
  EXPECT_EQ(MasterKvHandled(cluster_), kv_before);
  EXPECT_GE(ShardExecuteHandled(cluster_, 1) - shard1_before, 10);
  EXPECT_GE(ShardExecuteHandled(cluster_, 2) - shard2_before, 10);
  const DirectStats stats = direct.direct_stats();
  EXPECT_EQ(stats.via_master, 0u);
  EXPECT_EQ(stats.direct, 1 + keys.size() * 2 + (keys.size() / 2) * 3 + 4);
  EXPECT_EQ(stats.routes_fetched, 1u);

  // The master reads what the direct client wrote; the direct client what the master wrote,
  // with the same answers and codes.
  for (size_t i = 0; i < keys.size(); ++i) {
    auto through_master = master.Get(keys[i], {.timeout = kOpTimeout});
    auto straight = direct.Get(keys[i], {.timeout = kOpTimeout});
    EXPECT_EQ(through_master.status().code(), straight.status().code()) << keys[i];
    if (i % 2 == 0) {
      EXPECT_EQ(through_master.status().code(), absl::StatusCode::kNotFound) << keys[i];
    } else {
      ASSERT_TRUE(through_master.ok()) << through_master.status();
      EXPECT_EQ(*through_master, "v-" + keys[i]);
      EXPECT_EQ(*straight, "v-" + keys[i]);
    }
    ASSERT_TRUE(master.Put(keys[i], "m-" + keys[i], {.timeout = kOpTimeout}).ok());
    auto read_back = direct.Get(keys[i], {.timeout = kOpTimeout});
    ASSERT_TRUE(read_back.ok()) << read_back.status();
    EXPECT_EQ(*read_back, "m-" + keys[i]);
  }
  EXPECT_EQ(master.Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(master.Put(long_key, "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(master.Put("big", big_value).code(), absl::StatusCode::kInvalidArgument);
  // The counter does count the master's requests (so its standing still above means something).
  EXPECT_GE(MasterKvHandled(cluster_) - kv_before, 2 * keys.size() + 3);

  // kvctl --direct: put, get, delete as without it; the master's KV service is not asked.
  const std::string kvctl = absl::StrCat(cluster_.bin_dir(), "/kvctl --insecure --direct --master ",
                                         cluster_.master_address(), " ");
  const double kv_before_kvctl = MasterKvHandled(cluster_);
  CommandResult put = RunCommand(kvctl + "put kvctl-key kvctl-value");
  EXPECT_EQ(put.exit_code, 0) << put.out;
  CommandResult get = RunCommand(kvctl + "get kvctl-key");
  EXPECT_EQ(get.exit_code, 0) << get.out;
  EXPECT_EQ(get.out, "kvctl-value\n");
  CommandResult del = RunCommand(kvctl + "delete kvctl-key");
  EXPECT_EQ(del.exit_code, 0) << del.out;
  CommandResult missing = RunCommand(kvctl + "get kvctl-key");
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_EQ(MasterKvHandled(cluster_), kv_before_kvctl);
  CommandResult status = RunCommand(kvctl + "status");
  EXPECT_EQ(status.exit_code, 2) << status.out;  // --direct is for put, get and delete

  // kvbench --target=direct: every operation succeeds, straight to the shards (each of its
  // connections' clients fetched the routes once), and its history is linearizable.
  const std::string history_path = absl::StrCat(::testing::TempDir(), "/kvbench-direct.jsonl");
  const double kv_before_bench = MasterKvHandled(cluster_);
  const double routes_before_bench = MasterRoutesHandled(cluster_);
  CommandResult bench = RunCommand(absl::StrCat(
      cluster_.bin_dir(), "/kvbench --insecure --target=direct --addr=", cluster_.master_address(),
      " --clients=8 --connections=4 --ops=600 --keys=30 --read_percent=40 --delete_percent=20",
      " --prefix=bench- --json --history=", history_path));
  ASSERT_EQ(bench.exit_code, 0) << bench.out;
  nlohmann::json figures = LastJson(bench.out);
  EXPECT_EQ(figures["target"].get<std::string>(), "direct");
  EXPECT_EQ(figures["ops"].get<int64_t>(), 600) << bench.out;
  EXPECT_EQ(figures["errors_total"].get<int64_t>(), 0) << bench.out;
  EXPECT_EQ(MasterKvHandled(cluster_), kv_before_bench);
  EXPECT_EQ(MasterRoutesHandled(cluster_) - routes_before_bench, 4);
  std::ifstream in(history_path);
  auto history = lincheck::ParseHistory(in);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 600u);
  ExpectLinearizable(*history);
  // --target=direct needs the client library's threads.
  CommandResult callback = RunCommand(
      absl::StrCat(cluster_.bin_dir(), "/kvbench --insecure --target=direct --driver=callback ",
                   "--addr=", cluster_.master_address(), " --ops=1"));
  EXPECT_EQ(callback.exit_code, 2) << callback.out;
}

TEST_F(DirectClientTest, LeaderKilledDirectWritesKeepSucceedingAndNothingIsLost) {
  KvClient direct(cluster_.master_addresses(), Direct());
  const std::vector<std::string> keys = MakeKeys("kill-", 30);
  HistoryLoad load(
      "", {.clients = 4, .keys = keys, .op_timeout = kOpTimeout, .shared_client = &direct});
  load.Start();
  ASSERT_TRUE(load.WaitForMoreOps(200, absl::Seconds(30)));

  auto leader_address = cluster_.WaitForLeader(1);
  ASSERT_TRUE(leader_address.ok()) << leader_address.status();
  Process* leader = nullptr;
  for (Process* replica : cluster_.ShardReplicas(1)) {
    if (replica->address == *leader_address) leader = replica;
  }
  ASSERT_NE(leader, nullptr);
  const DirectStats at_kill = direct.direct_stats();
  ASSERT_TRUE(cluster_.Kill(*leader, SIGKILL).ok());
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(load.WaitForMoreOps(300, absl::Seconds(60)));
  absl::SleepFor(std::max(absl::ZeroDuration(), killed + absl::Seconds(3) - absl::Now()));
  // The shard elected another leader, and the requests went straight to it.
  auto new_leader = cluster_.WaitForLeader(1);
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  const DirectStats before_end = direct.direct_stats();
  ASSERT_TRUE(load.WaitForMoreOps(200, absl::Seconds(30)));
  load.Stop();
  const DirectStats end = direct.direct_stats();

  std::vector<lincheck::Operation> failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " operations failed:\n" << Failures(failures);
  // Once the shard has its new leader, the client reaches it directly.
  EXPECT_GT(end.direct, before_end.direct);
  EXPECT_EQ(end.via_master, before_end.via_master);
  // Whatever the kill cost was paid by failover within the shard or through the master.
  std::cout << "after the kill: " << (end.direct - at_kill.direct) << " direct, "
            << (end.via_master - at_kill.via_master) << " through the master ("
            << (end.unreachable - at_kill.unreachable) << " unreachable within the budget)\n";

  std::vector<lincheck::Operation> history = load.history();
  FinalReads(cluster_.master_address(), keys, &history);
  ExpectLinearizable(history);
}

TEST_F(DirectClientTest, AfterAddShardOldRoutesGetWrongShardThenEveryKeyReadsBack) {
  // This client fetches the routes only after a fallback: it keeps the old ring through the
  // whole AddShard.
  KvClientOptions stale_options = Direct();
  stale_options.routes_max_age = absl::Hours(1);
  KvClient stale(cluster_.master_address(), stale_options);
  const std::vector<std::string> keys = MakeKeys("moved-", 200);
  for (const std::string& key : keys) {
    ASSERT_TRUE(stale.Put(key, "v1-" + key, {.timeout = kOpTimeout}).ok()) << key;
  }
  ASSERT_EQ(stale.direct_stats().direct, keys.size());
  ASSERT_EQ(stale.direct_stats().routes_fetched, 1u);
  const ring::HashRing before = CurrentRing(cluster_.master_address());

  // Direct writers (routes refreshed as usual) keep working through the AddShard.
  KvClient busy(cluster_.master_address(), Direct());
  const std::vector<std::string> busy_keys = MakeKeys("busy-", 40);
  HistoryLoad load(
      "", {.clients = 3, .keys = busy_keys, .op_timeout = kOpTimeout, .shared_client = &busy});
  load.Start();
  ASSERT_TRUE(load.WaitForMoreOps(100, absl::Seconds(30)));
  ASSERT_TRUE(cluster_.StartShard(3).ok());
  ASSERT_TRUE(cluster_.WaitForLeader(3).ok());
  KvClient admin(cluster_.master_address());
  auto added = admin.AddShard(3, cluster_.ShardAddresses(3), {.timeout = absl::Seconds(120)});
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_TRUE(load.WaitForMoreOps(200, absl::Seconds(60)));
  load.Stop();
  const ring::HashRing after = CurrentRing(cluster_.master_address());
  ASSERT_EQ(after.epoch(), before.epoch() + 1);
  size_t moved = 0;
  for (const std::string& key : keys) moved += before.OwnerOf(key) != after.OwnerOf(key);
  ASSERT_GT(moved, 0u);

  // The old ring sends a moved key to its old shard, which fenced it: WRONG_SHARD, then the
  // master answers and the routes are fetched again. Every key has its last value.
  for (const std::string& key : keys) {
    auto value = stale.Get(key, {.timeout = kOpTimeout});
    ASSERT_TRUE(value.ok()) << key << ": " << value.status();
    EXPECT_EQ(*value, "v1-" + key);
  }
  const DirectStats refreshed = stale.direct_stats();
  EXPECT_GE(refreshed.wrong_shard, 1u);
  EXPECT_GE(refreshed.routes_fetched, 2u);
  EXPECT_EQ(refreshed.migration + refreshed.unreachable + refreshed.no_route, 0u);

  // From then on every key, moved or not, is reached directly at its new owner.
  std::map<std::string, std::optional<std::string>> expected;
  for (const std::string& key : keys) {
    ASSERT_TRUE(stale.Put(key, "v2-" + key, {.timeout = kOpTimeout}).ok()) << key;
    auto value = stale.Get(key, {.timeout = kOpTimeout});
    ASSERT_TRUE(value.ok()) << key << ": " << value.status();
    EXPECT_EQ(*value, "v2-" + key);
    expected[key] = "v2-" + key;
  }
  const DirectStats settled = stale.direct_stats();
  EXPECT_EQ(settled.via_master, refreshed.via_master);
  EXPECT_EQ(settled.direct, refreshed.direct + 2 * keys.size());
  ExpectKeysInOwnerShards(cluster_, after, expected);

  // The writers during the move: no error, linearizable with reads through the master.
  std::vector<lincheck::Operation> failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " operations failed:\n" << Failures(failures);
  const DirectStats busy_stats = busy.direct_stats();
  std::cout << "writers during AddShard: " << busy_stats.direct << " direct, "
            << busy_stats.via_master << " through the master (" << busy_stats.migration
            << " migration, " << busy_stats.wrong_shard << " wrong shard)\n";
  std::vector<lincheck::Operation> history = load.history();
  FinalReads(cluster_.master_address(), busy_keys, &history);
  ExpectLinearizable(history);
}

// ---- mutual TLS -----------------------------------------------------------------------------

std::shared_ptr<grpc::Channel> Dial(const std::string& address,
                                    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  // A channel of its own per caller: a refused handshake must not be retried on a shared one.
  grpc::ChannelArguments args;
  static int index = 0;
  args.SetInt("paxoskv.direct_test_channel", index++);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return context;
}

pb::Command KeyCommand(pb::Op op, const std::string& key) {
  pb::Command command;
  command.set_shard_id(1);
  command.set_op(op);
  command.set_key(key);
  return command;
}

TEST(DirectClientTlsTest, ClientCertificateExecutesKvCommandsButNothingElse) {
  ProcessClusterOptions options;
  options.tls = true;
  options.config_group = 100;  // started without --direct_clients (ProcessCluster)
  ProcessCluster cluster(options);
  ASSERT_TRUE(cluster.StartShard(100).ok());
  ASSERT_TRUE(cluster.WaitForLeader(100).ok());
  ASSERT_TRUE(cluster.StartShard(1).ok());
  auto leader = cluster.WaitForLeader(1);
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_TRUE(cluster.StartMaster({1}).ok());
  ASSERT_TRUE(
      ProcessCluster::MakeCertificates(cluster.dir() + "/certs", {"s2-r1=replica:2:1"}).ok());

  // The client library with a client's certificate: Routes yes, ClusterStatus no; its
  // requests go straight to the shard.
  KvClientOptions client_options = Direct();
  client_options.credentials = cluster.Credentials("client");
  KvClient direct(cluster.master_address(), client_options);
  auto routes = direct.Routes({.timeout = kOpTimeout});
  ASSERT_TRUE(routes.ok()) << routes.status();
  ASSERT_EQ(routes->shards_size(), 1);
  EXPECT_EQ(routes->shards(0).shard_id(), 1u);
  EXPECT_EQ(routes->shards(0).replicas_size(), 3);
  EXPECT_FALSE(routes->migration_running());
  EXPECT_EQ(direct.ClusterStatus({.timeout = kOpTimeout}).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(direct.Put("tls-key", "tls-value", {.timeout = kOpTimeout}).ok());
  auto value = direct.Get("tls-key", {.timeout = kOpTimeout});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "tls-value");
  EXPECT_EQ(direct.direct_stats().direct, 2u);
  EXPECT_EQ(direct.direct_stats().via_master, 0u);

  pb::Command cas = KeyCommand(pb::OP_CAS, "tls-key");
  cas.set_value("forged");
  cas.set_cas_expected("tls-value");
  pb::Command disarm;
  disarm.set_shard_id(1);
  disarm.set_op(pb::OP_ALARM);
  disarm.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NOSPACE);
  pb::Command scan;
  scan.set_shard_id(1);
  scan.set_op(pb::OP_SCAN_RANGE);
  scan.set_scan_limit(10);
  for (Process* replica : cluster.ShardReplicas(1)) {
    const bool leads = replica->address == *leader;
    for (const std::string name : {"client", "admin"}) {
      auto channel = Dial(replica->address, cluster.Credentials(name));
      auto stub = pb::Replica::NewStub(channel);
      auto migration = pb::Migration::NewStub(channel);
      const std::string who = name + " -> " + replica->name;
      // KV commands: the leader answers them, a follower names the leader (or, between
      // leaders, says it knows none).
      auto served = [leads](const grpc::Status& status) {
        return leads ? status.ok()
                     : status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                           status.error_code() == grpc::StatusCode::UNAVAILABLE;
      };
      pb::CommandResult result;
      auto c1 = Context();
      grpc::Status got = stub->Execute(c1.get(), KeyCommand(pb::OP_GET, "tls-key"), &result);
      EXPECT_TRUE(served(got)) << who << ": " << got.error_message();
      if (leads) {
        EXPECT_EQ(result.value(), "tls-value") << who;
      }
      pb::Command put = KeyCommand(pb::OP_PUT, "tls-" + name);
      put.set_value(name);
      auto c2 = Context();
      grpc::Status written = stub->Execute(c2.get(), put, &result);
      EXPECT_TRUE(served(written)) << who << ": " << written.error_message();
      pb::CommandBatch batch;
      *batch.add_commands() = KeyCommand(pb::OP_GET, "tls-key");
      pb::CommandBatchResult batch_result;
      auto c3 = Context();
      grpc::Status batched = stub->ExecuteBatch(c3.get(), batch, &batch_result);
      EXPECT_TRUE(served(batched)) << who << ": " << batched.error_message();
      // Everything else is the master's.
      for (const pb::Command& command : {cas, disarm, scan}) {
        auto c = Context();
        EXPECT_EQ(stub->Execute(c.get(), command, &result).error_code(),
                  grpc::StatusCode::PERMISSION_DENIED)
            << who << " " << pb::Op_Name(command.op());
      }
      pb::CommandBatch mixed;
      *mixed.add_commands() = KeyCommand(pb::OP_GET, "tls-key");
      *mixed.add_commands() = cas;
      auto c4 = Context();
      EXPECT_EQ(stub->ExecuteBatch(c4.get(), mixed, &batch_result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << who;
      pb::ReplicaStatus status;
      auto c5 = Context();
      EXPECT_EQ(stub->Status(c5.get(), pb::ReplicaStatusRequest(), &status).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << who;
      pb::MembershipChange change;
      change.set_shard_id(1);
      change.set_type(pb::MembershipChange::REMOVE);
      change.set_replica_id(1);
      pb::MembershipChangeResult change_result;
      auto c6 = Context();
      EXPECT_EQ(stub->ChangeMembership(c6.get(), change, &change_result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << who;
      auto c7 = Context();
      EXPECT_EQ(migration->Execute(c7.get(), scan, &result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << who;
    }
    // Replicas' certificates send no client command; the master's sends all of them.
    for (const std::string name : {"s1-r1", "s2-r1"}) {
      auto stub = pb::Replica::NewStub(Dial(replica->address, cluster.Credentials(name)));
      pb::CommandResult result;
      auto c = Context();
      EXPECT_EQ(stub->Execute(c.get(), KeyCommand(pb::OP_GET, "tls-key"), &result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " -> " << replica->name;
    }
    auto as_master = pb::Replica::NewStub(Dial(replica->address, cluster.Credentials("master")));
    pb::ReplicaStatus status;
    auto c = Context();
    EXPECT_TRUE(as_master->Status(c.get(), pb::ReplicaStatusRequest(), &status).ok())
        << replica->name;
  }
  // The configuration group's replicas (no --direct_clients) take no command from a client's
  // or an admin's certificate: the masters' state is out of their reach.
  for (Process* replica : cluster.ShardReplicas(100)) {
    for (const std::string name : {"client", "admin"}) {
      auto stub = pb::Replica::NewStub(Dial(replica->address, cluster.Credentials(name)));
      pb::Command forged = KeyCommand(pb::OP_PUT, "paxoskv/master_state");
      forged.set_shard_id(100);
      forged.set_value("forged");
      pb::Command read = KeyCommand(pb::OP_GET, "paxoskv/master_state");
      read.set_shard_id(100);
      for (const pb::Command& command : {forged, read}) {
        pb::CommandResult result;
        auto c = Context();
        EXPECT_EQ(stub->Execute(c.get(), command, &result).error_code(),
                  grpc::StatusCode::PERMISSION_DENIED)
            << name << " -> " << replica->name << " " << pb::Op_Name(command.op());
        pb::CommandBatch batch;
        *batch.add_commands() = command;
        pb::CommandBatchResult batch_result;
        auto cb = Context();
        EXPECT_EQ(stub->ExecuteBatch(cb.get(), batch, &batch_result).error_code(),
                  grpc::StatusCode::PERMISSION_DENIED)
            << name << " -> " << replica->name << " " << pb::Op_Name(command.op());
      }
    }
  }
  // The refused CAS changed nothing; the puts that were allowed are there.
  value = direct.Get("tls-key", {.timeout = kOpTimeout});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "tls-value");
  KvClientOptions admin_options;
  admin_options.credentials = cluster.Credentials("admin");
  KvClient master(cluster.master_address(), admin_options);
  for (const std::string name : {"client", "admin"}) {
    auto put = master.Get("tls-" + name, {.timeout = kOpTimeout});
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(*put, name);
  }
}

}  // namespace
}  // namespace paxoskv::testing
