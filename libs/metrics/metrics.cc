// See metrics.h.
#include "libs/metrics/metrics.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <exception>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace paxoskv::metrics {
namespace {

// The collectors of AddCollector, asked at every scrape; the dead ones are dropped there.
class CollectorSet final : public prometheus::Collectable {
 public:
  void Add(std::weak_ptr<prometheus::Collectable> collector) {
    absl::MutexLock lock(&mu_);
    collectors_.push_back(std::move(collector));
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<std::shared_ptr<prometheus::Collectable>> live;
    {
      absl::MutexLock lock(&mu_);
      std::erase_if(collectors_, [](const auto& weak) { return weak.expired(); });
      for (const auto& weak : collectors_) {
        if (auto collector = weak.lock()) live.push_back(std::move(collector));
      }
    }
    // Asked without the lock: a collector may take its owner's locks.
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collector : live) {
      for (auto& family : collector->Collect()) families.push_back(std::move(family));
    }
    return families;
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::weak_ptr<prometheus::Collectable>> collectors_ ABSL_GUARDED_BY(mu_);
};

std::shared_ptr<prometheus::Registry>& RegistryPtr() {
  static auto* registry = new std::shared_ptr<prometheus::Registry>(
      std::make_shared<prometheus::Registry>(prometheus::Registry::InsertBehavior::Merge));
  return *registry;
}

std::shared_ptr<CollectorSet>& Collectors() {
  static auto* collectors = new std::shared_ptr<CollectorSet>(std::make_shared<CollectorSet>());
  return *collectors;
}

// paxoskv_grpc_server_handled_total, one counter per (full method, code), made on first use.
class HandledCounters {
 public:
  static HandledCounters& Get() {
    static auto* counters = new HandledCounters();
    return *counters;
  }
  void Count(absl::string_view full_method, grpc::StatusCode code) {
    const int index = static_cast<int>(code);
    if (index < 0 || index >= kCodes) return;
    prometheus::Counter* counter = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto& row = by_method_[full_method];
      if (row[index] == nullptr) row[index] = &family_.Add(Labels(full_method, code));
      counter = row[index];
    }
    counter->Increment();
  }

 private:
  static constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  HandledCounters()
      : family_(prometheus::BuildCounter()
                    .Name("paxoskv_grpc_server_handled_total")
                    .Help("RPCs completed on the server, by service, method and status code")
                    .Register(Registry())) {}

  static std::map<std::string, std::string> Labels(absl::string_view full_method,
                                                   grpc::StatusCode code) {
    // "/paxoskv.v1.KV/Put" -> service "paxoskv.v1.KV", method "Put".
    absl::string_view service = full_method;
    absl::string_view method;
    if (!service.empty() && service.front() == '/') service.remove_prefix(1);
    if (const size_t slash = service.find('/'); slash != absl::string_view::npos) {
      method = service.substr(slash + 1);
      service = service.substr(0, slash);
    }
    return {{"grpc_service", std::string(service)},
            {"grpc_method", std::string(method)},
            {"grpc_code", CodeName(code)}};
  }
  static std::string CodeName(grpc::StatusCode code) {
    static constexpr std::array<const char*, kCodes> kNames = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    return kNames[static_cast<int>(code)];
  }

  prometheus::Family<prometheus::Counter>& family_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::array<prometheus::Counter*, kCodes>> by_method_
      ABSL_GUARDED_BY(mu_);
};

class HandledInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit HandledInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : "") {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      HandledCounters::Get().Count(method_, methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  absl::string_view method_;  // gRPC's registered method name, alive as long as the server
};

class HandledInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new HandledInterceptor(info);
  }
};

}  // namespace

prometheus::Registry& Registry() { return *RegistryPtr(); }

std::vector<prometheus::MetricFamily> FunctionCollector::Collect() const {
  absl::MutexLock lock(&mu_);
  if (!collect_) return {};
  return collect_();
}

void FunctionCollector::Detach() {
  absl::MutexLock lock(&mu_);
  collect_ = nullptr;
}

void AddCollector(std::weak_ptr<prometheus::Collectable> collector) {
  Collectors()->Add(std::move(collector));
}

prometheus::MetricFamily MakeFamily(const std::string& name, const std::string& help,
                                    const std::vector<std::pair<Labels, double>>& values,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  for (const auto& [labels, value] : values) {
    prometheus::ClientMetric metric;
    for (const auto& [label, label_value] : labels) metric.label.push_back({label, label_value});
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }
  return family;
}

std::string Scrape() {
  std::vector<prometheus::MetricFamily> families = Registry().Collect();
  for (auto& family : Collectors()->Collect()) families.push_back(std::move(family));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor, int count) {
  prometheus::Histogram::BucketBoundaries buckets;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    buckets.push_back(bound);
    bound *= factor;
  }
  return buckets;
}

void InstallServerMetrics(grpc::ServerBuilder* builder) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<HandledInterceptorFactory>());
  builder->experimental().SetInterceptorCreators(std::move(creators));
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: want HOST:PORT, got \"", listen, "\""));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  server->exposer_->RegisterCollectable(RegistryPtr());
  server->exposer_->RegisterCollectable(Collectors());
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? port : ports.front();
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace paxoskv::metrics
