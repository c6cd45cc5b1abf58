// paxos_node_fuzz: member 1 of a 3-member Multi-Paxos group (libs/paxos Node, invariants
// checked after every input) driven by an arbitrary stream of operations decoded from the
// fuzzer's bytes. The fuzzer plays both peers, the network and the driver:
//   - Step with messages built from a few bytes (kind, sender, ballot near the node's own,
//     slots near its chosen prefix, small values), with replies to what the node sent (a
//     Promise for its Prepare, an Accepted for its Accept, ...) so that it gets elected and
//     gets slots chosen, and with raw PaxosMessage bytes;
//   - Tick, Campaign, Propose, ReadIndex, Compact (<= applied) and a restart from what the
//     driver made durable;
//   - TakeReady after each operation unless the op byte says to let the Ready accumulate.
// Properties (beyond no crash, no sanitizer report and no PAXOSKV_CHECK inside the core):
//   - Step returns OK, kInvalidArgument or kFailedPrecondition, and a refused message
//     changes neither the promise, the role nor the chosen or applied slots;
//   - Ready: the promise only grows and bounds every accepted entry; chosen_through only
//     grows; a snapshot lies beyond what was applied; chosen entries continue the applied
//     slots one by one and match status().applied_through; messages go from us to a peer;
//   - a slot applied twice (before and after a restart) has the same value;
//   - every read ticket is answered (done or failed) at most once, and only if asked for.
// The core is safe against crash faults, not Byzantine ones: a forged message from a peer
// may make it learn a value that was never chosen; it must never make it crash.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/durable_state.h"
#include "libs/paxos/limits.h"
#include "libs/paxos/node.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_targets.h"

namespace paxoskv::fuzz {
namespace {

namespace pb = ::paxoskv::v1;
using paxos::Compare;
using paxos::Node;
using paxos::NodeConfig;
using paxos::Ready;

constexpr uint32_t kSelf = 1;
constexpr int kMembers = 3;
constexpr size_t kOpsMax = 500;      // operations decoded from one input
constexpr size_t kOutboxMax = 32;    // messages the node sent that the fuzzer may answer
constexpr size_t kHeavyEntries = 4096;   // entries in one Ready that end the input (see Drain)

std::shared_ptr<spdlog::logger> SilentLogger() {
  static auto logger = [] {
    auto l = std::make_shared<spdlog::logger>("fuzz",
                                              std::make_shared<spdlog::sinks::null_sink_st>());
    l->set_level(spdlog::level::off);  // skip formatting too
    return l;
  }();
  return logger;
}


class Harness {
 public:
  explicit Harness(FuzzInput& in) : in_(in) {
    const uint8_t knobs = in_.Byte();
    config_.id = static_cast<NodeId>(kSelf);
    for (int i = 1; i <= kMembers; ++i) config_.members.push_back(static_cast<NodeId>(i));
    config_.heartbeat_ticks = 1 + (knobs & 1);
    config_.election_timeout_ticks = 4 + (knobs >> 1 & 3) * 3;
    config_.retransmit_ticks = 2 + (knobs >> 3 & 1) * 2;
    config_.inflight_slots_max = (knobs & 0x10) ? 2 : 64;
    config_.learn_entries_max = (knobs & 0x20) ? 2 : 256;
    config_.batch_commands_max = (knobs & 0x40) ? 1 : 512;
    config_.pending_commands_max = 64;
    config_.seed = in_.Byte();
    config_.check_invariants = true;
    config_.logger = SilentLogger();
    Restore();
  }

