// Shipping a snapshot between replicas, chunk by chunk (protos/paxoskv/v1/paxos.proto
// InstallSnapshot): the sender's messages, and the receiver that stages the chunks in its
// store and rebuilds the state machine from them as they arrive, so that neither side ever
// holds the whole snapshot in one buffer or message. The receiver hands the replica core a
// StagedSnapshot only once every chunk arrived in order and the digest matches; the core
// commits it (makes it durable and current) when it installs it.
// Not thread-safe: a SnapshotReceiver belongs to one replica core.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/kv/kv_state_machine.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::replica {

// The first message of a transfer of `meta` for the core's InstallSnapshot `request`
// (from, to, ballot): last_slot and the snapshot meta filled in, no data yet.
paxoskv::v1::PaxosMessage SnapshotHeader(const paxoskv::v1::PaxosMessage& request,
                                         const storage::SnapshotMeta& meta);
// Chunk `index` of the transfer `header` names (a snapshot of no chunks travels as one
// message with no data).
paxoskv::v1::PaxosMessage SnapshotChunk(const paxoskv::v1::PaxosMessage& header, uint64_t index,
                                        std::string data, bool last);
// Sends every chunk of `reader` with `send`, in order (the simulator's network, tests);
// stops at a read error. The gRPC transport streams instead (services/replica/transport.cc).
template <typename Send>
absl::Status SendAllChunks(const paxoskv::v1::PaxosMessage& header,
                           storage::SnapshotReader& reader, Send send);

// A snapshot received whole: staged in the store (not committed) and rebuilt.
struct StagedSnapshot {
  uint32_t from = 0;
  paxoskv::v1::InstallSnapshot request;   // ballot and last_slot, no data
  std::unique_ptr<storage::SnapshotWriter> writer;
  kv::KvStateMachine kv;
};

class SnapshotReceiver {
 public:
  SnapshotReceiver(storage::AcceptorStore* store, kv::KvLimits limits)
      : store_(store), limits_(limits) {}

  // Takes one chunk. Chunk 0 starts a new transfer (dropping any other: REQUIRES the caller
  // checked the offer, Node::CheckInstallSnapshot); later chunks must continue the transfer
  // in progress, in order. Returns the staged snapshot after the last chunk, null before.
  // A refusal drops the transfer in progress (the sender starts again):
  //  - kFailedPrecondition: a chunk that does not continue the transfer in progress;
  //  - kInvalidArgument: a chunk that does not parse, or a whole that does not match the
  //    size, count or digest it announced;
  //  - kInternal: staging it in the store failed.
  absl::StatusOr<std::unique_ptr<StagedSnapshot>> Add(const paxoskv::v1::PaxosMessage& message);

  bool receiving() const { return staged_ != nullptr; }

 private:
  absl::Status Refuse(absl::Status why);

  storage::AcceptorStore* const store_;
  const kv::KvLimits limits_;
  std::unique_ptr<StagedSnapshot> staged_;
  paxoskv::v1::InstallSnapshot header_;   // of the transfer in progress
  uint64_t next_index_ = 0;
};

template <typename Send>
absl::Status SendAllChunks(const paxoskv::v1::PaxosMessage& header,
                           storage::SnapshotReader& reader, Send send) {
  std::string chunk;
  absl::StatusOr<bool> more = reader.Next(&chunk);
  if (!more.ok()) return more.status();
  if (!*more) {
    send(SnapshotChunk(header, 0, {}, /*last=*/true));
    return absl::OkStatus();
  }
  for (uint64_t index = 0;; ++index) {
    std::string next;
    absl::StatusOr<bool> after = reader.Next(&next);
    if (!after.ok()) return after.status();
    send(SnapshotChunk(header, index, std::move(chunk), /*last=*/!*after));
    if (!*after) return absl::OkStatus();
    chunk = std::move(next);
  }
}

}  // namespace paxoskv::replica
