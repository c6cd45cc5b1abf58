// gRPC adapters of one replica: parse, call ReplicaLoop, reply. They decide nothing.
//   PaxosService:     peer messages (paxoskv.v1.Paxos), each handed to ReplicaLoop::Deliver.
//   ReplicaService:   client commands (paxoskv.v1.Replica) -> ReplicaLoop::Execute and
//                     ExecuteAsync (ExecuteBatch, the master's coalesced calls); membership
//                     changes -> ReplicaLoop::ChangeMembership.
//   MigrationService: the master's range-moving ops (paxoskv.v1.Migration), kept apart so
//                     that they can be restricted to the master.
// Every handler first asks the Authorizer (libs/common/tls.h) whether its caller may call it:
// Paxos messages only from the replica of this shard that the message says sent it; the
// Replica and Migration methods only from the master, except GET, PUT and DELETE through
// Replica.Execute/ExecuteBatch, which a replica started with --direct_clients also takes from
// clients' and admins' certificates (direct mode: services/client/kv_client.h).
// Thread-safe (stateless besides the loop pointer); run on gRPC's threads.
#pragma once

#include "libs/common/tls.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/replica/replica_loop.h"

namespace paxoskv::replica {

// Callback API: Deliver only steps the core under the loop's lock and never blocks, so each
// message is handled on the gRPC thread that read it (no hand-off to a handler thread).
class PaxosService final : public paxoskv::v1::Paxos::CallbackService {
 public:
  PaxosService(ReplicaLoop* loop, const Authorizer* authorizer)
      : loop_(loop), authorizer_(authorizer) {}
  grpc::ServerUnaryReactor* Prepare(grpc::CallbackServerContext* context,
                                    const paxoskv::v1::PaxosMessage* m,
                                    paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* Promise(grpc::CallbackServerContext* context,
                                    const paxoskv::v1::PaxosMessage* m,
                                    paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* Accept(grpc::CallbackServerContext* context,
                                   const paxoskv::v1::PaxosMessage* m,
                                   paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* Accepted(grpc::CallbackServerContext* context,
                                     const paxoskv::v1::PaxosMessage* m,
                                     paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* Learn(grpc::CallbackServerContext* context,
                                  const paxoskv::v1::PaxosMessage* m,
                                  paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* InstallSnapshot(grpc::CallbackServerContext* context,
                                            const paxoskv::v1::PaxosMessage* m,
                                            paxoskv::v1::Ack*) override;
  grpc::ServerUnaryReactor* TimeoutNow(grpc::CallbackServerContext* context,
                                       const paxoskv::v1::PaxosMessage* m,
                                       paxoskv::v1::Ack*) override;
  // A peer's stream of messages: each is handed to Deliver as it is read. Ends with the
  // wrong-replica status at a message for another shard, INVALID_ARGUMENT at an empty one
  // or a snapshot, UNAVAILABLE when the replica shuts down.
  grpc::ServerReadReactor<paxoskv::v1::PaxosMessage>* Stream(grpc::CallbackServerContext* context,
                                                            paxoskv::v1::Ack*) override;

 private:
  // The RPC name must match the message body (a Prepare RPC carries a prepare). Finishes the
  // call with the loop's answer.
  grpc::ServerUnaryReactor* Deliver(grpc::CallbackServerContext* context,
                                    const paxoskv::v1::PaxosMessage& message,
                                    paxoskv::v1::PaxosMessage::BodyCase expected);
  ReplicaLoop* const loop_;
  const Authorizer* const authorizer_;
};

// Execute and Status are sync handlers; ExecuteBatch (the master's hot path) uses the
// callback API: it proposes and returns, and the thread that completes the batch's last
// command answers the call, so no handler thread waits per batch.
class ReplicaService final
    : public paxoskv::v1::Replica::WithCallbackMethod_ExecuteBatch<paxoskv::v1::Replica::Service> {
 public:
  // `direct_clients`: GET, PUT and DELETE from clients' and admins' certificates too (a
  // shard's replicas when direct mode is wanted; never a configuration group's).
  ReplicaService(ReplicaLoop* loop, const Authorizer* authorizer, bool direct_clients)
      : loop_(loop), authorizer_(authorizer), direct_clients_(direct_clients) {}
  grpc::Status Execute(grpc::ServerContext* context, const paxoskv::v1::Command* command,
                       paxoskv::v1::CommandResult* result) override;
  grpc::ServerUnaryReactor* ExecuteBatch(grpc::CallbackServerContext* context,
                                         const paxoskv::v1::CommandBatch* batch,
                                         paxoskv::v1::CommandBatchResult* response) override;
  grpc::Status Status(grpc::ServerContext* context,
                      const paxoskv::v1::ReplicaStatusRequest* request,
                      paxoskv::v1::ReplicaStatus* status) override;
  grpc::Status ChangeMembership(grpc::ServerContext* context,
                                const paxoskv::v1::MembershipChange* request,
                                paxoskv::v1::MembershipChangeResult* result) override;

 private:
  ReplicaLoop* const loop_;
  const Authorizer* const authorizer_;
  const bool direct_clients_;
};

// Sync handler: migration ops are rare and each waits for its slot.
class MigrationService final : public paxoskv::v1::Migration::Service {
 public:
  MigrationService(ReplicaLoop* loop, const Authorizer* authorizer)
      : loop_(loop), authorizer_(authorizer) {}
  grpc::Status Execute(grpc::ServerContext* context, const paxoskv::v1::Command* command,
                       paxoskv::v1::CommandResult* result) override;

 private:
  ReplicaLoop* const loop_;
  const Authorizer* const authorizer_;
};

}  // namespace paxoskv::replica
