// See replica_metrics.h.
#include "services/replica/replica_metrics.h"

#include <chrono>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace paxoskv::replica {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

// etcd's buckets: fsync 1 ms .. 8 s; snapshots 10 ms .. 164 s; round trips 0.1 ms .. 1.6 s.
prometheus::Histogram::BucketBoundaries FsyncBuckets() {
  return metrics::ExponentialBuckets(0.001, 2, 14);
}
prometheus::Histogram::BucketBoundaries SnapshotBuckets() {
  return metrics::ExponentialBuckets(0.01, 2, 15);
}
prometheus::Histogram::BucketBoundaries RoundTripBuckets() {
  return metrics::ExponentialBuckets(0.0001, 2, 15);
}

prometheus::Family<prometheus::Histogram>& HistogramFamily(const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(metrics::Registry());
}
prometheus::Family<prometheus::Counter>& CounterFamily(const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(metrics::Registry());
}

class MeteredAcceptorStore final : public storage::AcceptorStore {
 public:
  MeteredAcceptorStore(std::unique_ptr<storage::AcceptorStore> inner,
                       std::shared_ptr<ReplicaMetrics> metrics)
      : inner_(std::move(inner)), metrics_(std::move(metrics)) {}
  absl::StatusOr<storage::Identity> CheckIdentity(const storage::Identity& wanted) override {
    return inner_->CheckIdentity(wanted);
  }
  absl::StatusOr<paxos::DurableState> Load() override { return inner_->Load(); }
  absl::Status Write(const storage::WriteBatch& batch) override {
    if (!batch.sync) return inner_->Write(batch);
    const auto started = std::chrono::steady_clock::now();
    absl::Status status = inner_->Write(batch);
    metrics_->wal_fsync().Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return status;
  }
  absl::StatusOr<std::unique_ptr<storage::SnapshotWriter>> NewSnapshot(SlotId last_slot) override {
    return inner_->NewSnapshot(last_slot);
  }
  absl::StatusOr<std::unique_ptr<storage::SnapshotReader>> OpenSnapshot() override {
    return inner_->OpenSnapshot();
  }
  uint64_t ApproximateSizeBytes() override { return inner_->ApproximateSizeBytes(); }

 private:
  const std::unique_ptr<storage::AcceptorStore> inner_;
  const std::shared_ptr<ReplicaMetrics> metrics_;
};

}  // namespace

std::shared_ptr<ReplicaMetrics> ReplicaMetrics::For(uint32_t shard_id, uint32_t replica_id) {
  static absl::Mutex mu;
  static auto* all =
      new absl::flat_hash_map<std::pair<uint32_t, uint32_t>, std::shared_ptr<ReplicaMetrics>>();
  absl::MutexLock lock(&mu);
  auto& metrics = (*all)[{shard_id, replica_id}];
  if (metrics == nullptr) metrics = std::make_shared<ReplicaMetrics>(shard_id, replica_id);
  return metrics;
}

ReplicaMetrics::ReplicaMetrics(uint32_t shard_id, uint32_t replica_id)
    : shard_(std::to_string(shard_id)),
      replica_(std::to_string(replica_id)),
      wal_fsync_(HistogramFamily("paxoskv_disk_wal_fsync_duration_seconds",
                                 "Latency of the synced writes of the Paxos state (fsync)")
                     .Add(Labels(), FsyncBuckets())),
      snapshot_save_(HistogramFamily("paxoskv_disk_snapshot_save_duration_seconds",
                                     "Time to write a snapshot of the state machine and commit it")
                         .Add(Labels(), SnapshotBuckets())),
      snapshot_install_(
          HistogramFamily("paxoskv_snapshot_install_duration_seconds",
                          "Time to install a snapshot received from the leader (with the rest "
                          "of its step)")
              .Add(Labels(), SnapshotBuckets())),
      sent_family_(CounterFamily("paxoskv_network_peer_sent_bytes_total",
                                 "Bytes of Paxos messages sent to each peer")),
      received_family_(CounterFamily("paxoskv_network_peer_received_bytes_total",
                                     "Bytes of Paxos messages received from each peer")),
      round_trip_family_(HistogramFamily("paxoskv_network_peer_round_trip_time_seconds",
                                         "Round trip of a probe to each peer, every 5 s")) {}

metrics::Labels ReplicaMetrics::Labels() const {
  return {{"shard", shard_}, {"replica", replica_}};
}

metrics::Labels ReplicaMetrics::PeerLabels(const char* direction, uint32_t peer) const {
  metrics::Labels labels = Labels();
  labels[direction] = peer == 0 ? "other" : std::to_string(peer);
  return labels;
}

prometheus::Counter& ReplicaMetrics::PeerCounter(std::map<uint32_t, prometheus::Counter*>& made,
                                                 prometheus::Family<prometheus::Counter>& family,
                                                 const char* direction, uint32_t peer) {
  // The id comes from the message (authenticated only with TLS): a bounded number of label
  // values, the rest counted under peer 0 ("other").
  if (made.size() >= kPeersLabelledMax && made.count(peer) == 0) peer = 0;
  prometheus::Counter*& counter = made[peer];
  if (counter == nullptr) counter = &family.Add(PeerLabels(direction, peer));
  return *counter;
}

