// Prometheus metrics of a master gateway (README "Metrics"): how long each shard takes to
// answer what is routed to it, retries by cause, batch sizes, the admission bounds, and at
// scrape time the ring and a migration's progress.
// Thread-safe: one object per process (masters in one test process share it); counters and
// histograms are atomic, the per-shard and per-cause caches take a short lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "libs/metrics/metrics.h"
#include "paxoskv/v1/admin.pb.h"

namespace paxoskv::master {

class MasterMetrics {
 public:
  static MasterMetrics& Get();

  // paxoskv_master_shard_request_duration_seconds{shard}: from routing a request (or a batch)
  // to the shard until its answer, retries included.
  prometheus::Histogram& ShardRequest(uint32_t shard_id) ABSL_LOCKS_EXCLUDED(mu_);
  // paxoskv_master_batch_size_commands: commands per ExecuteBatch call.
  prometheus::Histogram& batch_size() { return batch_size_; }
  // paxoskv_master_retries_total{cause}: another attempt after `status` (its code, or
  // not_leader when a leader hint was followed, wrong_replica).
  void Retry(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  void RetryAfterHint() ABSL_LOCKS_EXCLUDED(mu_);
  // paxoskv_master_requests_rejected_total: refused at admission (RESOURCE_EXHAUSTED).
  prometheus::Counter& rejected() { return rejected_; }

  // What a scrape reads from the master: the admission counts, the ring and the migration.
  struct Snapshot {
    int64_t requests_in_flight = 0;
    int64_t bytes_in_flight = 0;
    int64_t requests_in_flight_max = 0;
    int64_t bytes_in_flight_max = 0;
    uint64_t ring_epoch = 0;
    size_t shards = 0;
    paxoskv::v1::MigrationInfo migration;
  };
  static std::vector<prometheus::MetricFamily> FromSnapshot(const Snapshot& snapshot);

  MasterMetrics();

 private:
  void CountRetry(absl::string_view cause) ABSL_LOCKS_EXCLUDED(mu_);

  prometheus::Family<prometheus::Histogram>& shard_request_family_;
  prometheus::Family<prometheus::Counter>& retries_family_;
  prometheus::Histogram& batch_size_;
  prometheus::Counter& rejected_;
  absl::Mutex mu_;
  std::map<uint32_t, prometheus::Histogram*> shard_request_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Counter*, std::less<>> retries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paxoskv::master
