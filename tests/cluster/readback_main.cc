// paxoskv-cluster-readback: reads every key of a kvbench history back through the master and
// writes the history followed by those reads, for paxoskv-lincheck (tests/cluster).
//
//   paxoskv-cluster-readback --master=HOST:PORT --history=IN.jsonl --out=OUT.jsonl
//                            [--timeout_s=60] [--threads=8]
//
// One process and one gRPC connection for all keys (a kvctl process per key costs seconds on a
// loaded 2-core machine). Every read is a linearizable Get that starts after the whole history
// returned, stamped with the same steady clock kvbench uses, so the checker compares the final
// state with every acknowledged write. A key is retried (UNAVAILABLE, attempt timeouts) until
// --timeout_s; the connection gets generous connect timeouts so that a slow handshake on a
// loaded machine is not mistaken for an unavailable cluster.
// Prints "readback keys=N failed=M". Exit codes: 0 every key read (OK or NOT_FOUND), 1 some key
// could not be read, 2 usage or I/O error.
// Threads: --threads workers share one thread-safe KvClient; results are merged after join.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/common/grpc_server.h"
#include "libs/common/tls.h"
#include "services/client/kv_client.h"
#include "services/client/lincheck/history.h"

ABSL_FLAG(std::string, master, "127.0.0.1:50051", "master address HOST:PORT");
ABSL_FLAG(std::string, history, "", "kvbench --history file to read keys from");
ABSL_FLAG(std::string, out, "", "output: the history plus one get per key");
ABSL_FLAG(int, timeout_s, 60, "budget per key, retries included");
ABSL_FLAG(int, threads, 8, "concurrent reads");

namespace paxoskv::cluster_test {
namespace {

using lincheck::Operation;
using lincheck::OpKind;

constexpr int64_t kReadbackClientBase = 1'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  auto credentials = paxoskv::TlsCredentials::Load(paxoskv::TlsFilesFromFlags());
  if (!credentials.ok()) {
    std::fprintf(stderr, "paxoskv-cluster-readback: %s\n",
                 std::string(credentials.status().message()).c_str());
    std::exit(2);
  }
  return credentials->ChannelCredentials();
}

int Run() {
  const std::string history_path = absl::GetFlag(FLAGS_history);
  const std::string out_path = absl::GetFlag(FLAGS_out);
  if (history_path.empty() || out_path.empty()) {
    std::cerr << "paxoskv-cluster-readback: --history and --out are required\n";
    return 2;
  }
  std::ifstream in(history_path);
  if (!in) {
    std::cerr << "paxoskv-cluster-readback: cannot open " << history_path << "\n";
    return 2;
  }
  auto history = lincheck::ParseHistory(in);
  if (!history.ok()) {
    std::cerr << "paxoskv-cluster-readback: " << history_path << ": " << history.status()
              << "\n";
    return 2;
  }
  std::set<std::string> key_set;
  for (const Operation& op : *history) key_set.insert(op.key);
  const std::vector<std::string> keys(key_set.begin(), key_set.end());

  client::KvClient client(absl::GetFlag(FLAGS_master),
                          client::KvClientOptions{.retry = true,
                                                  .attempt_timeout = absl::Seconds(5),
                                                  .backoff_max = absl::Milliseconds(500),
                                                  .credentials = Credentials()});
  const client::CallOptions call{.timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s))};
  std::vector<Operation> reads(keys.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < keys.size(); i = next.fetch_add(1)) {
        Operation& op = reads[i];
        op.client = kReadbackClientBase + static_cast<int64_t>(i);
        op.kind = OpKind::kGet;
        op.key = keys[i];
        op.call_ns = NowNs();
        auto value = client.Get(op.key, call);
        op.return_ns = NowNs();
        op.status = client::StatusCodeName(value.status().code());
        if (value.ok()) op.output = *value;
      }
    });
  }
  for (std::thread& w : workers) w.join();

  std::ofstream out(out_path, std::ios::trunc);
  for (const Operation& op : *history) out << lincheck::ToJsonLine(op) << "\n";
  int failed = 0;
  for (const Operation& op : reads) {
    out << lincheck::ToJsonLine(op) << "\n";
    if (op.status != "OK" && op.status != "NOT_FOUND") {
      ++failed;
      std::cerr << "paxoskv-cluster-readback: get " << op.key << " failed: " << op.status
                << "\n";
    }
  }
  out.close();
  if (!out) {
    std::cerr << "paxoskv-cluster-readback: cannot write " << out_path << "\n";
    return 2;
  }
  std::cout << "readback keys=" << keys.size() << " failed=" << failed << "\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace paxoskv::cluster_test

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return paxoskv::cluster_test::Run();
}
