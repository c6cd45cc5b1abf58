// paxoskv-master: the gateway. Routes KV requests to shard leaders by the consistent-hashing
// ring and adds shards online (Admin.AddShard). Flags:
//   --listen=127.0.0.1:50051 --data_dir=DIR --shards="1=h:p,h:p,h:p;2=h:p,h:p,h:p"
//   --cert_dir=DIR (a certificate naming "master"; or --cacert/--cert/--key) or --insecure
//   [--virtual_nodes=128 --write_lanes_max=4096 --log_level=info]
// --shards seeds the ring only when DIR holds none; afterwards the durable ring wins.
// Stops cleanly on SIGTERM/SIGINT (exit 0).
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "libs/common/allocator.h"
#include "libs/common/grpc_server.h"
#include "libs/common/limits.h"
#include "libs/common/logging.h"
#include "libs/common/tls.h"
#include "libs/metrics/metrics.h"
#include "services/master/config_store.h"
#include "services/master/master_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "host:port to serve KV and Admin on");
ABSL_FLAG(std::string, config_group, "",
          "the configuration group that holds the ring and migration plans, shared by every "
          "master: \"ID=h:p,h:p,h:p\" (paxoskv-replica processes run with --shard_id=ID)");
ABSL_FLAG(std::string, data_dir, "",
          "instead of --config_group, for a single master: a directory for the ring and "
          "migration plan");
ABSL_FLAG(std::string, shards, "",
          "initial ring, e.g. \"1=h:p,h:p,h:p;2=h:p,h:p,h:p\" (used only while the "
          "configuration holds none)");
ABSL_FLAG(absl::Duration, takeover_after, absl::Seconds(5),
          "another master's migration whose state has not changed for this long is taken over "
          "(its master died)");
ABSL_FLAG(absl::Duration, startup_wait, absl::Seconds(30),
          "at start, how long to wait for an unreachable configuration group before exiting");
ABSL_FLAG(uint32_t, virtual_nodes, 128, "virtual nodes per shard (initial ring only)");
ABSL_FLAG(int, max_threads, 1024,
          "bound on the sync gRPC handler threads (admin) and on the threads of the KV "
          "requests' blocking paths (parked behind a migration, failing over); batched KV "
          "requests hold no thread");
ABSL_FLAG(int, batch_max, 256,
          "most KV commands sent to a shard leader in one ExecuteBatch call; batches form only "
          "while earlier ones are outstanding (1 = no batching, one Execute per request)");
ABSL_FLAG(int, batch_inflight, 1,
          "outstanding ExecuteBatch calls per shard (1 measured best: while a batch is out, the "
          "next one grows)");
ABSL_FLAG(uint32_t, write_lanes_max, 4096,
          "writes without a client_id in flight at once (each holds one write lane: a client id "
          "of the master's, one request at a time); beyond it they get RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, requests_in_flight_max, 16384,
          "KV requests the master holds at once (queued, parked behind a moving range, retrying); "
          "beyond it they get RESOURCE_EXHAUSTED with nothing sent");
