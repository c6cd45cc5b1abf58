// Helpers for the unit tests of libs/paxos: build nodes and wire messages, and pick messages
// out of a Ready. Not thread-safe (test-only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "libs/common/logging.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/invariants.h"
#include "libs/paxos/node.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos::testing {

namespace pb = ::paxoskv::v1;

// Node `id`'s data-directory incarnation in these tests.
inline uint64_t Inc(uint32_t id) { return 0x100 + id; }

// Members 1..n, every one a voter known by Inc(id): a shard whose founding entry is behind it.
inline pb::Membership PinnedMembership(int members) {
  pb::Membership m;
  for (int i = 1; i <= members; ++i) {
    pb::Member* member = m.add_members();
    member->set_id(static_cast<uint32_t>(i));
    member->set_incarnation(Inc(static_cast<uint32_t>(i)));
  }
  return m;
}

inline NodeConfig Config(uint32_t id, int members = 3) {
  NodeConfig c;
  c.id = static_cast<NodeId>(id);
  c.incarnation = Inc(id);
  for (int i = 1; i <= members; ++i) c.members.push_back(static_cast<NodeId>(i));
  c.election_timeout_ticks = 10;
  c.heartbeat_ticks = 1;
  c.retransmit_ticks = 4;
  c.logger = NullLogger();
  return c;
}

// A node of a shard past its founding (PinnedMembership of c.members) unless `d` records a
// membership.
inline std::unique_ptr<Node> MakeNode(const NodeConfig& c, DurableState d = {}) {
  if (d.membership.members_size() == 0) {
    d.membership = PinnedMembership(static_cast<int>(c.members.size()));
  }
  auto node = Node::Restore(c, d);
  EXPECT_TRUE(node.ok()) << node.status();
  return std::move(node).value();
}

inline std::unique_ptr<Node> MakeNode(uint32_t id) { return MakeNode(Config(id)); }

inline pb::Command Cmd(uint64_t client, uint64_t seq, const std::string& value = "v") {
  pb::Command c;
  c.set_client_id(client);
  c.set_seq(seq);
  c.set_op(pb::OP_PUT);
  c.set_key("k");
  c.set_value(value);
  return c;
}

inline pb::Value Val(const std::string& value) {
  pb::Value v;
  *v.add_commands() = Cmd(1, 1, value);
  return v;
}

inline pb::Entry Ent(uint64_t slot, pb::Ballot b, const pb::Value& v) {
  pb::Entry e;
  e.set_slot(slot);
  *e.mutable_ballot() = b;
  *e.mutable_value() = v;
  return e;
}

inline pb::PaxosMessage Envelope(uint32_t from, uint32_t to) {
  pb::PaxosMessage m;
  m.set_from(from);
  m.set_to(to);
  m.set_from_incarnation(Inc(from));
  m.set_to_incarnation(Inc(to));
  return m;
}

inline pb::PaxosMessage PrepareMsg(uint32_t from, uint32_t to, pb::Ballot b, uint64_t from_slot) {
  pb::PaxosMessage m = Envelope(from, to);
  *m.mutable_prepare()->mutable_ballot() = b;
  m.mutable_prepare()->set_from_slot(from_slot);
  return m;
}

inline pb::PaxosMessage AcceptMsg(uint32_t from, uint32_t to, pb::Ballot b,
                                  std::vector<pb::Entry> entries, uint64_t chosen_through = 0,
                                  uint64_t heartbeat_id = 0) {
  pb::PaxosMessage m = Envelope(from, to);
  pb::Accept* a = m.mutable_accept();
  *a->mutable_ballot() = b;
  for (auto& e : entries) *a->add_entries() = e;
  a->set_chosen_through(chosen_through);
  a->set_heartbeat_id(heartbeat_id);
  return m;
}

