// Prometheus metrics of one replica, labelled shard and replica (README "Metrics"): the
// families updated where things happen (fsync, snapshot save and install, bytes to and from
// each peer, peer round trips) and, read at scrape time, what its status says (leader,
// proposals, size, alarms). Names follow etcd's: paxoskv_server_has_leader for
// etcd_server_has_leader, and so on.
// Thread-safe: one object per (shard, replica) in the process, shared by the loop, the
// transport, the services and the store wrapper; its counters are atomic.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/metrics/metrics.h"
#include "libs/replica/replica_core.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/replica.pb.h"

namespace paxoskv::replica {

class ReplicaMetrics {
 public:
  // The metrics of replica `replica_id` of shard `shard_id` (made on first use).
  static std::shared_ptr<ReplicaMetrics> For(uint32_t shard_id, uint32_t replica_id);

  prometheus::Histogram& wal_fsync() { return wal_fsync_; }
  prometheus::Histogram& snapshot_save() { return snapshot_save_; }
  prometheus::Histogram& snapshot_install() { return snapshot_install_; }
  // Per peer member id; the references stay valid for the process's life.
  prometheus::Counter& SentBytes(uint32_t peer) ABSL_LOCKS_EXCLUDED(mu_);
  prometheus::Counter& ReceivedBytes(uint32_t peer) ABSL_LOCKS_EXCLUDED(mu_);
  prometheus::Histogram& RoundTrip(uint32_t peer) ABSL_LOCKS_EXCLUDED(mu_);

  // The families read at scrape time from a status and the core's stats.
  std::vector<prometheus::MetricFamily> FromStatus(const paxoskv::v1::ReplicaStatus& status,
                                                   const ReplicaCore::Stats& stats) const;

  ReplicaMetrics(uint32_t shard_id, uint32_t replica_id);

 private:
  static constexpr size_t kPeersLabelledMax = 16;
  // The counter of `peer` in `made` (made on first use from `family`).
  prometheus::Counter& PeerCounter(std::map<uint32_t, prometheus::Counter*>& made,
                                   prometheus::Family<prometheus::Counter>& family,
                                   const char* direction, uint32_t peer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  metrics::Labels Labels() const;
  metrics::Labels PeerLabels(const char* direction, uint32_t peer) const;

  const std::string shard_;
  const std::string replica_;
  prometheus::Histogram& wal_fsync_;
  prometheus::Histogram& snapshot_save_;
  prometheus::Histogram& snapshot_install_;
  prometheus::Family<prometheus::Counter>& sent_family_;
  prometheus::Family<prometheus::Counter>& received_family_;
  prometheus::Family<prometheus::Histogram>& round_trip_family_;
  absl::Mutex mu_;
  std::map<uint32_t, prometheus::Counter*> sent_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, prometheus::Counter*> received_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, prometheus::Histogram*> round_trip_ ABSL_GUARDED_BY(mu_);
};

// An AcceptorStore that times every synced write into paxoskv_disk_wal_fsync_duration_seconds
// and forwards everything to `inner`.
std::unique_ptr<storage::AcceptorStore> MeteredStore(std::unique_ptr<storage::AcceptorStore> inner,
                                                     std::shared_ptr<ReplicaMetrics> metrics);

}  // namespace paxoskv::replica
