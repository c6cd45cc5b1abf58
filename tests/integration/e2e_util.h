// Helpers for end-to-end tests against the real binaries (ProcessCluster): a closed-loop load
// through the master that records a history for the linearizability checker, final reads,
// a check that every key lives in exactly the shard the ring names, and a scrape of a
// process's Prometheus endpoint.
// HistoryLoad is thread-safe; the free functions are called from the test thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/common/check.h"
#include "libs/ring/hash_ring.h"
#include "services/client/kv_client.h"
#include "services/client/lincheck/checker.h"
#include "services/client/lincheck/history.h"
#include "tests/http_get.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {

// GET http://`address`/metrics ("" when it cannot connect), as Prometheus scrapes it.
inline std::string Scrape(const std::string& address) { return HttpGet(address, "/metrics"); }

inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One Get through `client`, recorded as a history operation.
inline lincheck::Operation RecordedGet(client::KvClient& client, const std::string& key,
                                       int64_t client_number, absl::Duration timeout) {
  lincheck::Operation op{.client = client_number, .kind = lincheck::OpKind::kGet, .key = key};
  op.call_ns = SteadyNowNs();
  auto value = client.Get(key, {.timeout = timeout});
  op.return_ns = SteadyNowNs();
  op.status = client::StatusCodeName(value.status().code());
  if (value.ok()) op.output = *value;
  return op;
}

inline lincheck::Operation RecordedPut(client::KvClient& client, const std::string& key,
                                       const std::string& value, int64_t client_number,
                                       absl::Duration timeout) {
  lincheck::Operation op{
      .client = client_number, .kind = lincheck::OpKind::kPut, .key = key, .value = value};
  op.call_ns = SteadyNowNs();
  absl::Status status = client.Put(key, value, {.timeout = timeout});
  op.return_ns = SteadyNowNs();
  op.status = client::StatusCodeName(status.code());
  return op;
}

inline lincheck::Operation RecordedDelete(client::KvClient& client, const std::string& key,
                                          int64_t client_number, absl::Duration timeout) {
  lincheck::Operation op{.client = client_number, .kind = lincheck::OpKind::kDelete, .key = key};
  op.call_ns = SteadyNowNs();
  auto deleted = client.Delete(key, {.timeout = timeout});
  op.return_ns = SteadyNowNs();
  op.status = client::StatusCodeName(deleted.status().code());
  if (deleted.ok()) op.deleted = *deleted;
  return op;
}

// Closed-loop clients through the master, each with its own KvClient (own client id), on a
// fixed key set; every put writes a unique value. Records every operation.
class HistoryLoad {
 public:
  struct Options {
    int clients = 2;
    std::vector<std::string> keys;
    int read_percent = 40;
    int delete_percent = 10;
    absl::Duration op_timeout = absl::Seconds(15);
    uint64_t seed = 1;
    // Set: every thread calls this client (a direct one, say) instead of its own client of
    // `master`. It must outlive the load.
    client::KvClient* shared_client = nullptr;
  };

  HistoryLoad(std::string master, Options options)
      : master_(std::move(master)), options_(std::move(options)) {}
  ~HistoryLoad() { Stop(); }

  void Start() {
    for (int c = 0; c < options_.clients; ++c) {
      threads_.emplace_back([this, c] { Run(c); });
    }
  }

