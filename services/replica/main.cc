// paxoskv-replica: one replica of one shard. Loads its durable state, joins its group's
// Multi-Paxos, and serves paxoskv.v1.Paxos (peers), paxoskv.v1.Replica (clients, master),
// paxoskv.v1.Migration (the master's range moves), gRPC reflection and
// grpc.health.v1.Health, over mutual TLS (--cert_dir or --cacert/--cert/--key; its
// certificate names it replica:SHARD:ID) or, with --insecure, plaintext. SIGTERM/SIGINT stop it
// cleanly. Threads: gRPC's handler threads, the ReplicaLoop's loop and ticker threads, and main,
// which waits for a signal.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/common/allocator.h"
#include "libs/common/grpc_server.h"
#include "libs/common/limits.h"
#include "libs/common/logging.h"
#include "libs/common/tls.h"
#include "libs/metrics/metrics.h"
#include "libs/storage/acceptor_store.h"
#include "services/replica/replica_loop.h"
#include "services/replica/services.h"
#include "services/replica/transport.h"

ABSL_FLAG(uint32_t, shard_id, 0, "id of this replica's shard (>= 1)");
ABSL_FLAG(uint32_t, replica_id, 0, "id of this replica within its shard (>= 1)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7101", "host:port to serve on");
ABSL_FLAG(std::string, peers, "",
          "every member of the shard, self included: 1=host:port,2=host:port,3=host:port "
          "(the founding membership; once the shard's log records one, that one holds)");
ABSL_FLAG(bool, join, false,
          "join a running shard as a new member: --peers names its members and this replica "
          "(a new id), which waits as a non-voter until `kvctl member add` adds it");
ABSL_FLAG(std::string, data_dir, "", "directory of this replica's durable state");
ABSL_FLAG(int, tick_ms, 10, "length of one Paxos tick");
ABSL_FLAG(int, heartbeat_ticks, 5, "leader heartbeat interval, in ticks");
ABSL_FLAG(int, election_timeout_ticks, 30,
          "follower election timeout, in ticks (randomised in [T, 2T))");
ABSL_FLAG(uint32_t, inflight_slots, 64,
          "slots the leader keeps in flight; while they are, new commands wait and are batched "
          "into the next slot (fewer, larger fsyncs on every replica)");
ABSL_FLAG(uint64_t, snapshot_every, 50000,
          "applied commands between snapshots (the log tail kept in memory and on disk until the "
          "next snapshot; a snapshot of 1 M keys takes ~1 s of a background thread)");
ABSL_FLAG(uint64_t, snapshot_every_bytes, 64 << 20,
          "applied command bytes between snapshots (whichever of this and --snapshot_every "
          "comes first): bounds the log tail in bytes");
ABSL_FLAG(uint64_t, quota_backend_bytes, uint64_t{2} << 30,
          "space quota of this replica's state (keys, values, dedup results), as etcd's "
          "--quota-backend-bytes: past it the shard raises a NOSPACE alarm and refuses puts "
          "until `kvctl alarm disarm` (0: none)");
ABSL_FLAG(uint64_t, min_free_bytes, uint64_t{256} << 20,
          "free-space floor of the data directory's file system: below it the shard raises "
          "the NOSPACE alarm too, before the disk fills (0: none)");
ABSL_FLAG(uint64_t, snapshot_chunk_bytes, 4 << 20,
          "snapshot chunk size, on disk and on the wire (a snapshot has no size limit)");
ABSL_FLAG(int, max_threads, 1024,
          "bound on gRPC handler threads (each Execute waits on one); beyond it callers get "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at /metrics (etcd's "
          "--listen-metrics-urls); empty: none");
ABSL_FLAG(bool, direct_clients, false,
          "also take GET, PUT and DELETE (Replica.Execute/ExecuteBatch) from clients' and "
          "admins' certificates: the client library's direct mode. A shard's replicas only; "
          "never a configuration group's (clients would reach the masters' state)");
ABSL_FLAG(bool, peer_streams, true,
          "send Paxos messages to each peer on one long-lived stream (false: one call each)");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "paxoskv-replica: %s\n", message.c_str());
  return 1;
}