  void Run() {
    for (size_t i = 0; i < kOpsMax && !in_.empty() && !heavy_; ++i) {
      const uint8_t op_byte = in_.Byte();
      if (Tracing()) std::fprintf(stderr, "op %d:\n", (op_byte & 0x7f) % kOpCount);
      switch (static_cast<PaxosNodeOp>((op_byte & 0x7f) % kOpCount)) {
        case kTick:
          for (int n = 1 + in_.Byte() % 8; n > 0; --n) node_->Tick();
          break;
        case kCampaign:
          node_->Campaign();
          node_->Tick();
          break;
        case kPropose:
          ProposeOne();
          break;
        case kReadIndex:
          if (node_->ReadIndex(next_read_id_).ok()) reads_asked_.insert(next_read_id_);
          ++next_read_id_;
          break;
        case kTakeReady:
          break;   // the Ready is taken below anyway
        case kCompact: {
          const SlotId applied = node_->status().applied_through;
          const SlotId through = applied - std::min<SlotId>(applied, in_.Byte() % 4);
          node_->Compact(through);
          if (through > durable_.snapshot_slot) {
            durable_.snapshot_slot = through;   // the driver saved a snapshot through it
            // ... recording the membership as of `through`, as the KV state machine does.
            if (auto it = applied_memberships_.upper_bound(through);
                it != applied_memberships_.begin()) {
              durable_.membership = std::prev(it)->second;
            }
            durable_entries_.erase(durable_entries_.begin(),
                                   durable_entries_.upper_bound(through));
          }
          break;
        }
        case kRestart:
          Restore();
          break;
        case kRawMessage: {
          pb::PaxosMessage m;
          const std::string_view bytes = in_.Bytes(512);
          if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) break;
          if (in_.Bool()) m.set_to(kSelf);   // get past the first check more often
          Deliver(m);
          break;
        }
        case kPrepare:
          Deliver(PrepareMsg());
          break;
        case kPromise:
          Deliver(PromiseMsg());
          break;
        case kAccept:
          Deliver(AcceptMsg());
          break;
        case kAccepted:
          Deliver(AcceptedMsg());
          break;
        case kLearn:
          Deliver(LearnMsg());
          break;
        case kInstallSnapshot:
          Deliver(SnapshotMsg());
          break;
        case kReply:
        case kReplyAgain:
          Reply();
          break;
        case kOpCount:
          break;
      }
      if (!(op_byte & kKeepReadyBit) && node_->HasReady()) Drain();
      if (Tracing()) Trace(op_byte);
    }
    Drain();
  }

 private:
  // PAXOSKV_FUZZ_TRACE=1: one status line per operation on stderr (to read what an input does,
  // e.g. a new seed or a crash: build/bin/fuzz_replay_test, or the fuzz binary on the file).
  static bool Tracing() {
    static const bool tracing = std::getenv("PAXOSKV_FUZZ_TRACE") != nullptr;
    return tracing;
  }

  void Trace(uint8_t op_byte) const {
    const paxos::Status s = node_->status();
    std::fprintf(stderr,
                 "op=%d%s role=%d ballot=%llu.%u leader=%u chosen=%llu applied=%llu "
                 "compacted=%llu pending=%zu refused=%llu outbox=%zu last_step=%s\n",
                 (op_byte & 0x7f) % kOpCount, (op_byte & kKeepReadyBit) ? "(keep)" : "",
                 static_cast<int>(s.role), static_cast<unsigned long long>(s.ballot.round()),
                 s.ballot.node_id(), s.leader.has_value() ? ToInt(*s.leader) : 0,
                 static_cast<unsigned long long>(s.chosen_through),
                 static_cast<unsigned long long>(s.applied_through),
                 static_cast<unsigned long long>(s.compacted_through), s.pending_commands,
                 static_cast<unsigned long long>(s.refused_messages), outbox_.size(),
                 last_step_.c_str());
  }

  // ---- the driver -------------------------------------------------------------------------

  // A (re)start from what the driver made durable, as a replica does after a crash: the
  // state machine restarts from the snapshot, and what was sent may still arrive.
  void Restore() {
    paxos::DurableState d = durable_;
    for (const auto& [slot, entry] : durable_entries_) d.entries.push_back(entry);
    auto node = Node::Restore(config_, d);
    FUZZ_CHECK(node.ok(), "restore from the driver's own durable state failed: %s",
               node.status().ToString().c_str());
    node_ = std::move(node).value();
    applied_ = durable_.snapshot_slot;
    reported_chosen_through_ = node_->status().chosen_through;
    reads_asked_.clear();   // tickets die with the process
    FUZZ_CHECK(node_->status().applied_through == applied_, "restored applied_through %llu",
               static_cast<unsigned long long>(node_->status().applied_through));
  }