  // Waits until at least `n` operations have completed (any outcome). False on timeout.
  bool WaitForOps(int64_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  // Waits until `n` more operations than now have completed. False on timeout.
  bool WaitForMoreOps(int64_t n, absl::Duration timeout) {
    return WaitForOps(completed() + n, timeout);
  }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  int64_t completed() {
    absl::MutexLock lock(&mu_);
    return completed_;
  }
  std::vector<lincheck::Operation> history() {
    absl::MutexLock lock(&mu_);
    return history_;
  }
  // Operations that did not succeed (NOT_FOUND of a get and delete excepted).
  std::vector<lincheck::Operation> failures() {
    absl::MutexLock lock(&mu_);
    std::vector<lincheck::Operation> out;
    for (const auto& op : history_) {
      if (op.status != "OK" && op.status != "NOT_FOUND") out.push_back(op);
    }
    return out;
  }

 private:
  void Run(int c) {
    std::optional<client::KvClient> own;
    if (options_.shared_client == nullptr) own.emplace(master_);
    client::KvClient& kv = own.has_value() ? *own : *options_.shared_client;
    std::mt19937_64 rng(options_.seed * 1000 + static_cast<uint64_t>(c));
    std::uniform_int_distribution<size_t> pick(0, options_.keys.size() - 1);
    std::uniform_int_distribution<int> percent(0, 99);
    int64_t n = 0;
    while (!stop_) {
      const std::string& key = options_.keys[pick(rng)];
      const int dice = percent(rng);
      lincheck::Operation op;
      if (dice < options_.read_percent) {
        op = RecordedGet(kv, key, c, options_.op_timeout);
      } else if (dice < options_.read_percent + options_.delete_percent) {
        op = RecordedDelete(kv, key, c, options_.op_timeout);
      } else {
        op = RecordedPut(kv, key, absl::StrCat("c", c, "-", ++n), c, options_.op_timeout);
      }
      absl::MutexLock lock(&mu_);
      history_.push_back(std::move(op));
      ++completed_;
    }
  }

  const std::string master_;
  const Options options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::vector<lincheck::Operation> history_ ABSL_GUARDED_BY(mu_);
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
};

// Puts "pre-<key>" for every key through `master` with `writers` concurrent clients (a failed
// put fails the test); returns key -> value, the model of what the store holds.
inline std::map<std::string, std::optional<std::string>> Preload(
    const std::string& master, const std::vector<std::string>& keys, int writers) {
  std::map<std::string, std::optional<std::string>> model;
  for (const auto& key : keys) model[key] = "pre-" + key;
  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      client::KvClient kv(master);
      for (size_t i = next++; i < keys.size(); i = next++) {
        if (!kv.Put(keys[i], "pre-" + keys[i], {.timeout = absl::Seconds(30)}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  return model;
}

// Reads every key through the master after the load, appends the reads to `history`, and
// returns key -> value (nullopt when absent). A failed read fails the test.
inline std::map<std::string, std::optional<std::string>> FinalReads(
    const std::string& master, const std::vector<std::string>& keys,
    std::vector<lincheck::Operation>* history) {
  client::KvClient kv(master);
  std::map<std::string, std::optional<std::string>> values;
  for (const std::string& key : keys) {
    lincheck::Operation op = RecordedGet(kv, key, /*client_number=*/1000, absl::Seconds(15));
    EXPECT_TRUE(op.status == "OK" || op.status == "NOT_FOUND")
        << "final read of " << key << ": " << op.status;
    values[key] = op.output;
    history->push_back(std::move(op));
  }
  return values;
}

// Asserts the history is linearizable; prints the checker's report otherwise.
inline void ExpectLinearizable(const std::vector<lincheck::Operation>& history) {
  lincheck::CheckResult result = lincheck::Check(history);
  EXPECT_EQ(result.verdict, lincheck::Verdict::kLinearizable)
      << lincheck::FormatReport(result, /*verbose=*/false);
}

// The master's current ring, rebuilt from ClusterStatus with libs/ring.
inline ring::HashRing CurrentRing(const std::string& master) {
  client::KvClient kv(master);
  auto status = kv.ClusterStatus({.timeout = absl::Seconds(10)});
  PAXOSKV_CHECK(status.ok()) << status.status().ToString();
  std::vector<uint32_t> ids;
  for (const auto& shard : status->shards()) ids.push_back(shard.shard_id());
  auto ring = ring::HashRing::Create(status->epoch(), ids,
                                     status->virtual_nodes() == 0 ? ring::kDefaultVirtualNodes
                                                                  : status->virtual_nodes());
  PAXOSKV_CHECK(ring.ok()) << ring.status().ToString();
  return *std::move(ring);
}

// Every key a shard stores, read through its log with OP_SCAN_RANGE over the whole ring
// (scans are not fenced by migrations, unlike gets of moved keys).
inline std::map<std::string, std::string> ScanShard(client::ReplicaClient& replica) {
  std::map<std::string, std::string> out;
  paxoskv::v1::Command scan;
  scan.set_op(paxoskv::v1::OP_SCAN_RANGE);
  scan.mutable_range()->set_begin(0);
  scan.mutable_range()->set_end(0);  // begin == end: the whole ring
  scan.set_scan_limit(1000);
  for (int page = 0; page < 100000; ++page) {
    auto result = replica.ExecuteMigration(scan, {.timeout = absl::Seconds(15)});
    if (!result.ok()) {
      ADD_FAILURE() << "scan failed: " << result.status();
      return out;
    }
    for (const auto& entry : result->entries()) out[entry.key()] = entry.value();
    if (result->scan_done() || result->entries_size() == 0) break;
    const std::string& last = result->entries(result->entries_size() - 1).key();
    scan.set_scan_started(true);
    scan.set_scan_after_key(last);
    scan.set_scan_after_hash(ring::StableHash(last));
  }
  return out;
}

// Asks each shard's replicas directly (ReplicaClient, through the shard's log): every key is
// stored in the shard the ring names with its expected value, and in no other shard; no
// shard stores a key it does not own.
inline void ExpectKeysInOwnerShards(
    ProcessCluster& cluster, const ring::HashRing& ring,
    const std::map<std::string, std::optional<std::string>>& expected) {
  std::map<uint32_t, std::map<std::string, std::string>> stored;
  for (uint32_t id : ring.shards()) {
    client::ReplicaClient replica(cluster.ShardAddresses(id));
    stored[id] = ScanShard(replica);
    for (const auto& [key, value] : stored[id]) {
      EXPECT_EQ(ring.OwnerOf(key), id) << "shard " << id << " still stores key " << key;
    }
    // The owner also serves the key through an ordinary get.
    for (const auto& [key, value] : expected) {
      if (ring.OwnerOf(key) != id) continue;
      auto got = replica.Get(key, {.timeout = absl::Seconds(10)});
      if (value.has_value()) {
        EXPECT_TRUE(got.ok() && *got == *value)
            << "get " << key << " from owner shard " << id << ": " << got.status();
      } else {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << key;
      }
    }
  }
  for (const auto& [key, value] : expected) {
    const uint32_t owner = ring.OwnerOf(key);
    for (const auto& [id, keys] : stored) {
      auto it = keys.find(key);
      if (id == owner && value.has_value()) {
        EXPECT_TRUE(it != keys.end() && it->second == *value)
            << "key " << key << " missing or wrong in owner shard " << id;
      } else {
        EXPECT_TRUE(it == keys.end()) << "key " << key << " stored in shard " << id
                                      << " (owner " << owner << ")";
      }
    }
  }
}

inline std::vector<std::string> MakeKeys(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat(prefix, i));
  return keys;
}

}  // namespace paxoskv::testing
