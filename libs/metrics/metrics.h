// Prometheus metrics of one process: the registry every part adds its counters, gauges and
// histograms to, collectors asked at scrape time, the gRPC server's handled-requests counter,
// and the HTTP endpoint (/metrics) that serves them all (README "Metrics" lists the names).
//
// Names follow etcd's where etcd has the concept (paxoskv_server_has_leader for
// etcd_server_has_leader, ...), so that dashboards and alert rules translate.
// Thread-safe: counters, gauges and histograms are atomic (prometheus-cpp); the collector set
// and the gRPC counter cache take their own locks. Collect runs on the exposer's HTTP thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace grpc {
class ServerBuilder;
}
namespace prometheus {
class Exposer;
}

namespace paxoskv::metrics {

// The process's registry. Building a family twice with the same name and constant labels
// returns the first one (kMerge), so parts may each build the families they use.
prometheus::Registry& Registry();

// A source of metric families read at each scrape (a status snapshot turned into gauges).
// Its owner calls Detach before the state `collect` reads goes away: Detach waits for a
// scrape in progress, and later scrapes get nothing from it.
class FunctionCollector final : public prometheus::Collectable {
 public:
  explicit FunctionCollector(std::function<std::vector<prometheus::MetricFamily>()> collect)
      : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;
  void Detach();

 private:
  mutable absl::Mutex mu_;
  std::function<std::vector<prometheus::MetricFamily>()> collect_ ABSL_GUARDED_BY(mu_);
};

// Asks `collector` at every scrape while it lives (held weakly: its owner's destruction
// removes it).
void AddCollector(std::weak_ptr<prometheus::Collectable> collector);

// One family of gauges (or counters, `type`) with a value per label set, for collectors.
using Labels = std::map<std::string, std::string>;
prometheus::MetricFamily MakeFamily(const std::string& name, const std::string& help,
                                    const std::vector<std::pair<Labels, double>>& values,
                                    prometheus::MetricType type = prometheus::MetricType::Gauge);

// Every metric of the process in Prometheus's text format: what /metrics answers.
std::string Scrape();

// Histogram buckets start, start*factor, ... (count of them), as Prometheus's Go client's
// ExponentialBuckets (etcd's fsync histogram: 0.001, 2, 14).
prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor, int count);

// Counts every RPC the server built by `builder` finishes, by service, method and status
// code: paxoskv_grpc_server_handled_total (grpc-prometheus's grpc_server_handled_total).
void InstallServerMetrics(grpc::ServerBuilder* builder);

// Serves Scrape() over plain HTTP at http://`listen`/metrics (etcd's --listen-metrics-urls)
// until destroyed. kInvalidArgument for a malformed address, kUnavailable when it cannot
// listen.
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // The port it listens on (the real one when `listen` asked for port 0).
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace paxoskv::metrics
