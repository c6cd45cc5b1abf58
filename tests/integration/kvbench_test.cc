// kvbench against a real 1-shard cluster and master: both drivers (callback, threads) run
// the requested mix, report figures that agree with the history they write, and the history
// is linearizable; a dead address fails every op fast without hanging the callback driver;
// bad flags exit 2; the echo server answers on either gRPC API. The benchmark figures
// themselves are never asserted (bench/ measures).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/client/lincheck/checker.h"
#include "services/client/lincheck/history.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

// The JSON object kvbench --json prints as its last line.
nlohmann::json LastJson(const std::string& out) {
  const size_t start = out.rfind("\n{");
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

class KvbenchTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new ProcessCluster();
    ASSERT_TRUE(cluster_->StartShard(1).ok());
    ASSERT_TRUE(cluster_->WaitForLeader(1).ok());
    ASSERT_TRUE(cluster_->StartMaster({1}).ok());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  std::string Kvbench(const std::string& args) const {
    return absl::StrCat(cluster_->bin_dir(), "/kvbench --insecure --driver=", GetParam(), " ",
                        args);
  }

  static ProcessCluster* cluster_;
};

ProcessCluster* KvbenchTest::cluster_ = nullptr;

TEST_P(KvbenchTest, MixedLoadMatchesItsLinearizableHistory) {
  const std::string history_path =
      absl::StrCat(::testing::TempDir(), "/kvbench-", GetParam(), ".jsonl");
  CommandResult r = RunCommand(Kvbench(absl::StrCat(
      "--target=master --addr=", cluster_->master_address(),
      " --clients=8 --ops=600 --keys=20 --value_size=40 --read_percent=40 --delete_percent=20",
      " --prefix=mixed-", GetParam(), "- --json --history=", history_path)));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json figures = LastJson(r.out);
  EXPECT_EQ(figures["ops"].get<int64_t>(), 600) << r.out;
  EXPECT_EQ(figures["errors_total"].get<int64_t>(), 0) << r.out;
  for (const char* op : {"get", "put", "delete"}) {
    EXPECT_GT(figures["by_op"][op]["ops"].get<int64_t>(), 0) << op << ": " << r.out;
  }

  std::ifstream in(history_path);
  auto history = lincheck::ParseHistory(in);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 600u);   // no warm-up: every op is measured and recorded
  std::map<int64_t, int64_t> last_return_by_client;
  for (const lincheck::Operation& op : *history) {
    EXPECT_LT(op.call_ns, op.return_ns);
    EXPECT_EQ(op.status == "OK" || op.status == "NOT_FOUND", true) << op.status;
    EXPECT_TRUE(absl::StartsWith(op.key, "mixed-" + GetParam() + "-")) << op.key;
    if (op.kind == lincheck::OpKind::kPut) {
      EXPECT_EQ(op.value.size(), 40u) << op.value;
    }
    // Closed loop: a client's next call starts after its previous one returned.
    auto [it, fresh] = last_return_by_client.emplace(op.client, op.return_ns);
    if (!fresh) {
      EXPECT_GE(op.call_ns, it->second) << "client " << op.client << " overlapped itself";
      it->second = op.return_ns;
    }
  }
  EXPECT_EQ(last_return_by_client.size(), 8u);
  lincheck::CheckResult check = lincheck::Check(*history);
  EXPECT_EQ(check.verdict, lincheck::Verdict::kLinearizable)
      << lincheck::FormatReport(check, /*verbose=*/true);
}

TEST_P(KvbenchTest, PreloadedGetsFindEveryValue) {
  CommandResult r = RunCommand(Kvbench(absl::StrCat(
      "--target=master --addr=", cluster_->master_address(),
      " --clients=4 --ops=200 --keys=50 --preload --read_percent=100 --prefix=preload-",
      GetParam(), "- --json --history=/dev/null")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "preload:")) << r.out;   // no failed preload put
  nlohmann::json figures = LastJson(r.out);
  EXPECT_EQ(figures["by_op"]["get"]["ops"].get<int64_t>(), 200) << r.out;
  EXPECT_EQ(figures["errors_total"].get<int64_t>(), 0) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Drivers, KvbenchTest, ::testing::Values("callback", "threads"),
                         [](const ::testing::TestParamInfo<std::string>& driver) {
                           return driver.param;
                         });

