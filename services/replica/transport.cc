// See transport.h.
#include "services/replica/transport.h"

#include <chrono>
#include <thread>

#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"

namespace paxoskv::replica {

using paxoskv::v1::Ack;
using paxoskv::v1::PaxosMessage;

PeerTransport::PeerTransport(const std::map<uint32_t, std::string>& peers,
                             TransportOptions options, std::shared_ptr<spdlog::logger> logger)
    : options_(options), logger_(std::move(logger)) {
  for (const auto& [id, address] : peers) {
    auto peer = std::make_unique<Peer>();
    peer->address = address;
    {
      absl::MutexLock lock(&peer->mu);
      peer->stub = NewStub(address);
    }
    peers_.emplace(id, std::move(peer));
  }
}

std::shared_ptr<paxoskv::v1::Paxos::Stub> PeerTransport::NewStub(const std::string& address) {
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                           PaxoskvChannelArguments(/*max_message_bytes=*/-1));
  return paxoskv::v1::Paxos::NewStub(channel);
}

PeerTransport::~PeerTransport() {
  // Callbacks reference peers_: wait (bounded by the RPC deadline) for calls in flight.
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(options_.rpc_deadline_ms + 500);
  while (inflight_total_.load() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {

struct Call {
  std::shared_ptr<paxoskv::v1::Paxos::Stub> stub;
  grpc::ClientContext context;
  PaxosMessage request;
  Ack response;
};

}  // namespace

bool PeerTransport::SnapshotInFlight(uint32_t to) const {
  auto it = peers_.find(to);
  return it != peers_.end() && it->second->snapshot_inflight.load();
}

void PeerTransport::Send(PaxosMessage message) {
  auto it = peers_.find(message.to());
  if (it == peers_.end()) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    logger_->debug("drop message to unknown peer to={}", message.to());
    return;
  }
  Peer* peer = it->second.get();
  if (peer->inflight.fetch_add(1) >= options_.inflight_per_peer_max) {
    peer->inflight.fetch_sub(1);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    logger_->debug("drop message to={}: too many calls in flight", message.to());
    return;
  }
  inflight_total_.fetch_add(1);
  std::shared_ptr<paxoskv::v1::Paxos::Stub> stub;
  {
    absl::MutexLock lock(&peer->mu);
    if (peer->reset.exchange(false)) {
      logger_->warn("peer {}: fresh channel (the name is resolved again)", peer->address);
      peer->stub = NewStub(peer->address);
    }
    stub = peer->stub;
  }
  auto* call = new Call;
  call->stub = stub;   // keeps the channel alive until the call completes
  message.set_shard_id(options_.shard_id);
  call->request = std::move(message);
  const bool snapshot = call->request.has_install_snapshot();
  if (snapshot) peer->snapshot_inflight = true;
  call->context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(snapshot ? options_.snapshot_deadline_ms
                                         : options_.rpc_deadline_ms));
  auto done = [this, peer, call, snapshot](grpc::Status status) {
    if (status.ok()) {
      peer->failures_in_a_row = 0;
    } else {
      logger_->debug("send to {} failed: {}", peer->address, status.error_message());
      if (IsWrongReplica(FromGrpcStatus(status, &call->context))) {
        logger_->warn("peer {} answered as another shard's replica", peer->address);
        peer->reset = true;
      } else if (++peer->failures_in_a_row >= options_.failures_before_reconnect) {
        const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count();
        int64_t last = peer->last_reset_ms.load();
        if (now_ms - last >= options_.reconnect_interval_ms &&
            peer->last_reset_ms.compare_exchange_strong(last, now_ms)) {
          logger_->info("peer {}: {} calls failed in a row (last: {}); reconnecting",
                        peer->address, peer->failures_in_a_row.load(), status.error_message());
          peer->failures_in_a_row = 0;
          peer->reset = true;
        }
      }
    }
    if (snapshot) peer->snapshot_inflight = false;
    delete call;
    peer->inflight.fetch_sub(1);
    inflight_total_.fetch_sub(1);
  };
  auto* async = stub->async();
  switch (call->request.body_case()) {
    case PaxosMessage::kPrepare:
      async->Prepare(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kPromise:
      async->Promise(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kAccept:
      async->Accept(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kAccepted:
      async->Accepted(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kLearn:
      async->Learn(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kInstallSnapshot:
      async->InstallSnapshot(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::BODY_NOT_SET:
      done(grpc::Status(grpc::StatusCode::INTERNAL, "empty message"));
      break;
  }
}

}  // namespace paxoskv::replica
