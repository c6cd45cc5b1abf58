// gRPC adapter of service paxoskv.v1.Admin (AddShard, RemoveShard, ClusterStatus, Routes,
// Member*, Alarm*, Backup); decisions live in Master. Callers need an admin certificate
// (libs/common/tls.h), except for Routes, which a client's may call too: a direct client
// routes by it (services/client/kv_client.h), and it holds only the ring and the replicas'
// addresses, which such a client must reach anyway (no status, no progress, no keys).
// Thread-safe (Master is).
#pragma once

#include <initializer_list>

#include "paxoskv/v1/admin.grpc.pb.h"
#include "services/master/master.h"

namespace paxoskv::master {

class AdminService final : public paxoskv::v1::Admin::Service {
 public:
  AdminService(Master* master, const Authorizer* authorizer)
      : master_(master), authorizer_(authorizer) {}

  // Blocks until the ring has switched (or the caller's deadline; the migration continues).
  grpc::Status AddShard(grpc::ServerContext* context, const paxoskv::v1::AddShardRequest* request,
                        paxoskv::v1::AddShardResponse* response) override;
  grpc::Status RemoveShard(grpc::ServerContext* context,
                           const paxoskv::v1::RemoveShardRequest* request,
                           paxoskv::v1::RemoveShardResponse* response) override;
  grpc::Status ClusterStatus(grpc::ServerContext* context,
                             const paxoskv::v1::ClusterStatusRequest* request,
                             paxoskv::v1::ClusterStatusResponse* response) override;
  grpc::Status Routes(grpc::ServerContext* context, const paxoskv::v1::RoutesRequest* request,
                      paxoskv::v1::RoutesResponse* response) override;
  grpc::Status MemberList(grpc::ServerContext* context,
                          const paxoskv::v1::MemberListRequest* request,
                          paxoskv::v1::MemberListResponse* response) override;
  grpc::Status MemberAdd(grpc::ServerContext* context, const paxoskv::v1::MemberAddRequest* request,
                         paxoskv::v1::MemberChangeResponse* response) override;
  grpc::Status MemberRemove(grpc::ServerContext* context,
                            const paxoskv::v1::MemberRemoveRequest* request,
                            paxoskv::v1::MemberChangeResponse* response) override;
  grpc::Status MemberPromote(grpc::ServerContext* context,
                             const paxoskv::v1::MemberPromoteRequest* request,
                             paxoskv::v1::MemberChangeResponse* response) override;
  grpc::Status MemberUpdate(grpc::ServerContext* context,
                            const paxoskv::v1::MemberUpdateRequest* request,
                            paxoskv::v1::MemberChangeResponse* response) override;
  grpc::Status AlarmList(grpc::ServerContext* context, const paxoskv::v1::AlarmListRequest* request,
                         paxoskv::v1::AlarmListResponse* response) override;
  grpc::Status AlarmDisarm(grpc::ServerContext* context,
                           const paxoskv::v1::AlarmDisarmRequest* request,
                           paxoskv::v1::AlarmDisarmResponse* response) override;
  // Streams until done; no deadline of its own (a large cluster takes a while): it ends when
  // the caller cancels.
  grpc::Status Backup(grpc::ServerContext* context, const paxoskv::v1::BackupRequest* request,
                      grpc::ServerWriter<paxoskv::v1::BackupChunk>* writer) override;

 private:
  // Every handler: a caller of one of `roles` only (an admin, unless said otherwise), then
  // `work(the caller's deadline)`, its error mapped to a gRPC status or its answer copied into
  // `response`.
  template <typename Response, typename Work>
  grpc::Status Serve(grpc::ServerContext* context, Response* response, Work work,
                     std::initializer_list<Role> roles = {Role::kAdmin});

  Master* const master_;
  const Authorizer* const authorizer_;
};

}  // namespace paxoskv::master