// A port bound but not listening: connections are refused, and no other test's server can
// take the port meanwhile (the socket has no SO_REUSEPORT). Closed by the destructor.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A dead master: the callback driver fails each op at once (one attempt, no retry), runs for
// the duration it was given and exits 0 with the errors counted; --stop_on_error exits 1.
TEST(KvbenchCallbackDriverTest, DeadAddressFailsFastAndStops) {
  ProcessCluster cluster;   // only for bin_dir
  RefusingPort refusing;
  ASSERT_GT(refusing.port(), 0);
  const std::string dead = absl::StrCat("127.0.0.1:", refusing.port());
  const std::string kvbench =
      absl::StrCat(cluster.bin_dir(), "/kvbench --insecure --target=master --addr=", dead,
                   " --clients=4 --op_timeout_ms=500");
  CommandResult r = RunCommand(kvbench + " --duration_s=1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json figures = LastJson(r.out);
  EXPECT_GT(figures["ops"].get<int64_t>(), 0);
  EXPECT_EQ(figures["errors_total"], figures["ops"]);
  // Refused connections fail a call at once; a call that waited on a connection attempt
  // may end at its deadline instead (seen: 1 in 100,000).
  EXPECT_GT(figures["errors"]["UNAVAILABLE"].get<int64_t>(), 0);
  for (const auto& [code, count] : figures["errors"].items()) {
    EXPECT_TRUE(code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED") << code << ": " << count;
  }

  CommandResult stopped = RunCommand(kvbench + " --duration_s=30 --stop_on_error");
  EXPECT_EQ(stopped.exit_code, 1) << stopped.out;
  EXPECT_TRUE(absl::StrContains(stopped.out, "UNAVAILABLE")) << stopped.out;
}

// paxoskv-echo, make bench's yardstick, on either gRPC server API: kvbench's echo calls all
// succeed, and the server exits 0 on SIGTERM; an unknown --api exits 2.
TEST(EchoServerTest, AnswersOnEitherApiAndStopsOnSigterm) {
  ProcessCluster cluster;  // only for bin_dir
  const std::string bin = cluster.bin_dir();
  for (const std::string api : {"sync", "callback"}) {
    const std::string address = absl::StrCat("127.0.0.1:", ProcessCluster::PickFreePort());
    const std::string log = absl::StrCat(::testing::TempDir(), "/echo-", api, ".log");
    CommandResult r = RunCommand(absl::StrCat(
        bin, "/paxoskv-echo --insecure --listen=", address, " --api=", api, " 2>", log,
        " & e=$!; for i in $(seq 100); do grep -q 'serving on' ", log,
        " && break; sleep 0.05; done; ", bin, "/kvbench --insecure --target=echo --addr=", address,
        " --clients=4 --ops=200 --json; rc=$?; kill -TERM $e; wait $e; ",
        "echo \"echo exit $?\"; exit $rc"));
    ASSERT_EQ(r.exit_code, 0) << api << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "echo exit 0")) << api << ": " << r.out;
    const size_t json_end = r.out.rfind("}");
    ASSERT_NE(json_end, std::string::npos) << r.out;
    nlohmann::json figures = LastJson(r.out.substr(0, json_end + 1));
    EXPECT_EQ(figures["ops"].get<int64_t>(), 200) << api << ": " << r.out;
    EXPECT_EQ(figures["errors_total"].get<int64_t>(), 0) << api << ": " << r.out;
  }
  CommandResult bad = RunCommand(bin + "/paxoskv-echo --insecure --api=async");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_TRUE(absl::StrContains(bad.out, "--api must be sync or callback")) << bad.out;
}

TEST(KvbenchFlagsTest, BadFlagsExit2WithAReason) {
  ProcessCluster cluster;
  const std::string kvbench = cluster.bin_dir() + "/kvbench --insecure ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--target=nope", "--target must be"},
      {"--target=echo --driver=threads", "runs only on --driver=callback"},
      {"--target=replica --driver=callback", "runs only on --driver=threads"},
      {"--driver=fast", "--driver must be callback or threads"},
      {"--clients=0", "--clients must be >= 1"},
      {"--target=etcd --delete_percent=10", "does not support deletes"},
  };
  for (const auto& [args, reason] : cases) {
    CommandResult r = RunCommand(kvbench + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, reason)) << args << ": " << r.out;
  }
}

}  // namespace
}  // namespace paxoskv::testing
