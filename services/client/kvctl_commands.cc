// kvctl_commands.h: snapshot save / status / restore, endpoint health, and the helpers kvctl's
// commands share (ProgressBar, Fail).
// Single-threaded but for restore's writers, which share only an atomic cursor and the first
// error (under a mutex).
#include "services/client/kvctl_commands.h"

#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/status_macros.h"
#include "services/client/snapshot_file.h"

namespace paxoskv::kvctl {
namespace {

namespace pb = paxoskv::v1;
using client::CallOptions;
using client::KvClient;

// A progress line on stderr: redrawn in place on a terminal, else printed every few seconds.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), tty_(isatty(STDERR_FILENO) == 1) {}
  void Show(uint64_t done, uint64_t total, const std::string& detail = "") {
    const absl::Time now = absl::Now();
    if (now - last_ < (tty_ ? absl::Milliseconds(100) : absl::Seconds(2))) return;
    last_ = now;
    const std::string line = absl::StrFormat("%s %s %d/%d keys%s", what_, ProgressBar(done, total),
                                             done, total, detail.empty() ? "" : "  " + detail);
    if (tty_) {
      std::cerr << "\r" << line << std::flush;
      drew_ = true;
    } else {
      std::cerr << line << "\n";
    }
  }
  ~Progress() {
    if (drew_) std::cerr << "\n";
  }

 private:
  const std::string what_;
  const bool tty_;
  bool drew_ = false;
  absl::Time last_ = absl::InfinitePast();
};

std::string Checksum(uint64_t value) { return absl::StrFormat("xxh64:%016x", value); }

// Keys the cluster holds: each shard's most its replicas report.
absl::StatusOr<uint64_t> KeysHeld(KvClient& client) {
  ASSIGN_OR_RETURN(pb::ClusterStatusResponse status, client.ClusterStatus());
  uint64_t keys = 0;
  for (const pb::ShardInfo& shard : status.shards()) {
    uint64_t most = 0;
    for (const pb::ReplicaInfo& replica : shard.replicas()) {
      most = std::max(most, replica.key_count());
    }
    keys += most;
  }
  return keys;
}

}  // namespace

std::string ProgressBar(uint64_t done, uint64_t total) {
  constexpr int kWidth = 30;
  const double fraction =
      total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(fraction * kWidth);
  return absl::StrCat("[", std::string(static_cast<size_t>(filled), '#'),
                      std::string(static_cast<size_t>(kWidth - filled), '.'), "]");
}

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "kvctl: " << what << " failed: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return status.code() == absl::StatusCode::kNotFound ? kExitNotFound : kExitFailure;
}

int SnapshotSave(KvClient& client, const std::string& path) {
  auto writer = client::SnapshotFileWriter::Create(path);
  if (!writer.ok()) return Fail("snapshot save", writer.status());
  Progress progress("saving");
  uint64_t expected = 0;
  uint64_t records = 0;
  uint64_t epoch = 0;
  size_t shards = 0;
  uint32_t shard = 0;
  absl::Status appended;
  absl::Status status = client.Backup([&](const pb::BackupChunk& chunk) {
    appended = (*writer)->Append(chunk);
    if (!appended.ok()) return false;
    if (chunk.has_header()) {
      epoch = chunk.header().epoch();
      shards = static_cast<size_t>(chunk.header().shard_ids_size());
    }
    if (chunk.has_shard_start()) {
      expected += chunk.shard_start().key_count();
      shard = chunk.shard_start().shard_id();
    }
    if (chunk.has_records()) {
      records += static_cast<uint64_t>(chunk.records().puts_size());
      progress.Show(records, expected, absl::StrFormat("shard %d", shard));
    }
    return true;
  });
  if (!appended.ok()) return Fail("snapshot save", appended);
  if (!status.ok()) return Fail("snapshot save", status);
  if (absl::Status finished = (*writer)->Finish(); !finished.ok()) {
    return Fail("snapshot save", finished);
  }
  const uint64_t bytes = (*writer)->bytes();
  writer->reset();
  auto summary = client::VerifySnapshotFile(path);
  if (!summary.ok()) return Fail("snapshot save (reading it back)", summary.status());
  std::cout << absl::StrFormat("snapshot saved to %s: %d shards of ring epoch %d, %d bytes, %s\n",
                               path, shards, epoch, bytes, Checksum(summary->checksum));
  return kExitOk;
}

