// paxoskv-echo: a unary gRPC echo server, the one-hop ceiling kvbench --target echo measures
// against (what the master adds on top of one gRPC round trip).
//   paxoskv-echo --listen=127.0.0.1:7000 --insecure   (or --cert_dir=DIR: the TLS baseline)
//   --api=sync (default: gRPC's synchronous API, its own thread pool; make bench's echo
//   figure) or --api=callback (the callback API the master's and the replicas' request paths
//   use, on gRPC's callback threads; bench/hops.sh compares the two).
// Serves paxoskv.v1.Echo, reflection and health. Exits 0 on SIGTERM/SIGINT.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "libs/common/grpc_server.h"
#include "libs/common/limits.h"
#include "libs/common/tls.h"
#include "services/client/echo_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7000", "host:port to serve on");
ABSL_FLAG(std::string, api, "sync", "sync | callback: the gRPC server API the echo runs on");

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("paxoskv-echo --listen=HOST:PORT [--api=sync|callback]");
  absl::ParseCommandLine(argc, argv);
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "sync" && api != "callback") {
    std::fprintf(stderr, "paxoskv-echo: --api must be sync or callback, not %s\n", api.c_str());
    return 2;
  }
  paxoskv::DisableMutexDeadlockDetection();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  paxoskv::client::SyncEchoService sync_service;
  paxoskv::client::CallbackEchoService callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  auto credentials = paxoskv::TlsCredentials::Load(paxoskv::TlsFilesFromFlags());
  if (!credentials.ok()) {
    std::fprintf(stderr, "paxoskv-echo: %s\n", std::string(credentials.status().message()).c_str());
    return 2;
  }
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials->ServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(paxoskv::kGrpcMessageSizeMax);
  // The sync API's thread pool is bounded as the replicas' and the master's are (their
  // default --max_threads), which serve their status and admin calls on it.
  paxoskv::ConfigureSyncServer(&builder, "paxoskv-echo", 1024);
  if (api == "sync") {
    builder.RegisterService(&sync_service);
  } else {
    builder.RegisterService(&callback_service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "paxoskv-echo: cannot listen on %s\n",
                 absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }
  std::fprintf(stderr, "paxoskv-echo: serving on %s\n", absl::GetFlag(FLAGS_listen).c_str());
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // The signal handler only sets a flag; a watcher thread turns it into Shutdown.
  std::thread watcher([&] {
    while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server->Shutdown();
  });
  server->Wait();
  watcher.join();
  return 0;
}
