// See master_metrics.h.
#include "services/master/master_metrics.h"

#include "absl/strings/ascii.h"
#include "libs/common/status_markers.h"

namespace paxoskv::master {

using prometheus::MetricFamily;

MasterMetrics& MasterMetrics::Get() {
  static auto* metrics = new MasterMetrics();
  return *metrics;
}

MasterMetrics::MasterMetrics()
    : shard_request_family_(
          prometheus::BuildHistogram()
              .Name("paxoskv_master_shard_request_duration_seconds")
              .Help("From routing a request or batch to a shard until its answer (retries "
                    "included), by shard")
              .Register(metrics::Registry())),
      retries_family_(prometheus::BuildCounter()
                          .Name("paxoskv_master_retries_total")
                          .Help("Attempts made again at another replica, by what the last one "
                                "answered")
                          .Register(metrics::Registry())),
      batch_size_(prometheus::BuildHistogram()
                      .Name("paxoskv_master_batch_size_commands")
                      .Help("Commands per ExecuteBatch call to a shard leader")
                      .Register(metrics::Registry())
                      .Add({}, metrics::ExponentialBuckets(1, 2, 11))),
      rejected_(prometheus::BuildCounter()
                    .Name("paxoskv_master_requests_rejected_total")
                    .Help("KV requests refused at admission (RESOURCE_EXHAUSTED): the in-flight "
                          "bounds were reached")
                    .Register(metrics::Registry())
                    .Add({})) {}

prometheus::Histogram& MasterMetrics::ShardRequest(uint32_t shard_id) {
  absl::MutexLock lock(&mu_);
  auto& histogram = shard_request_[shard_id];
  if (histogram == nullptr) {
    // 0.5 ms .. 8 s.
    histogram = &shard_request_family_.Add({{"shard", std::to_string(shard_id)}},
                                           metrics::ExponentialBuckets(0.0005, 2, 15));
  }
  return *histogram;
}

void MasterMetrics::Retry(const absl::Status& status) {
  if (IsWrongReplica(status)) {
    CountRetry("wrong_replica");
  } else if (LeaderHint(status).has_value()) {
    CountRetry("not_leader");
  } else {
    CountRetry(absl::AsciiStrToLower(absl::StatusCodeToString(status.code())));
  }
}

void MasterMetrics::RetryAfterHint() { CountRetry("leader_hint"); }

void MasterMetrics::CountRetry(absl::string_view cause) {
  prometheus::Counter* counter = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = retries_.find(cause);
    if (it == retries_.end()) {
      it = retries_
               .emplace(std::string(cause), &retries_family_.Add({{"cause", std::string(cause)}}))
               .first;
    }
    counter = it->second;
  }
  counter->Increment();
}

std::vector<MetricFamily> MasterMetrics::FromSnapshot(const Snapshot& snapshot) {
  auto one = [](const std::string& name, const std::string& help, double value) {
    return metrics::MakeFamily(name, help, {{{}, value}});
  };
  const paxoskv::v1::MigrationInfo& migration = snapshot.migration;
  std::vector<MetricFamily> families;
  families.push_back(one("paxoskv_master_requests_in_flight",
                         "KV requests the master holds now (admission queue)",
                         snapshot.requests_in_flight));
  families.push_back(one("paxoskv_master_bytes_in_flight",
                         "Bytes of keys and values the master holds now",
                         snapshot.bytes_in_flight));
  families.push_back(one("paxoskv_master_requests_in_flight_max", "--requests_in_flight_max",
                         snapshot.requests_in_flight_max));
  families.push_back(one("paxoskv_master_bytes_in_flight_max", "--bytes_in_flight_max",
                         snapshot.bytes_in_flight_max));
  families.push_back(one("paxoskv_master_ring_epoch", "The ring's epoch", snapshot.ring_epoch));
  families.push_back(one("paxoskv_master_ring_shards", "Shards the ring names", snapshot.shards));
  families.push_back(one("paxoskv_master_migration_running",
                         "1 while a shard is being added or removed", migration.running()));
  families.push_back(one("paxoskv_master_migration_keys_moved",
                         "Keys the running (or last) migration has moved", migration.keys_moved()));
  families.push_back(one("paxoskv_master_migration_keys_to_move",
                         "Keys it has to move (an estimate until every range is scanned)",
                         migration.keys_to_move()));
  families.push_back(one("paxoskv_master_migration_ranges_moved",
                         "Hash ranges whose keys are all at their new owner",
                         migration.ranges_moved()));
  families.push_back(one("paxoskv_master_migration_ranges_to_move", "Hash ranges to move",
                         migration.ranges_to_move()));
  return families;
}

}  // namespace paxoskv::master
