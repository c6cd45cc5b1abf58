// Goal (the hardening issue's "Done when"): messages that used to break a shard are refused
// by a real 3-replica group under load, the group keeps serving, and every key reads back:
//   - Paxos/InstallSnapshot of an empty state at slot 1,000,000 (it emptied all three
//     replicas within a second at ebb748f), at a stale ballot, a higher one and the leader's;
//   - Paxos/Prepare at round 2^64-1 (it left the shard without a leader for good);
//   - Paxos/Accept of an entry at slot 4,000,000,000 (a leader recovering it would fill 4e9
//     holes);
//   - Paxos/Learn of another value for a slot already chosen;
//   - an OP_FREEZE_RANGES of the whole ring through Replica/Execute (it fenced the shard's
//     keyspace for good).
// Method: the real binaries (one shard, a master); 4 clients through the master record a
// history; each message goes to every replica, as an outsider would send it with grpcurl;
// then the history must be linearizable with no failed operation, every replica must have
// counted its refusals, and every key must read back.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_status.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

namespace pb = ::paxoskv::v1;

pb::Ballot MakeBallot(uint64_t round, uint32_t node) {
  pb::Ballot b;
  b.set_round(round);
  b.set_node_id(node);
  return b;
}

class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartShard(1).ok());
    ASSERT_TRUE(cluster_.WaitForLeader(1).ok());
    ASSERT_TRUE(cluster_.StartMaster({1}).ok());
  }

  // Sends one message with the body's own RPC, as grpcurl would; returns the status.
  absl::Status SendPaxos(const std::string& address, const pb::PaxosMessage& m) {
    auto stub = pb::Paxos::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::Ack ack;
    grpc::Status status;
    switch (m.body_case()) {
      case pb::PaxosMessage::kPrepare:
        status = stub->Prepare(&context, m, &ack);
        break;
      case pb::PaxosMessage::kAccept:
        status = stub->Accept(&context, m, &ack);
        break;
      case pb::PaxosMessage::kLearn:
        status = stub->Learn(&context, m, &ack);
        break;
      case pb::PaxosMessage::kInstallSnapshot:
        status = stub->InstallSnapshot(&context, m, &ack);
        break;
      default:
        return absl::InternalError("unexpected body");
    }
    return FromGrpcStatus(status, &context);
  }

  // Each replica's id (1-based index in ShardAddresses) and status.
  pb::ReplicaStatus Status(int replica) {
    auto status = cluster_.ReplicaStatus(cluster_.Replica(1, replica));
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : pb::ReplicaStatus();
  }

  ProcessCluster cluster_;
};