ABSL_FLAG(int64_t, bytes_in_flight_max, int64_t{256} << 20,
          "bytes of keys and values of the KV requests the master holds at once; beyond it "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, log_level, "info", "trace|debug|info|warn|error|off");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at /metrics (etcd's "
          "--listen-metrics-urls); empty: none");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("paxoskv master gateway");
  absl::ParseCommandLine(argc, argv);
  paxoskv::DisableMutexDeadlockDetection();
  paxoskv::InitLogging(absl::GetFlag(FLAGS_log_level));
  auto log = paxoskv::GetLogger("master");

  // Block the stop signals in every thread; one thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  paxoskv::master::MasterOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.virtual_nodes = absl::GetFlag(FLAGS_virtual_nodes);
  options.logger = log;
  options.takeover_after = absl::GetFlag(FLAGS_takeover_after);
  options.startup_wait = absl::GetFlag(FLAGS_startup_wait);
  if (options.data_dir.empty() == absl::GetFlag(FLAGS_config_group).empty()) {
    std::fprintf(stderr,
                 "paxoskv-master: give --config_group (masters sharing a configuration group) "
                 "or --data_dir (one master), not both\n");
    return 2;
  }
  if (!absl::GetFlag(FLAGS_config_group).empty()) {
    auto group = paxoskv::master::ParseConfigGroupFlag(absl::GetFlag(FLAGS_config_group));
    if (!group.ok()) {
      std::fprintf(stderr, "paxoskv-master: %s\n", std::string(group.status().message()).c_str());
      return 2;
    }
    options.config_group = *std::move(group);
  }
  if (!absl::GetFlag(FLAGS_shards).empty()) {
    auto shards = paxoskv::master::ParseShardsFlag(absl::GetFlag(FLAGS_shards));
    if (!shards.ok()) {
      std::fprintf(stderr, "paxoskv-master: %s\n",
                   std::string(shards.status().message()).c_str());
      return 2;
    }
    options.initial_shards = *std::move(shards);
  }
  if (absl::GetFlag(FLAGS_batch_max) < 1 || absl::GetFlag(FLAGS_batch_inflight) < 1) {
    std::fprintf(stderr, "paxoskv-master: --batch_max and --batch_inflight must be at least 1\n");
    return 2;
  }
  options.batcher.max_commands = static_cast<size_t>(absl::GetFlag(FLAGS_batch_max));
  options.batcher.max_in_flight = absl::GetFlag(FLAGS_batch_inflight);
  options.max_blocking_threads = absl::GetFlag(FLAGS_max_threads);
  options.write_lanes_max = absl::GetFlag(FLAGS_write_lanes_max);
  options.requests_in_flight_max = absl::GetFlag(FLAGS_requests_in_flight_max);
  options.bytes_in_flight_max = absl::GetFlag(FLAGS_bytes_in_flight_max);
  auto credentials = paxoskv::TlsCredentials::Load(paxoskv::TlsFilesFromFlags());
  if (!credentials.ok()) {
    std::fprintf(stderr, "paxoskv-master: %s\n",
                 std::string(credentials.status().message()).c_str());
    return 2;
  }
  const bool secure = credentials->secure();
  options.credentials = *std::move(credentials);
  if (options.batcher.max_commands > static_cast<size_t>(paxoskv::kExecuteBatchCommandsMax)) {
    std::fprintf(stderr, "paxoskv-master: --batch_max is at most %d\n",
                 paxoskv::kExecuteBatchCommandsMax);
    return 2;
  }
  if (options.virtual_nodes == 0) {
    std::fprintf(stderr, "paxoskv-master: --virtual_nodes must be positive\n");
    return 2;
  }

  std::unique_ptr<paxoskv::metrics::MetricsServer> metrics_server;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen); !listen.empty()) {
    auto started = paxoskv::metrics::MetricsServer::Start(listen);
    if (!started.ok()) {
      std::fprintf(stderr, "paxoskv-master: %s\n", std::string(started.status().message()).c_str());
      return 2;
    }
    metrics_server = *std::move(started);
    log->info("metrics on http://{}/metrics", listen);
  }

  auto server =
      paxoskv::master::MasterServer::Start(std::move(options), absl::GetFlag(FLAGS_listen),
                                           absl::GetFlag(FLAGS_max_threads));
  if (!server.ok()) {
    std::fprintf(stderr, "paxoskv-master: %s\n", server.status().ToString().c_str());
    return 1;
  }
  log->info("serving listen={} port={} epoch={} ({}; allocator {})", absl::GetFlag(FLAGS_listen),
            (*server)->port(), (*server)->master()->ring()->epoch(),
            secure ? "mutual TLS" : "plaintext: --insecure", paxoskv::AllocatorName());

  std::thread stopper([&server, &signals, log] {
    int signal = 0;
    sigwait(&signals, &signal);
    log->info("stopping on signal={}", signal);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  stopper.join();
  server->reset();
  log->info("stopped");
  return 0;
}