// Parses "1=h:p,2=h:p,3=h:p".
bool ParsePeers(const std::string& text, std::map<uint32_t, std::string>* out,
                std::string* error) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    uint32_t id = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &id) || id == 0 || parts[1].empty() ||
        parts[1].find(':') == std::string::npos) {
      *error = absl::StrCat("bad --peers item '", item, "': want ID=host:port");
      return false;
    }
    if (!out->emplace(id, parts[1]).second) {
      *error = absl::StrCat("--peers names replica ", id, " twice");
      return false;
    }
  }
  if (out->empty()) {
    *error = "--peers is required (1=host:port,2=host:port,3=host:port)";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Two arenas whichever the allocator (libs/common/allocator.h): the state's records are
  // allocated by whichever gRPC thread applies them (run to completion, replica_loop.h).
  // Before any thread starts.
  paxoskv::ConfigureAllocator();
  absl::SetProgramUsageMessage(
      "paxoskv-replica --shard_id=1 --replica_id=1 --listen=127.0.0.1:7101 "
      "--peers=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --data_dir=DIR");
  absl::ParseCommandLine(argc, argv);
  paxoskv::DisableMutexDeadlockDetection();
  paxoskv::InitLogging(absl::GetFlag(FLAGS_log_level));

  paxoskv::replica::ReplicaOptions options;
  options.core.shard_id = absl::GetFlag(FLAGS_shard_id);
  options.core.replica_id = absl::GetFlag(FLAGS_replica_id);
  if (options.core.shard_id == 0) return Fail("--shard_id is required (>= 1)");
  if (options.core.replica_id == 0) return Fail("--replica_id is required (>= 1)");
  std::string error;
  if (!ParsePeers(absl::GetFlag(FLAGS_peers), &options.core.members, &error)) return Fail(error);
  if (options.core.members.count(options.core.replica_id) == 0) {
    return Fail(absl::StrCat("--peers does not name this replica (id ", options.core.replica_id, ")"));
  }
  options.core.join = absl::GetFlag(FLAGS_join);
  if (!options.core.join && options.core.members.size() % 2 == 0) {
    return Fail("a shard needs an odd number of replicas (--peers)");
  }
  auto credentials = paxoskv::TlsCredentials::Load(paxoskv::TlsFilesFromFlags());
  if (!credentials.ok()) return Fail(std::string(credentials.status().message()));
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty()) return Fail("--data_dir is required");
  options.data_dir = data_dir;
  options.tick_ms = absl::GetFlag(FLAGS_tick_ms);
  options.core.heartbeat_ticks = absl::GetFlag(FLAGS_heartbeat_ticks);
  options.core.election_timeout_ticks = absl::GetFlag(FLAGS_election_timeout_ticks);
  options.core.snapshot_every_commands = absl::GetFlag(FLAGS_snapshot_every);
  options.core.snapshot_chunk_bytes = absl::GetFlag(FLAGS_snapshot_chunk_bytes);
  options.core.snapshot_every_bytes = absl::GetFlag(FLAGS_snapshot_every_bytes);
  options.quota_bytes = absl::GetFlag(FLAGS_quota_backend_bytes);
  options.min_free_bytes = absl::GetFlag(FLAGS_min_free_bytes);
  if (options.core.snapshot_chunk_bytes == 0 || options.core.snapshot_chunk_bytes > (256u << 20)) {
    return Fail("--snapshot_chunk_bytes must be in (0, 256 MiB]");
  }
  options.core.inflight_slots_max = std::max<uint32_t>(1, absl::GetFlag(FLAGS_inflight_slots));
  if (options.tick_ms <= 0 || options.core.heartbeat_ticks <= 0 ||
      options.core.election_timeout_ticks <= 2 * options.core.heartbeat_ticks) {
    return Fail("need --tick_ms > 0, --heartbeat_ticks > 0, "
                "--election_timeout_ticks > 2 * --heartbeat_ticks");
  }

  auto logger = paxoskv::GetLogger(
      absl::StrCat("replica s", options.core.shard_id, "/n", options.core.replica_id));

  // Block the stop signals in every thread; main waits for them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<paxoskv::metrics::MetricsServer> metrics_server;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen); !listen.empty()) {
    auto started = paxoskv::metrics::MetricsServer::Start(listen);
    if (!started.ok()) return Fail(std::string(started.status().message()));
    metrics_server = *std::move(started);
  }

  auto store = paxoskv::storage::OpenRocksDbStore(data_dir);
  if (!store.ok()) return Fail(absl::StrCat("cannot open ", data_dir, ": ", store.status().ToString()));

  // The core hands the transport its peers' addresses (the membership's) when it opens.
  auto transport = std::make_unique<paxoskv::replica::PeerTransport>(
      std::map<uint32_t, std::string>{},
      paxoskv::replica::TransportOptions{.shard_id = options.core.shard_id,
                                         .replica_id = options.core.replica_id,
                                         .streams = absl::GetFlag(FLAGS_peer_streams),
                                         .credentials = credentials->ChannelCredentials()},
      logger);

  auto loop = paxoskv::replica::ReplicaLoop::Create(options, std::move(*store),
                                                    std::move(transport), logger);
  if (!loop.ok()) return Fail(std::string(loop.status().message()));

  const paxoskv::Authorizer authorizer(credentials->secure(), options.core.shard_id);
  paxoskv::replica::PaxosService paxos_service(loop->get(), &authorizer);
  paxoskv::replica::ReplicaService replica_service(loop->get(), &authorizer,
                                                   absl::GetFlag(FLAGS_direct_clients));
  paxoskv::replica::MigrationService migration_service(loop->get(), &authorizer);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials->ServerCredentials(),
                           &bound_port);
  // Peer messages are bounded by the core (libs/paxos/limits.h: a Promise of every open slot
  // is the largest); nothing larger is taken.
  builder.SetMaxReceiveMessageSize(paxoskv::kReplicaMessageBytesMax);
  builder.SetMaxSendMessageSize(paxoskv::kReplicaMessageBytesMax);
  paxoskv::ConfigureSyncServer(&builder, "paxoskv-replica", absl::GetFlag(FLAGS_max_threads));
  paxoskv::metrics::InstallServerMetrics(&builder);
  builder.RegisterService(&paxos_service);
  builder.RegisterService(&replica_service);
  builder.RegisterService(&migration_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return Fail(absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen)));
  }
  (*loop)->Start();
  server->GetHealthCheckService()->SetServingStatus(true);
  if (metrics_server != nullptr) {
    logger->info("metrics on http://{}/metrics", absl::GetFlag(FLAGS_metrics_listen));
  }
  logger->info("serving on {} (shard {} replica {}, {}{}; allocator {})",
               absl::GetFlag(FLAGS_listen), options.core.shard_id, options.core.replica_id,
               credentials->secure() ? "mutual TLS" : "plaintext: --insecure",
               options.core.join ? ", joining: a learner until `kvctl member add`" : "",
               paxoskv::AllocatorName());

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  logger->info("signal {} received: stopping", signal_number);
  server->GetHealthCheckService()->SetServingStatus(false);
  (*loop)->Stop();   // fails waiting commands with UNAVAILABLE first
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  logger->info("stopped");
  return 0;
}
