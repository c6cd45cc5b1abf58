// paxoskv.v1.Echo answered with the request's payload, on each of gRPC's two server APIs:
// paxoskv-echo serves one of them (its --api), and tests that need a bare gRPC service
// (tests/metrics) serve the callback one. Stateless: any thread, any number of calls.
#pragma once

#include <grpcpp/grpcpp.h>

#include "paxoskv/v1/echo.grpc.pb.h"

namespace paxoskv::client {

// The sync API: gRPC's own thread pool runs each call.
class SyncEchoService final : public paxoskv::v1::Echo::Service {
  grpc::Status Echo(grpc::ServerContext*, const paxoskv::v1::EchoRequest* request,
                    paxoskv::v1::EchoReply* reply) override {
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

// The callback API: answered on the gRPC thread that read the request.
class CallbackEchoService final : public paxoskv::v1::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const paxoskv::v1::EchoRequest* request,
                                 paxoskv::v1::EchoReply* reply) override {
    reply->set_payload(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace paxoskv::client
