// Unit tests of libs/metrics: collectors read at scrape time and detached by their owner,
// families built by hand, the text a scrape returns, the HTTP endpoint and its refusals, and
// the gRPC handled-requests counter on a real in-process server.
#include "libs/metrics/metrics.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "paxoskv/v1/echo.grpc.pb.h"
#include "services/client/echo_service.h"
#include "tests/http_get.h"

namespace paxoskv::metrics {
namespace {

TEST(MetricsTest, ACollectorIsReadAtEachScrapeUntilDetached) {
  std::atomic<int> value{7};
  auto collector = std::make_shared<FunctionCollector>([&value] {
    return std::vector<prometheus::MetricFamily>{
        MakeFamily("test_collected", "a gauge read at scrape time",
                   {{{{"shard", "3"}}, static_cast<double>(value.load())}})};
  });
  AddCollector(collector);
  EXPECT_TRUE(absl::StrContains(Scrape(), "test_collected{shard=\"3\"} 7")) << Scrape();
  value = 9;
  EXPECT_TRUE(absl::StrContains(Scrape(), "test_collected{shard=\"3\"} 9"));
  collector->Detach();
  EXPECT_FALSE(absl::StrContains(Scrape(), "test_collected"));
  collector.reset();  // the set holds it weakly
  EXPECT_FALSE(absl::StrContains(Scrape(), "test_collected"));
}

TEST(MetricsTest, CountersOfTheRegistryAreScraped) {
  auto& family =
      prometheus::BuildCounter().Name("test_events_total").Help("events").Register(Registry());
  family.Add({{"kind", "a"}}).Increment(3);
  // Building the same family again gives the first one (merge), not a second family.
  prometheus::BuildCounter()
      .Name("test_events_total")
      .Help("events")
      .Register(Registry())
      .Add({{"kind", "a"}})
      .Increment(2);
  EXPECT_TRUE(absl::StrContains(Scrape(), "test_events_total{kind=\"a\"} 5")) << Scrape();
  EXPECT_TRUE(absl::StrContains(Scrape(), "# TYPE test_events_total counter"));
}

TEST(MetricsTest, ExponentialBucketsDouble) {
  EXPECT_EQ(ExponentialBuckets(0.001, 2, 4),
            (prometheus::Histogram::BucketBoundaries{0.001, 0.002, 0.004, 0.008}));
}

TEST(MetricsTest, ServesOverHttpAndRefusesBadAddresses) {
  auto server = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  prometheus::BuildGauge().Name("test_served").Help("served").Register(Registry()).Add({}).Set(42);
  const std::string response = testing::HttpGet(absl::StrCat("127.0.0.1:", (*server)->port()), "/metrics");
  EXPECT_TRUE(absl::StrContains(response, "200 OK")) << response;
  EXPECT_TRUE(absl::StrContains(response, "test_served 42")) << response;

  EXPECT_TRUE(absl::IsInvalidArgument(MetricsServer::Start("no-port").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(MetricsServer::Start("127.0.0.1:99999").status()));
  // The port is taken: a clear refusal, not an exception.
  auto taken = MetricsServer::Start(absl::StrCat("127.0.0.1:", (*server)->port()));
  EXPECT_TRUE(absl::IsUnavailable(taken.status())) << taken.status();
}

TEST(MetricsTest, EveryRpcAServerFinishesIsCountedByMethodAndCode) {
  grpc::EnableDefaultHealthCheckService(true);
  paxoskv::client::CallbackEchoService echo;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&echo);
  InstallServerMetrics(&builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  auto call = [&](const std::string& method) {
    grpc::ClientContext context;
    grpc::ByteBuffer request(nullptr, 0);
    grpc::ByteBuffer response;
    absl::Notification done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status) { done.Notify(); });
    done.WaitForNotification();
  };
  call("/paxoskv.v1.Echo/Echo");
  call("/paxoskv.v1.Echo/Echo");
  call("/no.Such/Method");
  const std::string text = Scrape();
  EXPECT_TRUE(absl::StrContains(text, "grpc_code=\"OK\"")) << text;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "paxoskv_grpc_server_handled_total{") &&
        absl::StrContains(line, "grpc_service=\"paxoskv.v1.Echo\"") &&
        absl::StrContains(line, "grpc_method=\"Echo\"") &&
        absl::StrContains(line, "grpc_code=\"OK\"")) {
      found = true;
      EXPECT_TRUE(absl::EndsWith(line, " 2")) << line;
    }
  }
  EXPECT_TRUE(found) << text;
  server->Shutdown();
}

}  // namespace
}  // namespace paxoskv::metrics
