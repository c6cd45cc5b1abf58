// Goal: the peer transport keeps at most one InstallSnapshot per peer on its way and says so
// (ReplicaLoop then neither loads nor sends another copy of a large snapshot), while other
// messages flow meanwhile.
// Method: a real PeerTransport sends to an in-process Paxos server whose InstallSnapshot
// handler blocks until the test releases it.
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "services/replica/transport.h"

namespace paxoskv::replica {
namespace {

using paxoskv::v1::Ack;
using paxoskv::v1::PaxosMessage;

// Counts calls; InstallSnapshot waits (in the handler) until Release().
class BlockingPaxos final : public paxoskv::v1::Paxos::Service {
 public:
  grpc::Status InstallSnapshot(grpc::ServerContext*, const PaxosMessage*, Ack*) override {
    absl::MutexLock lock(&mu_);
    ++snapshots_;
    mu_.Await(absl::Condition(&released_));
    return grpc::Status::OK;
  }
  grpc::Status Accept(grpc::ServerContext*, const PaxosMessage*, Ack*) override {
    absl::MutexLock lock(&mu_);
    ++accepts_;
    return grpc::Status::OK;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  bool AwaitCalls(int snapshots, int accepts, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return snapshots_ >= snapshots && accepts_ >= accepts;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  int snapshots() {
    absl::MutexLock lock(&mu_);
    return snapshots_;
  }

 private:
  absl::Mutex mu_;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  int snapshots_ ABSL_GUARDED_BY(mu_) = 0;
  int accepts_ ABSL_GUARDED_BY(mu_) = 0;
};

PaxosMessage Snapshot(uint32_t to) {
  PaxosMessage message;
  message.set_to(to);
  message.mutable_install_snapshot()->set_last_slot(100);
  message.mutable_install_snapshot()->set_data(std::string(1 << 20, 'x'));
  return message;
}

PaxosMessage Accept(uint32_t to) {
  PaxosMessage message;
  message.set_to(to);
  message.mutable_accept()->mutable_ballot()->set_round(1);
  return message;
}

TEST(PeerTransportTest, OneSnapshotPerPeerInFlightAndOthersFlow) {
  BlockingPaxos service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  {
    PeerTransport transport({{2, absl::StrCat("127.0.0.1:", port)}},
                            TransportOptions{.shard_id = 1}, GetLogger("test transport"));
    // Whatever happens below, the blocked call ends before the transport goes away.
    absl::Cleanup release = [&service] { service.Release(); };
    EXPECT_FALSE(transport.SnapshotInFlight(2));
    EXPECT_FALSE(transport.SnapshotInFlight(3));   // not a peer

    transport.Send(Snapshot(2));
    EXPECT_TRUE(transport.SnapshotInFlight(2));
    ASSERT_TRUE(service.AwaitCalls(1, 0, absl::Seconds(10)));
    // Other messages are not held up by the snapshot on its way.
    transport.Send(Accept(2));
    ASSERT_TRUE(service.AwaitCalls(1, 1, absl::Seconds(10)));
    EXPECT_TRUE(transport.SnapshotInFlight(2));

    service.Release();
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (transport.SnapshotInFlight(2) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_FALSE(transport.SnapshotInFlight(2));
    EXPECT_EQ(service.snapshots(), 1);
  }
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace paxoskv::replica
