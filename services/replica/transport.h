// Sends Paxos messages to the other replicas of the group over gRPC, asynchronously.
// Fire-and-forget with the callback API: Send() never blocks on the network.
//  - Every message but InstallSnapshot is written on one long-lived client stream per peer
//    (Paxos.Stream): no call set-up, no Ack, no completion per message. A stream whose write
//    has not completed within rpc_deadline_ms (a paused or cut-off peer) is cancelled; a
//    broken stream is replaced at the next Send; messages queued on it are lost.
//  - A snapshot travels chunk by chunk, each chunk an InstallSnapshot call of its own with its
//    own deadline, the next one started when the previous one succeeded (a failed one ends
//    the transfer; the core asks again later). At most one transfer per peer at a time.
//  - Every message to a peer that does not implement Stream (an older binary: UNIMPLEMENTED)
//    travels as its own unary call with a deadline.
// Each peer has a bound on messages queued or calls in flight beyond which messages are
// dropped (Paxos tolerates loss and the core retransmits). The peers are the membership's
// (SetPeerAddresses): a member added or moved gets its own channel. Bytes sent are counted
// per peer, and a prober thread times a round trip to each peer every few seconds
// (replica_metrics.h). Thread-safe; the stream's reactions run on gRPC's threads and take
// only the peer's stream lock.
#pragma once

#include <grpcpp/grpcpp.h>
#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/replica/message_sink.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "services/replica/replica_metrics.h"

namespace paxoskv::replica {

struct TransportOptions {
  uint32_t shard_id = 0;              // stamped on every message
  uint32_t replica_id = 0;            // this replica's id (its metrics' label)
  // Every so often, one empty round trip (a gRPC health check) to each peer, timed into
  // paxoskv_network_peer_round_trip_time_seconds (etcd's prober). 0: none.
  int probe_interval_ms = 5000;
  int rpc_deadline_ms = 2000;
  // One snapshot chunk (4 MiB by default): ship it, stage it and parse it at the receiver.
  // Bounded: no second snapshot leaves for a peer while one is on its way.
  int snapshot_deadline_ms = 15000;
  int inflight_per_peer_max = 4096;   // calls in flight (or messages queued) per peer
  bool streams = true;                // false: one unary call per message
  int failures_before_reconnect = 3;  // failed calls in a row before a fresh channel
  int reconnect_interval_ms = 1000;   // at most one fresh channel per peer this often
  // Mutual TLS with this replica's certificate (libs/common/tls.h), or plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
};

class PeerTransport final : public MessageSink {
 public:
  // `peers` maps every OTHER member's id to its host:port (the core sets them again when
  // it opens: SetPeerAddresses).
  PeerTransport(const std::map<uint32_t, std::string>& peers, TransportOptions options,
                std::shared_ptr<spdlog::logger> logger);
  ~PeerTransport() override;

  // Queues `message` for message.to(); drops it (debug log) if that peer is unknown or
  // has too many calls in flight.
  void Send(paxoskv::v1::PaxosMessage message) override;
  void SendSnapshot(paxoskv::v1::PaxosMessage header,
                    std::unique_ptr<storage::SnapshotReader> reader) override;
  bool SnapshotInFlight(uint32_t to) const override;
  // A new id gets a peer; a changed address a new peer (the old one's stream is stopped, and
  // it is kept until the transport goes: gRPC callbacks may still hold it); an id no longer
  // named keeps its peer, unused.
  void SetPeerAddresses(const std::map<uint32_t, std::string>& others) override;

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

 private:
  class PeerStream;
  struct SnapshotTransfer;
  struct Peer {
    uint32_t id = 0;
    std::string address;
    prometheus::Counter* sent_bytes = nullptr;  // paxoskv_network_peer_sent_bytes_total
    absl::Mutex mu;
    std::shared_ptr<grpc::Channel> channel ABSL_GUARDED_BY(mu);
    std::shared_ptr<paxoskv::v1::Paxos::Stub> stub ABSL_GUARDED_BY(mu);  // on `channel`
    // Set when the peer's address answered as another shard's replica, or after calls kept
    // failing: the next Send builds a fresh channel, which resolves the name again at once.
    // (A channel whose peer vanished while its name moved to another address can sit in
    // connect timeouts, reconnect backoff and DNS re-resolution cooldown for tens of seconds.)
    std::atomic<bool> reset{false};
    std::atomic<int> failures_in_a_row{0};
    std::atomic<int64_t> last_reset_ms{0};   // steady clock
    std::atomic<int> inflight{0};
    std::atomic<bool> snapshot_inflight{false};
    // The open stream, if any (it deletes itself when done and clears this first).
    absl::Mutex stream_mu;
    PeerStream* stream ABSL_GUARDED_BY(stream_mu) = nullptr;
    std::atomic<bool> streams_unsupported{false};
  };
  // A fresh channel to `address` and its Paxos stub.
  void Connect(Peer* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  // The prober thread: a timed health check to every peer every probe_interval_ms.
  void RunProber();
  // The peer of `id`, or nullptr. Peers live as long as the transport.
  Peer* FindPeer(uint32_t id) const ABSL_LOCKS_EXCLUDED(peers_mu_);
  void StopStream(Peer* peer);
  std::shared_ptr<paxoskv::v1::Paxos::Stub> CurrentStub(Peer* peer);
  void SendUnary(Peer* peer, paxoskv::v1::PaxosMessage message);
  // Sends the transfer's next chunk; its completion sends the one after.
  void SendNextChunk(std::shared_ptr<SnapshotTransfer> transfer);
  void SendOnStream(Peer* peer, paxoskv::v1::PaxosMessage message);
  // A call or stream to `peer` failed: counts it and marks the channel for a fresh start
  // when the peer answered as another shard's replica or calls keep failing.
  void NoteFailure(Peer* peer, const grpc::Status& status, const grpc::ClientContext& context);
  TransportOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable absl::Mutex peers_mu_;
  std::map<uint32_t, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(peers_mu_);
  // Peers whose member moved to another address: no longer sent to, kept for callbacks.
  std::vector<std::unique_ptr<Peer>> retired_ ABSL_GUARDED_BY(peers_mu_);
  std::atomic<uint64_t> dropped_{0};
  std::atomic<int> inflight_total_{0};   // unary calls and open streams
  std::atomic<bool> stopping_{false};
  const std::shared_ptr<ReplicaMetrics> metrics_;
  absl::Mutex prober_mu_;
  bool prober_stop_ ABSL_GUARDED_BY(prober_mu_) = false;
  std::thread prober_;
};

}  // namespace paxoskv::replica