  // Takes the Ready and acts on it in the order node.h prescribes, checking it on the way.
  void Drain() {
    Ready r = node_->TakeReady();
    if (r.promised.has_value()) {
      FUZZ_CHECK(Compare(*r.promised, durable_.promised) > 0, "promise went down to %llu.%u",
                 static_cast<unsigned long long>(r.promised->round()), r.promised->node_id());
      durable_.promised = *r.promised;
    }
    // A node may be made to take an entry far ahead (up to limits.h kSlotWindow slots) and, as
    // leader, to fill every hole below it: bounded by design, but every later tick then
    // retransmits thousands of entries, which makes for seconds per input. Such an input ends
    // after this Ready (the fill itself, and everything it made durable, is still checked).
    if (r.accepted.size() > kHeavyEntries) heavy_ = true;
    for (const pb::Entry& e : r.accepted) {
      FUZZ_CHECK(e.slot() > 0, "accepted entry at slot 0");
      FUZZ_CHECK(Compare(e.ballot(), durable_.promised) <= 0,
                 "accepted slot %llu above the durable promise",
                 static_cast<unsigned long long>(e.slot()));
      if (e.slot() > durable_.snapshot_slot) durable_entries_[e.slot()] = e;
    }
    if (r.chosen_through.has_value()) {
      FUZZ_CHECK(*r.chosen_through > reported_chosen_through_, "chosen_through went down");
      reported_chosen_through_ = *r.chosen_through;
      durable_.chosen_through = std::max(durable_.chosen_through, *r.chosen_through);
    }
    for (const pb::PaxosMessage& m : r.proposals) Sent(m);
    for (const pb::PaxosMessage& m : r.messages) Sent(m);
    if (r.snapshot.has_value()) {
      const SlotId last = r.snapshot->last_slot();
      FUZZ_CHECK(last > applied_, "snapshot through %llu, applied already %llu",
                 static_cast<unsigned long long>(last), static_cast<unsigned long long>(applied_));
      applied_ = last;
      durable_.snapshot_slot = last;
      if (r.snapshot->membership().members_size() > 0) {
        durable_.membership = r.snapshot->membership();
        applied_memberships_.clear();
        applied_memberships_[last] = r.snapshot->membership();
      }
      durable_.chosen_through = std::max(durable_.chosen_through, last);
      durable_entries_.erase(durable_entries_.begin(), durable_entries_.upper_bound(last));
    }
    for (const pb::Entry& e : r.chosen) {
      FUZZ_CHECK(e.slot() == applied_ + 1, "applied slot %llu after %llu",
                 static_cast<unsigned long long>(e.slot()),
                 static_cast<unsigned long long>(applied_));
      applied_ = e.slot();
      if (e.value().has_membership()) applied_memberships_[e.slot()] = e.value().membership();
      const std::string value = e.value().SerializeAsString();
      auto [it, inserted] = applied_values_.try_emplace(e.slot(), value);
      FUZZ_CHECK(inserted || it->second == value, "slot %llu applied with two values",
                 static_cast<unsigned long long>(e.slot()));
    }
    FUZZ_CHECK(node_->status().applied_through == applied_, "status applied_through %llu != %llu",
               static_cast<unsigned long long>(node_->status().applied_through),
               static_cast<unsigned long long>(applied_));
    for (const paxos::ReadState& read : r.reads) Answered(read.id);
    for (uint64_t id : r.reads_failed) Answered(id);
  }

  void Sent(const pb::PaxosMessage& m) {
    // Not only to the founding members: a membership change the inputs got chosen may name
    // any id (libs/paxos README, "Membership").
    FUZZ_CHECK(m.from() == kSelf && m.to() != 0 && m.to() != kSelf, "message from %u to %u",
               m.from(), m.to());
    FUZZ_CHECK(m.body_case() != pb::PaxosMessage::BODY_NOT_SET, "message without body");
    outbox_.push_back(m);
    if (outbox_.size() > kOutboxMax) outbox_.pop_front();
  }

  void Answered(uint64_t id) {
    FUZZ_CHECK(reads_asked_.erase(id) == 1, "read %llu answered twice or never asked",
               static_cast<unsigned long long>(id));
  }