inline pb::PaxosMessage PromiseMsg(uint32_t from, uint32_t to, pb::Ballot b,
                                   std::vector<pb::Entry> accepted, uint64_t chosen_through = 0) {
  pb::PaxosMessage m = Envelope(from, to);
  pb::Promise* p = m.mutable_promise();
  *p->mutable_ballot() = b;
  p->set_ok(true);
  *p->mutable_promised() = b;
  for (auto& e : accepted) *p->add_accepted() = e;
  p->set_chosen_through(chosen_through);
  return m;
}

inline pb::PaxosMessage AcceptedMsg(uint32_t from, uint32_t to, pb::Ballot b,
                                    std::vector<uint64_t> slots, uint64_t chosen_through = 0,
                                    uint64_t heartbeat_id = 0) {
  pb::PaxosMessage m = Envelope(from, to);
  pb::Accepted* a = m.mutable_accepted();
  *a->mutable_ballot() = b;
  a->set_ok(true);
  *a->mutable_promised() = b;
  for (uint64_t s : slots) a->add_slots(s);
  a->set_chosen_through(chosen_through);
  a->set_heartbeat_id(heartbeat_id);
  return m;
}

inline pb::PaxosMessage LearnMsg(uint32_t from, uint32_t to, pb::Ballot b,
                                 std::vector<pb::Entry> entries, uint64_t chosen_through) {
  pb::PaxosMessage m = Envelope(from, to);
  *m.mutable_learn()->mutable_ballot() = b;
  for (auto& e : entries) *m.mutable_learn()->add_entries() = e;
  m.mutable_learn()->set_chosen_through(chosen_through);
  return m;
}

// Messages of one body type in a Ready (`messages`, then the early `proposals`),
// optionally only those addressed to `to`.
inline std::vector<pb::PaxosMessage> Of(const Ready& r, pb::PaxosMessage::BodyCase body,
                                        uint32_t to = 0) {
  std::vector<pb::PaxosMessage> out;
  for (const auto* list : {&r.messages, &r.proposals}) {
    for (const auto& m : *list) {
      if (m.body_case() == body && (to == 0 || m.to() == to)) out.push_back(m);
    }
  }
  return out;
}

// Makes node `id` leader at a fresh ballot with empty promises from every peer; returns its
// ballot. The Ready produced on the way is discarded.
inline pb::Ballot ElectWithEmptyPromises(Node& node, uint32_t id, int members = 3) {
  node.Campaign();
  node.Tick();
  Ready r = node.TakeReady();
  auto prepares = Of(r, pb::PaxosMessage::kPrepare);
  EXPECT_EQ(prepares.size(), static_cast<size_t>(members - 1));
  pb::Ballot b = prepares.at(0).prepare().ballot();
  for (uint32_t peer = 1; peer <= static_cast<uint32_t>(members); ++peer) {
    if (peer == id) continue;
    EXPECT_TRUE(node.Step(PromiseMsg(peer, id, b, {})).ok());
  }
  EXPECT_EQ(node.status().role, Role::kLeader);
  node.TakeReady();
  return b;
}

// What a refused message must leave alone.
struct Observed {
  uint64_t promised_round;
  uint32_t promised_node;
  SlotId chosen_through;
  SlotId applied_through;
  Role role;
};
inline Observed Observe(const Node& node) {
  Status s = node.status();
  return {s.ballot.round(), s.ballot.node_id(), s.chosen_through, s.applied_through, s.role};
}
inline void ExpectUnchanged(const Observed& before, Node& node) {
  Observed after = Observe(node);
  EXPECT_EQ(after.promised_round, before.promised_round);
  EXPECT_EQ(after.promised_node, before.promised_node);
  EXPECT_EQ(after.chosen_through, before.chosen_through);
  EXPECT_EQ(after.applied_through, before.applied_through);
  EXPECT_EQ(after.role, before.role);
  EXPECT_FALSE(node.HasReady());
}

}  // namespace paxoskv::paxos::testing
