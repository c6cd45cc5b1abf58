// See transport.h.
#include "services/replica/transport.h"

#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <deque>
#include <thread>

#include "absl/synchronization/notification.h"
#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"
#include "libs/common/limits.h"
#include "libs/replica/snapshot_transfer.h"

namespace paxoskv::replica {

using paxoskv::v1::Ack;
using paxoskv::v1::PaxosMessage;

PeerTransport::PeerTransport(const std::map<uint32_t, std::string>& peers, TransportOptions options,
                             std::shared_ptr<spdlog::logger> logger)
    : options_(options),
      logger_(std::move(logger)),
      metrics_(ReplicaMetrics::For(options.shard_id, options.replica_id)) {
  SetPeerAddresses(peers);
  if (options_.probe_interval_ms > 0) prober_ = std::thread([this] { RunProber(); });
}

void PeerTransport::RunProber() {
  // grpc.health.v1.Health/Check with an empty request: the server as a whole. Any answer,
  // even an error status, is a round trip; only a transport failure is not.
  constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
  const absl::Duration interval = absl::Milliseconds(options_.probe_interval_ms);
  while (true) {
    {
      absl::MutexLock lock(&prober_mu_);
      if (prober_mu_.AwaitWithTimeout(absl::Condition(&prober_stop_), interval)) return;
    }
    std::vector<Peer*> peers;
    {
      absl::ReaderMutexLock lock(&peers_mu_);
      for (auto& [id, peer] : peers_) peers.push_back(peer.get());
    }
    for (Peer* peer : peers) {
      if (stopping_.load()) return;
      std::shared_ptr<grpc::Channel> channel;
      {
        absl::MutexLock lock(&peer->mu);
        channel = peer->channel;
      }
      grpc::GenericStub stub(channel);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(options_.rpc_deadline_ms));
      grpc::ByteBuffer request(nullptr, 0);
      grpc::ByteBuffer response;
      absl::Notification done;
      grpc::Status status;
      const auto started = std::chrono::steady_clock::now();
      stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request, &response,
                     [&](grpc::Status s) {
                       status = std::move(s);
                       done.Notify();
                     });
      done.WaitForNotification();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
          status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        metrics_->RoundTrip(peer->id).Observe(seconds);
      }
    }
  }
}

void PeerTransport::Connect(Peer* peer) {
  peer->channel = grpc::CreateCustomChannel(peer->address, options_.credentials,
                                            PaxoskvChannelArguments(kReplicaMessageBytesMax));
  peer->stub = paxoskv::v1::Paxos::NewStub(peer->channel);
}

void PeerTransport::SetPeerAddresses(const std::map<uint32_t, std::string>& others) {
  std::vector<Peer*> moved;
  {
    absl::MutexLock lock(&peers_mu_);
    for (const auto& [id, address] : others) {
      auto it = peers_.find(id);
      if (it != peers_.end() && it->second->address == address) continue;
      auto peer = std::make_unique<Peer>();
      peer->id = id;
      peer->address = address;
      peer->sent_bytes = &metrics_->SentBytes(id);
      {
        absl::MutexLock peer_lock(&peer->mu);
        Connect(peer.get());
      }
      if (it == peers_.end()) {
        logger_->info("peer {} at {}", id, address);
        peers_.emplace(id, std::move(peer));
        continue;
      }
      logger_->info("peer {} moved from {} to {}", id, it->second->address, address);
      moved.push_back(it->second.get());
      retired_.push_back(std::move(it->second));
      it->second = std::move(peer);
    }
  }
  for (Peer* peer : moved) StopStream(peer);
}