  void Deliver(const pb::PaxosMessage& m) {
    const paxos::Status before = node_->status();
    const absl::Status status = node_->Step(m);
    if (Tracing()) {
      last_step_ = status.ToString();
      std::fprintf(stderr, "step %s -> %s\n", m.ShortDebugString().c_str(), last_step_.c_str());
    }
    if (status.ok()) return;
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                   status.code() == absl::StatusCode::kFailedPrecondition,
               "Step returned %s", status.ToString().c_str());
    const paxos::Status after = node_->status();
    FUZZ_CHECK(Compare(after.ballot, before.ballot) == 0 && after.role == before.role &&
                   after.chosen_through == before.chosen_through &&
                   after.applied_through == before.applied_through &&
                   after.refused_messages == before.refused_messages + 1,
               "a refused message changed the node (%s)", status.ToString().c_str());
  }

  // ---- inputs decoded from the bytes ------------------------------------------------------

  // Mostly a peer; sometimes ourselves, a non-member or node 0.
  uint32_t Sender() {
    static constexpr uint32_t kSenders[8] = {2, 3, 2, 3, 2, 3, kSelf, 0};
    const uint8_t b = in_.Byte();
    return (b & 0x80) ? b & 0x7f : kSenders[b & 7];
  }

  // Mostly near the node's promise, so that it is the current ballot, just above or below.
  pb::Ballot BallotNear(uint32_t node_id) {
    const pb::Ballot promised = node_->status().ballot;
    const uint8_t kind = in_.Byte();
    uint64_t round = promised.round();
    switch (kind & 7) {
      case 0:
      case 1:
        break;                                     // the promised round
      case 2:
      case 3:
        round += 1 + (kind >> 3 & 3);              // just above
        break;
      case 4:
        round -= std::min<uint64_t>(round, 1 + (kind >> 3 & 3));   // just below
        break;
      case 5:
        round = kind >> 3;                         // small, absolute
        break;
      case 6:
        round += uint64_t{1} << (kind >> 3);       // a jump, up to 2^31
        break;
      case 7:
        round = in_.U64();                         // anything (limits.h refuses most)
        break;
    }
    if ((kind & 7) <= 1 && (kind & 0x80)) return promised;   // exactly the promise
    if (kind & 0x40) node_id = in_.Byte() % (kMembers + 2);   // 0..4: some invalid
    return paxos::MakeBallot(round, node_id);
  }

  // Mostly near the node's chosen prefix; rarely at the edge of the window a message may
  // reach (limits.h kSlotWindow: just inside is taken, and a leader then fills every hole
  // below it, which makes that execution slow) or anywhere.
  SlotId SlotNear() {
    const SlotId base = node_->status().chosen_through;
    const uint8_t kind = in_.Byte();
    switch (kind & 7) {
      case 5:
        return base + 6 + in_.Byte();
      case 6:
        if ((kind & 0xf0) == 0xf0) return base + paxos::kSlotWindow + (kind >> 3 & 1);
        return base + 6 + in_.U16() % 1024;
      case 7:
        return (kind & 8) ? in_.U64() : 0;
      default: {
        const int64_t delta = static_cast<int64_t>(kind >> 3) % 8 - 2;   // -2 .. 5
        return delta < 0 && static_cast<SlotId>(-delta) > base ? 0 : base + delta;
      }
    }
  }

  // Command strings as a parser would let them through: proto3 `string` fields are valid
  // UTF-8 (here: printable ASCII). Every command reaches a real core through a parse (gRPC,
  // the RocksDB store), and the core relies on it: it packs applied values and parses them
  // back (node.cc FullEntry), which fails on other bytes (tests/fuzz/README.md, finding 1).
  static std::string Printable(std::string_view bytes) {
    std::string out(bytes);
    for (char& c : out) c = static_cast<char>(' ' + static_cast<uint8_t>(c) % 95);
    return out;
  }

  pb::Command Command() {
    pb::Command c;
    const uint8_t kind = in_.Byte();
    c.set_op(static_cast<pb::Op>(1 + kind % 3));   // GET, PUT, DELETE
    c.set_key(std::string(1, static_cast<char>('a' + (kind >> 2) % 4)));
    if (kind & 0x40) c.set_value(Printable(in_.Bytes(64)));
    if (kind & 0x80) {
      c.set_client_id(1 + in_.Byte() % 4);
      c.set_seq(1 + in_.Byte());
    }
    return c;
  }

