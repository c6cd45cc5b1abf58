// gRPC adapter of service paxoskv.v1.KV: translates requests and statuses, nothing more; the
// decisions live in Master. Thread-safe (Master is).
#pragma once

#include "paxoskv/v1/kv.grpc.pb.h"
#include "services/master/master.h"

namespace paxoskv::master {

class GatewayService final : public paxoskv::v1::KV::Service {
 public:
  explicit GatewayService(Master* master) : master_(master) {}

  grpc::Status Get(grpc::ServerContext* context, const paxoskv::v1::GetRequest* request,
                   paxoskv::v1::GetResponse* response) override;
  grpc::Status Put(grpc::ServerContext* context, const paxoskv::v1::PutRequest* request,
                   paxoskv::v1::PutResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const paxoskv::v1::DeleteRequest* request,
                      paxoskv::v1::DeleteResponse* response) override;

 private:
  Master* const master_;
};

// The caller's deadline, or absl::InfiniteFuture() when it set none.
absl::Time CallerDeadline(const grpc::ServerContext* context);

}  // namespace paxoskv::master