prometheus::Counter& ReplicaMetrics::SentBytes(uint32_t peer) {
  absl::MutexLock lock(&mu_);
  return PeerCounter(sent_, sent_family_, "to", peer);
}

prometheus::Counter& ReplicaMetrics::ReceivedBytes(uint32_t peer) {
  absl::MutexLock lock(&mu_);
  return PeerCounter(received_, received_family_, "from", peer);
}

prometheus::Histogram& ReplicaMetrics::RoundTrip(uint32_t peer) {
  absl::MutexLock lock(&mu_);
  auto& histogram = round_trip_[peer];
  if (histogram == nullptr) {
    histogram = &round_trip_family_.Add(PeerLabels("to", peer), RoundTripBuckets());
  }
  return *histogram;
}

std::vector<MetricFamily> ReplicaMetrics::FromStatus(const paxoskv::v1::ReplicaStatus& status,
                                                     const ReplicaCore::Stats& stats) const {
  const metrics::Labels labels = Labels();
  auto one = [&](const std::string& name, const std::string& help, double value,
                 MetricType type = MetricType::Gauge) {
    return metrics::MakeFamily(name, help, {{labels, value}}, type);
  };
  std::vector<MetricFamily> families;
  families.push_back(one("paxoskv_server_has_leader",
                         "1 if this replica knows a leader of its shard, else 0",
                         status.leader_id() != 0 ? 1 : 0));
  families.push_back(one("paxoskv_server_is_leader", "1 if this replica leads its shard",
                         status.role() == "leader" ? 1 : 0));
  families.push_back(one("paxoskv_server_leader_changes_seen_total",
                         "Leader changes this replica has seen", stats.leader_changes_seen,
                         MetricType::Counter));
  families.push_back(one("paxoskv_server_proposals_committed_total",
                         "The highest slot known chosen (etcd: committed index)",
                         status.chosen_slot()));
  families.push_back(one("paxoskv_server_proposals_applied_total",
                         "The highest slot applied to the state machine", status.applied_slot()));
  families.push_back(one("paxoskv_server_proposals_pending",
                         "Commands and reads waiting for their outcome", stats.proposals_pending));
  families.push_back(one("paxoskv_server_proposals_failed_total",
                         "Commands failed with UNAVAILABLE (leadership lost, overloaded)",
                         stats.proposals_failed, MetricType::Counter));
  families.push_back(one("paxoskv_server_snapshot_slot", "The slot of the latest snapshot",
                         status.snapshot_slot()));
  families.push_back(one("paxoskv_server_refused_messages_total",
                         "Peer messages refused (malformed, hostile)", status.refused_messages(),
                         MetricType::Counter));
  families.push_back(one("paxoskv_server_is_voter", "1 if this replica votes in its shard",
                         status.voter() ? 1 : 0));
  families.push_back(one("paxoskv_mvcc_db_total_size_in_bytes",
                         "The state machine's size: keys, values and dedup results",
                         status.state_bytes()));
  families.push_back(
      one("paxoskv_mvcc_keys_total", "Keys in the state machine", status.key_count()));
  families.push_back(one("paxoskv_server_quota_backend_bytes",
                         "The space quota (--quota_backend_bytes; 0: none)", status.quota_bytes()));
  if (status.free_bytes() != 0) {
    families.push_back(one("paxoskv_disk_free_bytes",
                           "Free bytes of the data directory's file system", status.free_bytes()));
  }
  families.push_back(one("paxoskv_server_nospace",
                         "1 if this replica is past its quota or below its free-disk floor",
                         status.nospace() ? 1 : 0));
  std::vector<std::pair<metrics::Labels, double>> alarms;
  for (const auto& alarm : status.alarms()) {
    metrics::Labels alarm_labels = labels;
    alarm_labels["alarm_type"] = "NOSPACE";
    alarm_labels["member_id"] = std::to_string(alarm.member_id());
    alarms.emplace_back(std::move(alarm_labels), 1);
  }
  families.push_back(metrics::MakeFamily(
      "paxoskv_server_alarms", "The shard's raised alarms (1 per member and type)", alarms));
  if (status.role() == "leader") {
    std::vector<std::pair<metrics::Labels, double>> lag;
    for (const auto& [member, chosen] : status.member_chosen_slot()) {
      metrics::Labels member_labels = labels;
      member_labels["member"] = std::to_string(member);
      lag.emplace_back(std::move(member_labels),
                       status.chosen_slot() > chosen ? status.chosen_slot() - chosen : 0);
    }
    families.push_back(
        metrics::MakeFamily("paxoskv_server_member_lag_slots",
                            "Leader: slots each member lags behind, as it last reported", lag));
  }
  return families;
}

std::unique_ptr<storage::AcceptorStore> MeteredStore(std::unique_ptr<storage::AcceptorStore> inner,
                                                     std::shared_ptr<ReplicaMetrics> metrics) {
  return std::make_unique<MeteredAcceptorStore>(std::move(inner), std::move(metrics));
}

}  // namespace paxoskv::replica