  pb::Value Value() {
    pb::Value v;
    for (int n = in_.Byte() % 3; n > 0; --n) *v.add_commands() = Command();
    return v;
  }

  void Entries(google::protobuf::RepeatedPtrField<pb::Entry>* entries, uint32_t ballot_node) {
    for (int n = in_.Byte() % 4; n > 0; --n) {
      pb::Entry* e = entries->Add();
      e->set_slot(SlotNear());
      *e->mutable_ballot() = BallotNear(ballot_node);
      *e->mutable_value() = Value();
    }
  }

  pb::PaxosMessage Envelope() {
    pb::PaxosMessage m;
    m.set_from(Sender());
    m.set_to(in_.Byte() == 0xff ? 2 : kSelf);
    return m;
  }

  pb::PaxosMessage PrepareMsg() {
    pb::PaxosMessage m = Envelope();
    *m.mutable_prepare()->mutable_ballot() = BallotNear(m.from());
    m.mutable_prepare()->set_from_slot(SlotNear());
    return m;
  }

  pb::PaxosMessage PromiseMsg() {
    pb::PaxosMessage m = Envelope();
    pb::Promise* p = m.mutable_promise();
    *p->mutable_ballot() = BallotNear(kSelf);
    p->set_ok(in_.Byte() % 4 != 0);
    *p->mutable_promised() = p->ok() ? p->ballot() : BallotNear(m.from());
    Entries(p->mutable_accepted(), m.from());
    p->set_chosen_through(SlotNear());
    return m;
  }

  pb::PaxosMessage AcceptMsg() {
    pb::PaxosMessage m = Envelope();
    pb::Accept* a = m.mutable_accept();
    *a->mutable_ballot() = BallotNear(m.from());
    Entries(a->mutable_entries(), m.from());
    a->set_chosen_through(SlotNear());
    a->set_heartbeat_id(in_.Byte());
    return m;
  }

  pb::PaxosMessage AcceptedMsg() {
    pb::PaxosMessage m = Envelope();
    pb::Accepted* a = m.mutable_accepted();
    *a->mutable_ballot() = BallotNear(kSelf);
    a->set_ok(in_.Byte() % 4 != 0);
    *a->mutable_promised() = a->ok() ? a->ballot() : BallotNear(m.from());
    for (int n = in_.Byte() % 4; n > 0; --n) a->add_slots(SlotNear());
    a->set_chosen_through(SlotNear());
    a->set_heartbeat_id(in_.Byte());
    return m;
  }

  pb::PaxosMessage LearnMsg() {
    pb::PaxosMessage m = Envelope();
    pb::Learn* l = m.mutable_learn();
    *l->mutable_ballot() = BallotNear(in_.Bool() ? m.from() : kSelf);
    Entries(l->mutable_entries(), m.from());
    l->set_chosen_through(SlotNear());
    return m;
  }

  pb::PaxosMessage SnapshotMsg() {
    pb::PaxosMessage m = Envelope();
    pb::InstallSnapshot* s = m.mutable_install_snapshot();
    *s->mutable_ballot() = BallotNear(in_.Bool() ? m.from() : kSelf);
    s->set_last_slot(SlotNear());
    s->set_data(std::string(in_.Bytes(16)));
    s->set_last_chunk(true);
    return m;
  }

