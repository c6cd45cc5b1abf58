// See master_server.h.
#include "services/master/master_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_server.h"
#include "libs/common/limits.h"
#include "libs/common/status_macros.h"
#include "libs/metrics/metrics.h"

namespace paxoskv::master {

absl::StatusOr<std::unique_ptr<MasterServer>> MasterServer::Start(MasterOptions options,
                                                                   const std::string& listen,
                                                                   int max_threads) {
  std::unique_ptr<MasterServer> server(new MasterServer());
  std::shared_ptr<grpc::ServerCredentials> credentials = options.credentials.ServerCredentials();
  server->authorizer_ = std::make_unique<Authorizer>(options.credentials.secure());
  ASSIGN_OR_RETURN(server->master_, Master::Open(std::move(options)));
  server->gateway_ =
      std::make_unique<GatewayService>(server->master_.get(), server->authorizer_.get());
  server->admin_ = std::make_unique<AdminService>(server->master_.get(), server->authorizer_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, credentials, &server->port_);
  // A KV request of the largest key and value fits; nothing larger is read.
  builder.SetMaxReceiveMessageSize(kClientRequestBytesMax);
  builder.SetMaxSendMessageSize(kGrpcMessageSizeMax);
  ConfigureSyncServer(&builder, "paxoskv-master", max_threads);
  metrics::InstallServerMetrics(&builder);
  builder.RegisterService(server->gateway_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  return server;
}

MasterServer::~MasterServer() { Shutdown(); }

void MasterServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (master_ != nullptr) master_->BeginShutdown();
  // Calls still running after the grace period (waiting on a migrating range) are cancelled.
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  master_.reset();
}

}  // namespace paxoskv::master