PeerTransport::Peer* PeerTransport::FindPeer(uint32_t id) const {
  absl::ReaderMutexLock lock(&peers_mu_);
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

namespace {

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Call {
  std::shared_ptr<paxoskv::v1::Paxos::Stub> stub;
  grpc::ClientContext context;
  PaxosMessage request;
  Ack response;
};

}  // namespace

// One client stream to a peer; writes one message at a time from its queue. Lifetime: gRPC
// holds one reference until OnDone; Send and the destructor take one while they use the
// stream. A hold keeps OnDone away while a write may still be started: it is released when
// a write fails (the stream is broken) or, with no write in flight, when the transport stops;
// after that the stream refuses new messages.
class PeerTransport::PeerStream final : public grpc::ClientWriteReactor<PaxosMessage> {
 public:
  PeerStream(PeerTransport* transport, Peer* peer,
             std::shared_ptr<paxoskv::v1::Paxos::Stub> stub)
      : transport_(transport), peer_(peer), stub_(std::move(stub)) {
    stub_->async()->Stream(&context_, &ack_, this);
    AddHold();
    StartCall();
  }

  enum class Queued { kWritten, kQueued, kQueueFull, kClosed };

  // Queues `message` and writes it if no write is in flight. kClosed: the stream is broken or
  // stopping (the caller drops the message; the next Send opens a new stream).
  Queued Enqueue(PaxosMessage message) {
    const PaxosMessage* write = nullptr;
    bool cancel = false;
    Queued result;
    {
      absl::MutexLock lock(&mu_);
      if (hold_released_) return Queued::kClosed;
      if (queue_.size() >= static_cast<size_t>(transport_->options_.inflight_per_peer_max)) {
        return Queued::kQueueFull;
      }
      queue_.push_back(std::move(message));
      const int64_t now = SteadyNowMs();
      if (writing_) {
        // A write that does not complete means a paused or cut-off peer: start over.
        if (!cancelled_ && now - write_started_ms_ > transport_->options_.rpc_deadline_ms) {
          cancelled_ = true;
          cancel = true;
        }
        result = Queued::kQueued;
      } else {
        writing_ = true;
        write_started_ms_ = now;
        write = &queue_.front();   // a deque keeps references across push_back
        result = Queued::kWritten;
      }
    }
    if (cancel) {
      transport_->logger_->info("peer {}: a stream write is stuck past {} ms; reconnecting",
                                peer_->address, transport_->options_.rpc_deadline_ms);
      context_.TryCancel();
    }
    // The hold is ours until this write completes, so the call cannot be done meanwhile.
    if (write != nullptr) StartWrite(write);
    return result;
  }

  // The transport stops: cancels the call, and releases the hold unless a write is in flight
  // (its completion releases it then).
  void Stop() {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (!writing_ && !hold_released_) {
        hold_released_ = true;
        release = true;
      }
    }
    context_.TryCancel();
    if (release) RemoveHold();
  }

  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void OnWriteDone(bool ok) override {
    const PaxosMessage* next = nullptr;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (ok) peer_->sent_bytes->Increment(queue_.front().GetCachedSize());
      queue_.pop_front();
      if (!ok) {
        // Broken (peer gone, cancelled, or the server ended it): what is queued is lost.
        writing_ = false;
        queue_.clear();
        release = !hold_released_;
        hold_released_ = true;
      } else if (!queue_.empty() && !transport_->stopping_.load()) {
        peer_->failures_in_a_row = 0;
        next = &queue_.front();
        write_started_ms_ = SteadyNowMs();
      } else {
        peer_->failures_in_a_row = 0;
        writing_ = false;
        if (transport_->stopping_.load() && !hold_released_) {
          release = true;
          hold_released_ = true;
        }
      }
    }
    if (!ok) {
      Detach();
      context_.TryCancel();   // fail the call at once if the server has not ended it
    }
    if (next != nullptr) StartWrite(next);
    if (release) RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    Detach();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      if (!peer_->streams_unsupported.exchange(true)) {
        transport_->logger_->info("peer {} has no Paxos.Stream: one call per message",
                                  peer_->address);
      }
    } else if (!status.ok() && !transport_->stopping_.load()) {
      transport_->NoteFailure(peer_, status, context_);
    }
    transport_->inflight_total_.fetch_sub(1);
    Unref();
  }

 private:
  // The next Send opens a new stream.
  void Detach() {
    absl::MutexLock lock(&peer_->stream_mu);
    if (peer_->stream == this) {
      peer_->stream = nullptr;
      Unref();   // the peer's reference
    }
  }

  PeerTransport* const transport_;
  Peer* const peer_;
  const std::shared_ptr<paxoskv::v1::Paxos::Stub> stub_;   // keeps the channel alive
  grpc::ClientContext context_;
  Ack ack_;
  std::atomic<int> refs_{2};   // gRPC's (until OnDone) and the peer's (until detached)
  absl::Mutex mu_;
  std::deque<PaxosMessage> queue_ ABSL_GUARDED_BY(mu_);   // front: the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  int64_t write_started_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