  // The fuzzer answers one of the messages the node sent (a byte counts back from the latest)
  // as that peer would, or would not: a byte picks ok or reject, others which slots it reports.
  void Reply() {
    if (outbox_.empty()) return;
    const pb::PaxosMessage sent = outbox_[outbox_.size() - 1 - in_.Byte() % outbox_.size()];
    pb::PaxosMessage m;
    m.set_from(sent.to());
    m.set_to(kSelf);
    const bool ok = in_.Byte() % 4 != 0;
    switch (sent.body_case()) {
      case pb::PaxosMessage::kPrepare: {   // our campaign: a promise
        pb::Promise* p = m.mutable_promise();
        *p->mutable_ballot() = sent.prepare().ballot();
        p->set_ok(ok);
        if (ok) {
          *p->mutable_promised() = sent.prepare().ballot();
          Entries(p->mutable_accepted(), m.from());
          p->set_chosen_through(in_.Bool() ? 0 : SlotNear());
        } else {
          *p->mutable_promised() = paxos::MakeBallot(
              sent.prepare().ballot().round() + in_.Byte() % 3, m.from());
        }
        break;
      }
      case pb::PaxosMessage::kAccept: {    // our proposals or heartbeat: accepted
        const pb::Accept& accept = sent.accept();
        pb::Accepted* a = m.mutable_accepted();
        *a->mutable_ballot() = accept.ballot();
        a->set_ok(ok);
        if (ok) {
          *a->mutable_promised() = accept.ballot();
          const uint8_t mask = in_.Byte();
          for (int i = 0; i < accept.entries_size(); ++i) {
            if (!(mask >> (i % 8) & 1)) a->add_slots(accept.entries(i).slot());
          }
        } else {
          *a->mutable_promised() =
              paxos::MakeBallot(accept.ballot().round() + in_.Byte() % 3, m.from());
        }
        a->set_chosen_through(in_.Bool() ? accept.chosen_through() : SlotNear());
        a->set_heartbeat_id(accept.heartbeat_id());
        break;
      }
      case pb::PaxosMessage::kPromise: {   // we promised this peer: it leads, sends Accepts
        const pb::Promise& promise = sent.promise();
        if (!promise.ok()) return;
        pb::Accept* a = m.mutable_accept();
        *a->mutable_ballot() = promise.ballot();
        for (const pb::Entry& e : promise.accepted()) {
          pb::Entry* again = a->add_entries();
          again->set_slot(e.slot());
          *again->mutable_value() = e.value();
        }
        if (ok) {
          pb::Entry* fresh = a->add_entries();
          fresh->set_slot(std::max(promise.chosen_through(), node_->status().chosen_through) +
                          1 + in_.Byte() % 3);
          *fresh->mutable_value() = Value();
        }
        a->set_chosen_through(in_.Bool() ? promise.chosen_through() : SlotNear());
        a->set_heartbeat_id(in_.Byte());
        break;
      }
      case pb::PaxosMessage::kAccepted: {  // we accepted this leader's slots: they are chosen
        const pb::Accepted& accepted = sent.accepted();
        if (!accepted.ok()) return;
        pb::Accept* a = m.mutable_accept();
        *a->mutable_ballot() = accepted.ballot();
        SlotId through = accepted.chosen_through();
        for (uint64_t slot : accepted.slots()) through = std::max<SlotId>(through, slot);
        a->set_chosen_through(ok ? through : SlotNear());
        a->set_heartbeat_id(in_.Byte());
        break;
      }
      case pb::PaxosMessage::kLearn:
      case pb::PaxosMessage::kInstallSnapshot:
      case pb::PaxosMessage::kTimeoutNow:
      case pb::PaxosMessage::BODY_NOT_SET:
        return;   // nothing to answer
    }
    Deliver(m);
  }

  void ProposeOne() {
    const absl::Status status = node_->Propose(Command());
    FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kFailedPrecondition ||
                   status.code() == absl::StatusCode::kResourceExhausted,
               "Propose returned %s", status.ToString().c_str());
  }

  FuzzInput& in_;
  NodeConfig config_;
  std::unique_ptr<Node> node_;
  // What the driver made durable (node.h Ready, steps 1 and 3, and Compact).
  paxos::DurableState durable_;   // its `entries` stay empty: durable_entries_ holds them
  std::map<SlotId, pb::Entry> durable_entries_;
  SlotId applied_ = 0;
  SlotId reported_chosen_through_ = 0;
  std::map<SlotId, std::string> applied_values_;   // serialized Value of every applied slot
  std::map<SlotId, pb::Membership> applied_memberships_;  // by the slot that carried them
  std::deque<pb::PaxosMessage> outbox_;
  std::set<uint64_t> reads_asked_;
  uint64_t next_read_id_ = 1;
  bool heavy_ = false;   // see Drain
  std::string last_step_ = "-";   // PAXOSKV_FUZZ_TRACE only
};

}  // namespace

int FuzzPaxosNode(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  Harness harness(in);
  harness.Run();
  return 0;
}

}  // namespace paxoskv::fuzz