TEST_F(HostilePeerTest, HostileMessagesAreRefusedAndTheShardKeepsServing) {
  const std::vector<std::string> keys = MakeKeys("hostile-", 12);
  HistoryLoad load(cluster_.master_address(), {.clients = 4, .keys = keys});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(200, absl::Seconds(60)));
  const std::vector<std::string> addresses = cluster_.ShardAddresses(1);

  for (int r = 1; r <= 3; ++r) {
    SCOPED_TRACE(absl::StrCat("replica ", r));
    const std::string& address = addresses[static_cast<size_t>(r - 1)];
    const pb::ReplicaStatus before = Status(r);
    const uint32_t leader = before.leader_id();
    ASSERT_NE(leader, 0u);
    const uint32_t other = r == 1 ? 2 : 1;   // a member id that is not the receiver
    const pb::Ballot leader_ballot = MakeBallot(before.ballot_round(), leader);
    // The hostile peer passes for a member: its id and its data directory's incarnation
    // (until peers authenticate, issue 13, both are only claims). Without the incarnation
    // the membership the shard recorded at its founding refuses it first.
    std::map<uint32_t, uint64_t> incarnations;
    for (uint32_t id = 1; id <= 3; ++id)
      incarnations[id] = Status(static_cast<int>(id)).incarnation();
    auto envelope = [&](uint32_t from) {
      pb::PaxosMessage m;
      m.set_from(from);
      m.set_to(static_cast<uint32_t>(r));
      m.set_shard_id(1);
      m.set_from_incarnation(incarnations[from]);
      return m;
    };
    pb::PaxosMessage anonymous = envelope(other);
    anonymous.set_from_incarnation(0);
    *anonymous.mutable_prepare()->mutable_ballot() = MakeBallot(before.ballot_round() + 1, other);
    anonymous.mutable_prepare()->set_from_slot(1);
    EXPECT_EQ(SendPaxos(address, anonymous).code(), absl::StatusCode::kFailedPrecondition);

    // InstallSnapshot of an empty state at slot 1,000,000, at any ballot.
    for (const pb::Ballot& ballot :
         {MakeBallot(1, other), MakeBallot(before.ballot_round() + 1, other), leader_ballot}) {
      const uint32_t from = ballot.node_id();
      if (from == static_cast<uint32_t>(r)) continue;   // a replica's own id is refused anyway
      pb::PaxosMessage m = envelope(from);
      *m.mutable_install_snapshot()->mutable_ballot() = ballot;
      m.mutable_install_snapshot()->set_last_slot(1'000'000);
      m.mutable_install_snapshot()->set_last_chunk(true);
      absl::Status status = SendPaxos(address, m);
      EXPECT_FALSE(status.ok()) << "InstallSnapshot at ballot " << ballot.ShortDebugString();
    }

    // Prepare at round 2^64-1.
    pb::PaxosMessage prepare = envelope(other);
    *prepare.mutable_prepare()->mutable_ballot() = MakeBallot(UINT64_MAX, other);
    prepare.mutable_prepare()->set_from_slot(1);
    EXPECT_EQ(SendPaxos(address, prepare).code(), absl::StatusCode::kInvalidArgument);

    // Accept of slot 4,000,000,000 at the leader's own ballot, claiming to be the leader.
    if (static_cast<uint32_t>(r) != leader) {
      pb::PaxosMessage accept = envelope(leader);
      *accept.mutable_accept()->mutable_ballot() = leader_ballot;
      pb::Entry* entry = accept.mutable_accept()->add_entries();
      entry->set_slot(4'000'000'000);
      pb::Command* evil = entry->mutable_value()->add_commands();
      evil->set_op(pb::OP_PUT);
      evil->set_key(keys[0]);
      evil->set_value("evil");
      accept.mutable_accept()->set_chosen_through(4'000'000'000);
      EXPECT_EQ(SendPaxos(address, accept).code(), absl::StatusCode::kInvalidArgument);

      // Learn of another value for slot 1, which is chosen (the load wrote hundreds since).
      pb::PaxosMessage learn = envelope(leader);
      *learn.mutable_learn()->mutable_ballot() = leader_ballot;
      pb::Entry* chosen = learn.mutable_learn()->add_entries();
      chosen->set_slot(1);
      *chosen->mutable_value()->add_commands() = *evil;
      learn.mutable_learn()->set_chosen_through(1);
      EXPECT_FALSE(SendPaxos(address, learn).ok());
    }

    // A fence of the whole ring through the public Replica/Execute.
    {
      auto stub = pb::Replica::NewStub(
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      pb::Command freeze;
      freeze.set_op(pb::OP_FREEZE_RANGES);
      freeze.set_freeze_id(1);
      freeze.add_freeze_ranges();
      pb::CommandResult result;
      const grpc::Status status = stub->Execute(&context, freeze, &result);
      const absl::StatusCode code = FromGrpcStatus(status, &context).code();
      // The leader refuses it; a follower answers with the leader hint before looking.
      EXPECT_TRUE(code == absl::StatusCode::kInvalidArgument ||
                  code == absl::StatusCode::kFailedPrecondition)
          << status.error_message();
    }

    const pb::ReplicaStatus after = Status(r);
    EXPECT_GT(after.refused_messages(), before.refused_messages());
    EXPECT_EQ(after.snapshot_slot(), before.snapshot_slot());   // nothing was installed
  }

  // The group kept serving throughout: more operations completed, none failed.
  const int64_t done = load.completed();
  ASSERT_TRUE(load.WaitForOps(done + 200, absl::Seconds(60)));
  load.Stop();
  EXPECT_TRUE(load.failures().empty()) << lincheck::Describe(load.failures().front());
  // The leader still leads at a sane round, and every key reads back.
  auto leader = cluster_.WaitForLeader(1);
  ASSERT_TRUE(leader.ok()) << leader.status();
  for (int r = 1; r <= 3; ++r) EXPECT_LT(Status(r).ballot_round(), 1000u);
  std::vector<lincheck::Operation> history = load.history();
  FinalReads(cluster_.master_address(), keys, &history);
  ExpectLinearizable(history);
}

}  // namespace
}  // namespace paxoskv::testing