void PeerTransport::StopStream(Peer* peer) {
  PeerStream* stream = nullptr;
  {
    absl::MutexLock lock(&peer->stream_mu);
    stream = peer->stream;
    if (stream != nullptr) stream->Ref();
  }
  if (stream == nullptr) return;
  stream->Stop();
  stream->Unref();
}

PeerTransport::~PeerTransport() {
  stopping_ = true;
  {
    absl::MutexLock lock(&prober_mu_);
    prober_stop_ = true;
  }
  if (prober_.joinable()) prober_.join();
  // Open streams end once their write in flight completes; cancelling makes that prompt.
  std::vector<Peer*> all;
  {
    absl::MutexLock lock(&peers_mu_);
    for (auto& [id, peer] : peers_) all.push_back(peer.get());
    for (auto& peer : retired_) all.push_back(peer.get());
  }
  for (Peer* peer : all) StopStream(peer);
  // Callbacks reference peers_: wait (bounded by the RPC deadline) for calls in flight.
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(options_.rpc_deadline_ms + 500);
  while (inflight_total_.load() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool PeerTransport::SnapshotInFlight(uint32_t to) const {
  Peer* peer = FindPeer(to);
  return peer != nullptr && peer->snapshot_inflight.load();
}

std::shared_ptr<paxoskv::v1::Paxos::Stub> PeerTransport::CurrentStub(Peer* peer) {
  absl::MutexLock lock(&peer->mu);
  if (peer->reset.exchange(false)) {
    logger_->warn("peer {}: fresh channel (the name is resolved again)", peer->address);
    Connect(peer);
  }
  return peer->stub;
}

void PeerTransport::NoteFailure(Peer* peer, const grpc::Status& status,
                                const grpc::ClientContext& context) {
  logger_->debug("send to {} failed: {}", peer->address, status.error_message());
  if (IsWrongReplica(FromGrpcStatus(status, &context))) {
    logger_->warn("peer {} answered as another shard's replica", peer->address);
    peer->reset = true;
  } else if (++peer->failures_in_a_row >= options_.failures_before_reconnect) {
    const int64_t now_ms = SteadyNowMs();
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

void PeerTransport::Send(PaxosMessage message) {
  Peer* peer = FindPeer(message.to());
  if (peer == nullptr) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    logger_->debug("drop message to unknown peer to={}", message.to());
    return;
  }
  if (message.has_install_snapshot()) {   // a snapshot travels by SendSnapshot, chunked
    logger_->error("dropping an InstallSnapshot handed to Send for {}", peer->address);
    return;
  }
  message.set_shard_id(options_.shard_id);
  if (options_.streams && !peer->streams_unsupported.load()) {
    SendOnStream(peer, std::move(message));
  } else {
    SendUnary(peer, std::move(message));
  }
}

void PeerTransport::SendOnStream(Peer* peer, PaxosMessage message) {
  PeerStream* stream = nullptr;
  {
    absl::MutexLock lock(&peer->stream_mu);
    if (stopping_.load()) return;
    if (peer->stream == nullptr) {
      inflight_total_.fetch_add(1);
      peer->stream = new PeerStream(this, peer, CurrentStub(peer));
    }
    stream = peer->stream;
    stream->Ref();
  }
  const PeerStream::Queued queued = stream->Enqueue(std::move(message));
  stream->Unref();
  if (queued == PeerStream::Queued::kQueueFull || queued == PeerStream::Queued::kClosed) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    logger_->debug("drop message to {}: stream {}", peer->address,
                   queued == PeerStream::Queued::kClosed ? "closed" : "queue full");
  }
}

struct PeerTransport::SnapshotTransfer {
  Peer* peer = nullptr;
  PaxosMessage header;
  std::unique_ptr<storage::SnapshotReader> reader;
  uint64_t index = 0;
  std::string next;        // the chunk read ahead (so that we know which one is the last)
  bool has_next = false;
};

void PeerTransport::SendSnapshot(PaxosMessage header,
                                 std::unique_ptr<storage::SnapshotReader> reader) {
  Peer* peer = FindPeer(header.to());
  if (peer == nullptr || stopping_.load()) return;
  if (peer->snapshot_inflight.exchange(true)) return;   // one transfer per peer
  header.set_shard_id(options_.shard_id);
  auto transfer = std::make_shared<SnapshotTransfer>();
  transfer->peer = peer;
  transfer->header = std::move(header);
  transfer->reader = std::move(reader);
  absl::StatusOr<bool> first = transfer->reader->Next(&transfer->next);
  if (!first.ok()) {
    logger_->warn("cannot read snapshot for {}: {}", peer->address, first.status().ToString());
    peer->snapshot_inflight = false;
    return;
  }
  transfer->has_next = *first;
  SendNextChunk(std::move(transfer));
}

void PeerTransport::SendNextChunk(std::shared_ptr<SnapshotTransfer> transfer) {
  Peer* peer = transfer->peer;
  std::string data = std::move(transfer->next);
  bool last = true;
  if (transfer->has_next) {
    absl::StatusOr<bool> more = transfer->reader->Next(&transfer->next);
    if (!more.ok()) {
      logger_->warn("cannot read snapshot for {}: {}", peer->address, more.status().ToString());
      peer->snapshot_inflight = false;
      return;
    }
    transfer->has_next = *more;
    last = !*more;
  }
  inflight_total_.fetch_add(1);
  auto* call = new Call;
  call->stub = CurrentStub(peer);
  call->request = SnapshotChunk(transfer->header, transfer->index++, std::move(data), last);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(options_.snapshot_deadline_ms));
  call->stub->async()->InstallSnapshot(
      &call->context, &call->request, &call->response,
      [this, peer, transfer = std::move(transfer), call, last](grpc::Status status) mutable {
        const bool go_on = status.ok() && !last && !stopping_.load();
        if (status.ok()) {
          peer->sent_bytes->Increment(call->request.GetCachedSize());
          peer->failures_in_a_row = 0;
        } else {
          logger_->info("snapshot to {} stopped at chunk {}: {}", peer->address,
                        call->request.install_snapshot().chunk_index(), status.error_message());
          NoteFailure(peer, status, call->context);
        }
        delete call;
        if (go_on) {
          SendNextChunk(std::move(transfer));
        } else {
          peer->snapshot_inflight = false;
        }
        inflight_total_.fetch_sub(1);
      });
}

void PeerTransport::SendUnary(Peer* peer, PaxosMessage message) {
  if (peer->inflight.fetch_add(1) >= options_.inflight_per_peer_max) {
    peer->inflight.fetch_sub(1);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    logger_->debug("drop message to={}: too many calls in flight", message.to());
    return;
  }
  inflight_total_.fetch_add(1);
  auto* call = new Call;
  call->stub = CurrentStub(peer);   // keeps the channel alive until the call completes
  call->request = std::move(message);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(options_.rpc_deadline_ms));
  auto done = [this, peer, call](grpc::Status status) {
    if (status.ok()) {
      peer->sent_bytes->Increment(call->request.GetCachedSize());
      peer->failures_in_a_row = 0;
    } else {
      NoteFailure(peer, status, call->context);
    }
    delete call;
    peer->inflight.fetch_sub(1);
    inflight_total_.fetch_sub(1);
  };
  auto* async = call->stub->async();
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
    case PaxosMessage::kTimeoutNow:
      async->TimeoutNow(&call->context, &call->request, &call->response, std::move(done));
      break;
    case PaxosMessage::kInstallSnapshot:   // snapshots go through SendSnapshot
    case PaxosMessage::BODY_NOT_SET:
      done(grpc::Status(grpc::StatusCode::INTERNAL, "empty message"));
      break;
  }
}

}  // namespace paxoskv::replica
