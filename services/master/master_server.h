// MasterServer: a Master plus its gRPC server (KV, Admin, reflection, health) on one address.
// main.cc and the in-process tests both start the gateway through it.
// Thread-safe: Shutdown may be called from any thread, once.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "services/master/admin_service.h"
#include "services/master/gateway_service.h"
#include "services/master/master.h"

namespace paxoskv::master {

class MasterServer {
 public:
  // Opens the Master (see Master::Open) and serves on `listen` ("127.0.0.1:0" picks a port).
  // kUnavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MasterServer>> Start(MasterOptions options,
                                                             const std::string& listen,
                                                             int max_threads = 256);
  ~MasterServer();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Master* master() { return master_.get(); }
  // Stops accepting, cancels waiting calls after a short grace period, then stops the Master.
  void Shutdown();
  void Wait() { server_->Wait(); }

 private:
  MasterServer() = default;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<GatewayService> gateway_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace paxoskv::master
