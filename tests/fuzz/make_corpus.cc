// Writes the seed corpus of the fuzz targets: a handful of small meaningful inputs each, so
// that libFuzzer starts from an elected leader choosing slots, a follower learning and
// installing a snapshot, real snapshots and every kind of command rather than from nothing.
// Run by hand after changing an input format, then commit the result:
//   build/bin/fuzz_make_corpus tests/fuzz/corpus
// Deterministic: the same build writes the same bytes.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "libs/kv/kv_state_machine.h"
#include "paxoskv/v1/command.pb.h"
#include "paxoskv/v1/paxos.pb.h"
#include "tests/fuzz/fuzz_targets.h"

namespace paxoskv::fuzz {
namespace {

namespace fs = std::filesystem;
namespace pb = ::paxoskv::v1;

// Bytes in the formats FuzzInput reads.
class Writer {
 public:
  Writer& Byte(uint8_t b) {
    out_.push_back(static_cast<char>(b));
    return *this;
  }
  Writer& U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Writer& Bytes(std::string_view s) {   // FuzzInput::Bytes: a length byte, 255 = two more
    if (s.size() < 255) {
      Byte(static_cast<uint8_t>(s.size()));
    } else {
      Byte(255).Byte(static_cast<uint8_t>(s.size())).Byte(static_cast<uint8_t>(s.size() >> 8));
    }
    out_.append(s);
    return *this;
  }
  Writer& Op(PaxosNodeOp op) { return Byte(op); }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

void Save(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  std::printf("%s (%zu bytes)\n", (dir / name).c_str(), bytes.size());
}

// ---- paxos_node ------------------------------------------------------------------------------
// Byte values used below (paxos_node_fuzz.cc decodes them): sender 0 = node 2, `to` 0 = us;
// ballot kind 0 = the promised round at the sender's id, 2 = one round above; slot kind
// 0x18 = chosen_through + 1, 0x38 = chosen_through + 5; command kind 0xC1 = PUT of key "a"
// with a value and a client id and seq.

Writer& PutCommand(Writer& w, std::string_view value, uint8_t client, uint8_t seq) {
  return w.Byte(0xC1).Bytes(value).Byte(client).Byte(seq);
}

// Campaign, win with one promise, choose two slots, a read, compaction and a restart.
std::string LeaderChooses() {
  Writer w;
  w.Byte(0).Byte(1);
  w.Op(kCampaign);
  w.Op(kReply).Byte(0).Byte(1).Byte(0).Byte(1);    // promise from 3, no entries
  PutCommand(w.Op(kPropose), "v1", 1, 1);
  w.Op(kReply).Byte(0).Byte(1).Byte(0).Byte(1);    // accepted from 3: slot 1 chosen
  PutCommand(w.Op(kPropose), "v2", 1, 2);
  w.Op(kReply).Byte(1).Byte(1).Byte(0).Byte(1);    // accepted from 2: slot 2 chosen
  w.Op(kReadIndex);
  w.Op(kReply).Byte(0).Byte(1).Byte(0).Byte(1);    // heartbeat echoed: read confirmed
  w.Op(kTick).Byte(3);
  w.Op(kCompact).Byte(0);
  w.Op(kRestart);
  w.Op(kTick).Byte(7).Op(kTick).Byte(7).Op(kTick).Byte(7);
  return w.str();
}

// Promise leader 2, accept and learn its slots, then install its snapshot.
std::string FollowerLearns() {
  Writer w;
  w.Byte(0).Byte(2);
  w.Op(kPrepare).Byte(0).Byte(0).Byte(2).Byte(0x18);   // prepare (round+1, 2)
  w.Op(kReply).Byte(0).Byte(1).Byte(0);                 // leader 2 accepts slot 1 ...
  PutCommand(w.Byte(1), "x", 2, 1).Byte(1).Byte(1);     // ... one command; chosen 0; hb 1
  w.Op(kReply).Byte(0).Byte(1).Byte(2);                 // ... then says slot 1 is chosen
  w.Op(kLearn).Byte(0).Byte(0).Byte(1).Byte(0);         // learn at (promised, 2):
  w.Byte(1).Byte(0x18).Byte(0).Byte(0);                 //   slot 2, a no-op
  w.Byte(0x18);                                         //   chosen_through 2
  w.Op(kAccept).Byte(0).Byte(0).Byte(0).Byte(0).Byte(0x38).Byte(3);   // vouches for 7
  w.Op(kInstallSnapshot).Byte(0).Byte(0).Byte(1).Byte(0).Byte(0x38).Bytes("");
  w.Op(kTick).Byte(7).Op(kTick).Byte(7).Op(kTick).Byte(7);
  w.Op(kRestart);
  return w.str();
}

// Messages the core must refuse: a maximal round, a slot far beyond the window, an unknown
// sender, a Learn from a non-leader, a snapshot nobody vouched for.
std::string HostileMessages() {
  Writer w;
  w.Byte(0x7f).Byte(3);
  w.Op(kPrepare).Byte(0).Byte(0).Byte(7).U64(~uint64_t{0}).Byte(0);
  // An Accept at (1, 2) of slot 2^16 + 1: beyond the window (limits.h kSlotWindow).
  w.Op(kAccept).Byte(0).Byte(0).Byte(2).Byte(1).Byte(0xfe).Byte(0).Byte(0).Byte(0).Byte(0);
  w.Op(kAccept).Byte(0x85).Byte(0).Byte(0).Byte(0).Byte(0).Byte(0);
  w.Op(kLearn).Byte(1).Byte(0).Byte(0).Byte(0x42).Byte(3).Byte(0).Byte(0x18);
  w.Op(kInstallSnapshot).Byte(0).Byte(0).Byte(1).Byte(0).Byte(0x38).Bytes("data");
  w.Op(kPromise).Byte(1).Byte(0).Byte(0).Byte(1).Byte(0).Byte(0x10);
  w.Op(kAccepted).Byte(0).Byte(0).Byte(0).Byte(0).Byte(0).Byte(0).Byte(0x10).Byte(0);
  return w.str();
}

// Real PaxosMessages as raw bytes (kRawMessage), one per body type.
std::string RawMessages() {
  Writer w;
  w.Byte(0).Byte(4);
  auto raw = [&w](const pb::PaxosMessage& m) { w.Op(kRawMessage).Bytes(m.SerializeAsString()).Byte(1); };
  pb::PaxosMessage m;
  m.set_from(2);
  m.set_to(1);
  pb::Ballot b;
  b.set_round(1);
  b.set_node_id(2);
  *m.mutable_prepare()->mutable_ballot() = b;
  m.mutable_prepare()->set_from_slot(1);
  raw(m);
  pb::Accept* a = m.mutable_accept();
  *a->mutable_ballot() = b;
  pb::Entry* e = a->add_entries();
  e->set_slot(1);
  pb::Command* c = e->mutable_value()->add_commands();
  c->set_op(pb::OP_PUT);
  c->set_key("k");
  c->set_value("v");
  a->set_chosen_through(1);
  raw(m);
  pb::Learn* l = m.mutable_learn();
  *l->mutable_ballot() = b;
  l->set_chosen_through(1);
  raw(m);
  m.set_from(3);
  m.mutable_accepted()->mutable_ballot()->set_round(2);
  m.mutable_accepted()->mutable_ballot()->set_node_id(1);
  m.mutable_accepted()->set_ok(true);
  m.mutable_accepted()->add_slots(1);
  raw(m);
  return w.str();
}

// ---- kv_snapshot -----------------------------------------------------------------------------

pb::Command Put(uint64_t client, uint64_t seq, std::string key, std::string value) {
  pb::Command c;
  c.set_client_id(client);
  c.set_seq(seq);
  c.set_op(pb::OP_PUT);
  c.set_key(std::move(key));
  c.set_value(std::move(value));
  c.set_proposed_ms(1000 * seq);
  return c;
}

// A chunk byte (FuzzKvSnapshot: chunk_bytes = 1 + 4 * it) then the machine's snapshot chunks.
std::string SnapshotInput(const kv::KvStateMachine& machine, size_t chunk_bytes) {
  Writer w;
  w.Byte(static_cast<uint8_t>((chunk_bytes - 1) / 4));
  const absl::Status status = machine.WriteSnapshot(chunk_bytes, [&](std::string_view chunk) {
    w.Bytes(chunk);
    return absl::OkStatus();
  });
  if (!status.ok()) std::abort();
  return w.str();
}

kv::KvStateMachine KeysOnly() {
  kv::KvStateMachine m;
  SlotId slot = 1;
  for (const char* key : {"apple", "banana", "cherry", "date"}) {
    m.Apply(slot++, Put(0, 0, key, std::string("value of ") + key));
  }
  m.Apply(slot++, Put(0, 0, "empty", ""));
  return m;
}

// Keys, two clients' dedup windows with sessions, and a fence.
kv::KvStateMachine Everything() {
  kv::KvStateMachine m;
  SlotId slot = 1;
  m.Apply(slot++, Put(7, 1, "k1", "v1"));
  m.Apply(slot++, Put(7, 2, "k2", "v2"));
  m.Apply(slot++, Put(9, 1, "k3", "v3"));
  pb::Command get;
  get.set_client_id(9);
  get.set_seq(2);
  get.set_op(pb::OP_GET);
  get.set_key("missing");
  get.set_proposed_ms(5000);
  m.Apply(slot++, get);
  pb::Command freeze;
  freeze.set_op(pb::OP_FREEZE_RANGES);
  freeze.set_freeze_id(42);
  freeze.add_freeze_ranges()->set_begin(1ull << 63);
  freeze.mutable_freeze_ranges(0)->set_end(1ull << 62);   // wraps around
  m.Apply(slot++, freeze);
  return m;
}

// ---- command ---------------------------------------------------------------------------------

// A knob byte (FuzzCommand), then each command's bytes.
std::string Commands(uint8_t knobs, const std::vector<pb::Command>& commands) {
  Writer w;
  w.Byte(knobs);
  for (const pb::Command& c : commands) w.Bytes(c.SerializeAsString());
  return w.str();
}

pb::Command Op(pb::Op op, uint64_t client, uint64_t seq, std::string key) {
  pb::Command c;
  c.set_op(op);
  c.set_client_id(client);
  c.set_seq(seq);
  c.set_key(std::move(key));
  c.set_proposed_ms(100 * seq);
  return c;
}

void WriteAll(const fs::path& root) {
  const fs::path paxos = root / "paxos_node";
  Save(paxos, "leader_chooses", LeaderChooses());
  Save(paxos, "follower_learns", FollowerLearns());
  Save(paxos, "hostile_messages", HostileMessages());
  Save(paxos, "raw_messages", RawMessages());

  const fs::path snapshot = root / "kv_snapshot";
  Save(snapshot, "empty", std::string(1, '\0'));
  Save(snapshot, "keys_one_chunk", SnapshotInput(KeysOnly(), 1021));
  Save(snapshot, "keys_small_chunks", SnapshotInput(KeysOnly(), 5));
  Save(snapshot, "dedup_sessions_fence", SnapshotInput(Everything(), 61));
  {
    // A fence from before freeze ids (KvSnapshot field 3, read only).
    pb::HashRange range;
    range.set_begin(10);
    range.set_end(20);
    Writer w;
    w.Byte(0).Bytes(std::string("\x1a") + static_cast<char>(range.ByteSizeLong()) +
                    range.SerializeAsString());
    Save(snapshot, "legacy_fence", w.str());
  }

  const fs::path command = root / "command";
  Save(command, "put_get_delete",
       Commands(6, {Put(1, 1, "a", "x"), Op(pb::OP_GET, 1, 2, "a"), Op(pb::OP_DELETE, 1, 3, "a"),
                    Op(pb::OP_GET, 0, 0, "a"), Put(1, 1, "a", "other")}));
  {
    pb::Command scan;
    scan.set_op(pb::OP_SCAN_RANGE);
    scan.mutable_range()->set_begin(0);
    scan.mutable_range()->set_end(0);
    scan.set_scan_limit(2);
    pb::Command more = scan;
    more.set_scan_started(true);
    more.set_scan_after_key("b");
    pb::Command import;
    import.set_op(pb::OP_IMPORT);
    pb::KeyValue* kv = import.add_import_entries();
    kv->set_key("imported");
    kv->set_value("y");
    pb::DedupClient* client = import.add_import_dedup();
    client->set_client_id(5);
    client->set_forgotten_below(3);
    client->add_entries()->set_seq(4);
    import.mutable_import_sessions()->set_now_ms(777);
    pb::Command del;
    del.set_op(pb::OP_DELETE_KEYS);
    del.add_keys("a");
    del.add_keys("imported");
    Save(command, "migration_ops",
         Commands(2, {Put(0, 0, "a", "1"), Put(0, 0, "b", "2"), Put(0, 0, "c", "3"), scan, more,
                      import, del}));
  }
  {
    pb::Command freeze;
    freeze.set_op(pb::OP_FREEZE_RANGES);
    freeze.set_freeze_id(1);
    freeze.add_freeze_ranges();   // begin == end: the whole ring
    pb::Command unfreeze;
    unfreeze.set_op(pb::OP_UNFREEZE_RANGES);
    unfreeze.set_freeze_id(1);
    Save(command, "fence",
         Commands(4, {Put(3, 1, "a", "1"), freeze, Put(3, 2, "a", "2"), unfreeze,
                      Put(3, 3, "a", "3")}));
  }
  {
    // Change tracking (a migration's pre-copy): writes recorded, a changed scan, an import
    // that deletes, the stop. Snapshotted after 3 commands, so the record travels.
    pb::Command track;
    track.set_op(pb::OP_TRACK_CHANGES);
    track.set_freeze_id(2);
    track.add_freeze_ranges();  // the whole ring
    pb::Command changed;
    changed.set_op(pb::OP_SCAN_RANGE);
    changed.mutable_range();  // begin == end: the whole ring
    changed.set_scan_limit(2);
    changed.set_scan_changed(true);
    changed.set_freeze_id(2);
    pb::Command import;
    import.set_op(pb::OP_IMPORT);
    import.add_keys("b");
    pb::Command stop = track;
    stop.set_track_stop(true);
    Save(command, "track_changes",
         Commands(6, {Put(0, 0, "a", "1"), track, Put(0, 0, "b", "2"), Op(pb::OP_DELETE, 0, 0, "a"),
                      changed, import, stop, changed}));
  }
  {
    // Tiny limits (knob bit 0): windows trimmed, sessions evicted as proposed_ms advances.
    std::vector<pb::Command> commands;
    for (uint64_t client = 1; client <= 4; ++client) {
      for (uint64_t seq = 1; seq <= 3; ++seq) {
        pb::Command c = Put(client, seq, "k" + std::to_string(client), "v");
        c.set_proposed_ms(client * 200 + seq);
        c.set_ack_below(seq == 3 ? 2 : 0);
        commands.push_back(c);
      }
    }
    Save(command, "sessions_tiny_limits", Commands(1, commands));
  }
  {
    pb::Command no_seq = Op(pb::OP_PUT, 4, 0, "a");
    pb::Command ack_above = Op(pb::OP_GET, 4, 2, "a");
    ack_above.set_ack_below(3);
    pb::Command unknown_op = Op(static_cast<pb::Op>(99), 0, 0, "a");
    Save(command, "invalid", Commands(0, {no_seq, ack_above, unknown_op, Op(pb::OP_GET, 0, 0, ""),
                                          Op(pb::OP_UNSPECIFIED, 0, 0, "a")}));
  }
}

}  // namespace
}  // namespace paxoskv::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  paxoskv::fuzz::WriteAll(argv[1]);
  return 0;
}
