// See snapshot_transfer.h.
#include "libs/replica/snapshot_transfer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/paxos/ballot.h"

namespace paxoskv::replica {

namespace pb = paxoskv::v1;

pb::PaxosMessage SnapshotHeader(const pb::PaxosMessage& request,
                                const storage::SnapshotMeta& meta) {
  pb::PaxosMessage header = request;
  pb::InstallSnapshot* s = header.mutable_install_snapshot();
  s->set_last_slot(meta.last_slot);
  s->clear_data();
  s->set_snapshot_bytes(meta.bytes);
  s->set_snapshot_chunks(meta.chunks);
  s->set_snapshot_digest(meta.digest);
  return header;
}

pb::PaxosMessage SnapshotChunk(const pb::PaxosMessage& header, uint64_t index, std::string data,
                               bool last) {
  pb::PaxosMessage message = header;
  pb::InstallSnapshot* s = message.mutable_install_snapshot();
  s->set_chunk_index(index);
  s->set_data(std::move(data));
  s->set_last_chunk(last);
  return message;
}

absl::Status SnapshotReceiver::Refuse(absl::Status why) {
  staged_.reset();   // the writer's destructor discards what was staged
  next_index_ = 0;
  return why;
}

absl::StatusOr<std::unique_ptr<StagedSnapshot>> SnapshotReceiver::Add(
    const pb::PaxosMessage& message) {
  const pb::InstallSnapshot& chunk = message.install_snapshot();
  if (chunk.chunk_index() == 0) {
    staged_.reset();
    auto writer = store_->NewSnapshot(chunk.last_slot());
    if (!writer.ok()) return Refuse(writer.status());
    staged_ = std::make_unique<StagedSnapshot>();
    staged_->from = message.from();
    staged_->writer = *std::move(writer);
    staged_->kv = kv::KvStateMachine(limits_);
    header_ = chunk;
    header_.clear_data();
    next_index_ = 0;
  } else if (staged_ == nullptr || message.from() != staged_->from ||
             !paxos::SameBallot(chunk.ballot(), header_.ballot()) ||
             chunk.last_slot() != header_.last_slot() ||
             chunk.snapshot_digest() != header_.snapshot_digest() ||
             chunk.chunk_index() != next_index_) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
        "snapshot chunk ", chunk.chunk_index(), " (slot ", chunk.last_slot(), " from ",
        message.from(), ") does not continue the transfer in progress")));
  }
  ++next_index_;
  if (header_.snapshot_chunks() > 0) {   // a snapshot of no chunks sends one empty message
    if (next_index_ > header_.snapshot_chunks()) {
      return Refuse(absl::InvalidArgumentError("more snapshot chunks than announced"));
    }
    if (absl::Status status = staged_->kv.AddSnapshotChunk(chunk.data()); !status.ok()) {
      return Refuse(status);
    }
    if (absl::Status status = staged_->writer->Append(chunk.data()); !status.ok()) {
      return Refuse(status);
    }
  }
  if (!chunk.last_chunk()) return nullptr;
  const storage::SnapshotMeta got = staged_->writer->meta();
  if (got.chunks != header_.snapshot_chunks() || got.bytes != header_.snapshot_bytes() ||
      got.digest != header_.snapshot_digest()) {
    return Refuse(absl::InvalidArgumentError(absl::StrCat(
        "snapshot at slot ", header_.last_slot(), " does not match what it announced (",
        got.chunks, " chunks, ", got.bytes, " bytes received)")));
  }
  std::unique_ptr<StagedSnapshot> done = std::move(staged_);
  done->request = header_;
  next_index_ = 0;
  return done;
}

}  // namespace paxoskv::replica