int SnapshotStatus(const std::string& path, bool json) {
  auto summary = client::VerifySnapshotFile(path);
  if (!summary.ok()) return Fail("snapshot status", summary.status());
  if (json) {
    nlohmann::ordered_json out;
    out["file"] = path;
    out["epoch"] = summary->header.epoch();
    out["virtual_nodes"] = summary->header.virtual_nodes();
    out["created_unix_ms"] = summary->header.created_unix_ms();
    out["bytes"] = summary->bytes;
    out["checksum"] = Checksum(summary->checksum);
    out["shards"] = nlohmann::ordered_json::array();
    for (const auto& shard : summary->shards) {
      out["shards"].push_back({{"shard_id", shard.shard_id},
                               {"slot", shard.slot},
                               {"puts", shard.puts},
                               {"deletes", shard.deletes}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat(
      "%s: ring epoch %d (%d virtual nodes per shard), taken %s, %d bytes, %s\n", path,
      summary->header.epoch(), summary->header.virtual_nodes(),
      absl::FormatTime(
          absl::RFC3339_sec,
          absl::FromUnixMillis(static_cast<int64_t>(summary->header.created_unix_ms())),
          absl::UTCTimeZone()),
      summary->bytes, Checksum(summary->checksum));
  std::cout << absl::StrFormat("  %-6s %12s %10s %10s\n", "SHARD", "AS OF SLOT", "PUTS", "DELETES");
  for (const auto& shard : summary->shards) {
    std::cout << absl::StrFormat("  %-6d %12d %10d %10d\n", shard.shard_id, shard.slot, shard.puts,
                                 shard.deletes);
  }
  return kExitOk;
}

int SnapshotRestore(const std::string& masters, const client::KvClientOptions& options,
                    const std::string& path, bool force) {
  // The whole file is checked before anything is written.
  auto summary = client::VerifySnapshotFile(path);
  if (!summary.ok()) return Fail("snapshot restore", summary.status());
  KvClient client(masters, options);
  auto held = KeysHeld(client);
  if (!held.ok()) return Fail("snapshot restore", held.status());
  if (*held > 0 && !force) {
    return Fail("snapshot restore",
                absl::FailedPreconditionError(absl::StrFormat(
                    "the cluster holds %d keys; a restore builds a new cluster from the file: "
                    "start an empty one, or pass --force to write the file's keys over these",
                    *held)));
  }
  constexpr int kWriters = 16;
  std::vector<std::unique_ptr<KvClient>> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.push_back(std::make_unique<KvClient>(masters, options));
  Progress progress("restoring");
  uint64_t total = 0;
  for (const auto& shard : summary->shards) total += shard.puts;  // at most; progress only
  std::atomic<uint64_t> written{0};
  absl::Mutex mu;
  absl::Status first_error;
  absl::Status read = client::ReadSnapshotFile(
      path, [&](uint32_t shard_id, const std::map<std::string, std::string>& keys) {
        std::vector<const std::pair<const std::string, std::string>*> items;
        items.reserve(keys.size());
        for (const auto& item : keys) items.push_back(&item);
        std::atomic<size_t> next{0};
        std::vector<std::thread> threads;
        for (int w = 0; w < kWriters; ++w) {
          threads.emplace_back([&, w] {
            for (size_t i = next++; i < items.size(); i = next++) {
              absl::Status put = writers[static_cast<size_t>(w)]->Put(
                  items[i]->first, items[i]->second, CallOptions{.timeout = absl::Seconds(30)});
              if (!put.ok()) {
                absl::MutexLock lock(&mu);
                if (first_error.ok()) {
                  first_error = absl::Status(
                      put.code(),
                      absl::StrFormat("put of a key of shard %d: %s", shard_id, put.message()));
                }
                next = items.size();
                return;
              }
              ++written;
            }
          });
        }
        while (next.load() < items.size()) {
          progress.Show(written.load(), total, absl::StrFormat("shard %d", shard_id));
          absl::SleepFor(absl::Milliseconds(100));
        }
        for (std::thread& thread : threads) thread.join();
        absl::MutexLock lock(&mu);
        return first_error.ok();
      });
  {
    absl::MutexLock lock(&mu);
    if (!first_error.ok()) return Fail("snapshot restore", first_error);
  }
  if (!read.ok()) return Fail("snapshot restore", read);
  std::cout << absl::StrFormat(
      "restored %d keys from %s (%d shards of ring epoch %d, %s) through %s\n", written.load(),
      path, summary->shards.size(), summary->header.epoch(), Checksum(summary->checksum), masters);
  return kExitOk;
}

int EndpointHealth(const std::string& masters, const client::KvClientOptions& options, bool json) {
  struct Endpoint {
    std::string address;
    std::string kind;  // "master", or "shard S replica R"
    bool healthy = false;
    absl::Duration took = absl::ZeroDuration();
    std::string error = "";
  };
  std::vector<Endpoint> endpoints;
  std::optional<pb::ClusterStatusResponse> status;
  client::KvClientOptions one = options;
  one.retry = false;
  for (const std::string& master :
       std::vector<std::string>(absl::StrSplit(masters, ',', absl::SkipEmpty()))) {
    KvClient client(master, one);
    Endpoint endpoint;
    endpoint.address = master;
    endpoint.kind = "master";
    // As etcdctl: a linearizable get of key "health"; absent is healthy.
    const absl::Time started = absl::Now();
    auto got = client.Get("health", CallOptions{.timeout = absl::Seconds(5)});
    endpoint.took = absl::Now() - started;
    endpoint.healthy = got.ok() || absl::IsNotFound(got.status());
    if (!endpoint.healthy) endpoint.error = std::string(got.status().message());
    if (endpoint.healthy && !status.has_value()) {
      auto answered = client.ClusterStatus(CallOptions{.timeout = absl::Seconds(10)});
      if (answered.ok()) status = *std::move(answered);
    }
    endpoints.push_back(std::move(endpoint));
  }
  if (status.has_value()) {
    for (const pb::ShardInfo& shard : status->shards()) {
      for (const pb::ReplicaInfo& replica : shard.replicas()) {
        endpoints.push_back(
            Endpoint{.address = replica.address(),
                     .kind = absl::StrFormat(
                         "shard %d replica %s", shard.shard_id(),
                         replica.replica_id() == 0 ? "?" : absl::StrCat(replica.replica_id())),
                     .healthy = replica.healthy(),
                     .took = absl::Microseconds(static_cast<int64_t>(replica.status_micros())),
                     .error = replica.error()});
      }
    }
  }
  bool all = !endpoints.empty() && status.has_value();
  for (const Endpoint& endpoint : endpoints) all = all && endpoint.healthy;
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const Endpoint& e : endpoints) {
      out.push_back({{"endpoint", e.address},
                     {"kind", e.kind},
                     {"health", e.healthy},
                     {"took", absl::StrFormat("%.3fms", absl::ToDoubleMilliseconds(e.took))},
                     {"error", e.error}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (const Endpoint& e : endpoints) {
      if (e.healthy) {
        std::cout << absl::StrFormat(
            "%s (%s) is healthy: %s: took = %.3fms\n", e.address, e.kind,
            e.kind == "master" ? "successfully served a linearizable get" : "answered its status",
            absl::ToDoubleMilliseconds(e.took));
      } else {
        std::cout << absl::StrFormat("%s (%s) is unhealthy: took = %.3fms: %s\n", e.address, e.kind,
                                     absl::ToDoubleMilliseconds(e.took), e.error);
      }
    }
    if (!status.has_value()) {
      std::cout << "no master answered: the replicas' health is unknown\n";
    }
  }
  return all ? kExitOk : kExitFailure;
}

}  // namespace paxoskv::kvctl
