// Goal: the peer transport sends a snapshot chunk by chunk, in order, one call at a time;
// keeps at most one snapshot per peer on its way and says so (the replica core then neither
// loads nor sends another copy of a large snapshot), while other messages flow meanwhile on
// the peer's stream; a stream to a restarted peer is replaced; a peer without Paxos.Stream
// (an older binary) gets one call per message.
// Method: a real PeerTransport sends to in-process Paxos servers whose InstallSnapshot
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
#include "libs/replica/snapshot_transfer.h"
#include "libs/storage/memory_state.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "services/replica/transport.h"

namespace paxoskv::replica {
namespace {

using paxoskv::v1::Ack;
using paxoskv::v1::PaxosMessage;

// Counts calls; InstallSnapshot waits (in the handler) until Release().
class BlockingPaxos final : public paxoskv::v1::Paxos::Service {
 public:
  grpc::Status InstallSnapshot(grpc::ServerContext*, const PaxosMessage* message,
                               Ack*) override {
    absl::MutexLock lock(&mu_);
    ++snapshots_;
    chunks_.push_back(message->install_snapshot());
    mu_.Await(absl::Condition(&released_));
    return grpc::Status::OK;
  }
  std::vector<paxoskv::v1::InstallSnapshot> chunks() {
    absl::MutexLock lock(&mu_);
    return chunks_;
  }
  grpc::Status Accept(grpc::ServerContext*, const PaxosMessage*, Ack*) override {
    absl::MutexLock lock(&mu_);
    ++accepts_;
    ++unary_accepts_;
    return grpc::Status::OK;
  }
  grpc::Status Stream(grpc::ServerContext*, grpc::ServerReader<PaxosMessage>* reader,
                      Ack*) override {
    if (!with_stream_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "old binary");
    PaxosMessage message;
    while (reader->Read(&message)) {
      absl::MutexLock lock(&mu_);
      if (message.has_accept()) ++accepts_;
    }
    return grpc::Status::OK;
  }
  void set_with_stream(bool with_stream) { with_stream_ = with_stream; }
  int unary_accepts() {
    absl::MutexLock lock(&mu_);
    return unary_accepts_;
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
  int unary_accepts_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<paxoskv::v1::InstallSnapshot> chunks_ ABSL_GUARDED_BY(mu_);
  bool with_stream_ = true;   // set before the server starts
};

struct TestServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Serves `service` on 127.0.0.1:`port` (0: any free port).
TestServer Serve(BlockingPaxos* service, int port = 0) {
  TestServer out;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                           &out.port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(service);
  out.server = builder.BuildAndStart();
  return out;
}

// A snapshot of three chunks at slot 100, as the core asks the transport to send it.
struct SnapshotToSend {
  PaxosMessage header;
  std::unique_ptr<storage::SnapshotReader> reader;
};
SnapshotToSend Snapshot(uint32_t to) {
  storage::MemorySnapshot snapshot;
  snapshot.meta.last_slot = 100;
  auto chunks = std::make_shared<std::vector<std::string>>();
  storage::SnapshotDigest digest;
  for (char c : {'a', 'b', 'c'}) {
    chunks->push_back(std::string(1 << 20, c));
    digest.Add(chunks->back());
  }
  snapshot.meta.chunks = 3;
  snapshot.meta.bytes = 3 << 20;
  snapshot.meta.digest = digest.value();
  snapshot.chunks = chunks;
  PaxosMessage request;
  request.set_from(1);
  request.set_to(to);
  request.mutable_install_snapshot()->mutable_ballot()->set_round(1);
  request.mutable_install_snapshot()->mutable_ballot()->set_node_id(1);
  return {SnapshotHeader(request, snapshot.meta), storage::NewMemorySnapshotReader(snapshot)};
}

PaxosMessage Accept(uint32_t to) {
  PaxosMessage message;
  message.set_to(to);
  message.mutable_accept()->mutable_ballot()->set_round(1);
  return message;
}

TEST(PeerTransportTest, OneSnapshotPerPeerInFlightAndOthersFlow) {
  BlockingPaxos service;
  TestServer test_server = Serve(&service);
  std::unique_ptr<grpc::Server>& server = test_server.server;
  const int port = test_server.port;
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  {
    PeerTransport transport({{2, absl::StrCat("127.0.0.1:", port)}},
                            TransportOptions{.shard_id = 1}, GetLogger("test transport"));
    // Whatever happens below, the blocked call ends before the transport goes away.
    absl::Cleanup release = [&service] { service.Release(); };
    EXPECT_FALSE(transport.SnapshotInFlight(2));
    EXPECT_FALSE(transport.SnapshotInFlight(3));   // not a peer

    SnapshotToSend snapshot = Snapshot(2);
    transport.SendSnapshot(snapshot.header, std::move(snapshot.reader));
    EXPECT_TRUE(transport.SnapshotInFlight(2));
    ASSERT_TRUE(service.AwaitCalls(1, 0, absl::Seconds(10)));
    // A second snapshot for the same peer is not started while the first is on its way.
    SnapshotToSend again = Snapshot(2);
    transport.SendSnapshot(again.header, std::move(again.reader));
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
    // One transfer: three calls, one per chunk, in order, the last one marked.
    const std::vector<paxoskv::v1::InstallSnapshot> chunks = service.chunks();
    ASSERT_EQ(chunks.size(), 3u);
    for (size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(chunks[i].chunk_index(), i);
      EXPECT_EQ(chunks[i].last_chunk(), i == 2);
      EXPECT_EQ(chunks[i].last_slot(), 100u);
      EXPECT_EQ(chunks[i].snapshot_chunks(), 3u);
      EXPECT_EQ(chunks[i].data(), std::string(1 << 20, static_cast<char>('a' + i)));
    }
    EXPECT_EQ(service.unary_accepts(), 0);   // the Accept went on the stream
  }
  server->Shutdown(std::chrono::system_clock::now());
}

// Sends Accepts to peer 2 every 5 ms until `service` has counted `accepts` of them.
bool SendUntilCounted(PeerTransport& transport, BlockingPaxos& service, int accepts) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    transport.Send(Accept(2));
    if (service.AwaitCalls(0, accepts, absl::Milliseconds(5))) return true;
  }
  return false;
}

// The peer restarts (same port): the broken stream is noticed at a failed write and the
// next messages go on a new stream.
TEST(PeerTransportTest, StreamToARestartedPeerIsReplaced) {
  BlockingPaxos first;
  TestServer server = Serve(&first);
  ASSERT_NE(server.server, nullptr);
  const int port = server.port;
  PeerTransport transport({{2, absl::StrCat("127.0.0.1:", port)}},
                          TransportOptions{.shard_id = 1, .rpc_deadline_ms = 500},
                          GetLogger("test transport"));
  ASSERT_TRUE(SendUntilCounted(transport, first, 3));
  EXPECT_EQ(first.unary_accepts(), 0);
  server.server->Shutdown(std::chrono::system_clock::now());
  server.server.reset();

  BlockingPaxos second;
  TestServer restarted = Serve(&second, port);
  ASSERT_NE(restarted.server, nullptr);
  ASSERT_TRUE(SendUntilCounted(transport, second, 3));
  EXPECT_EQ(second.unary_accepts(), 0);
  restarted.server->Shutdown(std::chrono::system_clock::now());
}

// The membership adds a peer and moves one: messages follow the addresses it gives.
TEST(PeerTransportTest, PeersFollowTheMembershipsAddresses) {
  BlockingPaxos first;
  BlockingPaxos moved_to;
  TestServer a = Serve(&first);
  TestServer b = Serve(&moved_to);
  ASSERT_NE(a.server, nullptr);
  ASSERT_NE(b.server, nullptr);
  PeerTransport transport({}, TransportOptions{.shard_id = 1, .rpc_deadline_ms = 500},
                          GetLogger("test transport"));
  PaxosMessage unknown;
  unknown.set_to(2);
  unknown.mutable_accept();
  transport.Send(unknown);
  EXPECT_EQ(transport.dropped(), 1u);  // nobody at 2 yet

  transport.SetPeerAddresses({{2, absl::StrCat("127.0.0.1:", a.port)}});  // added
  ASSERT_TRUE(SendUntilCounted(transport, first, 3));
  transport.SetPeerAddresses({{2, absl::StrCat("127.0.0.1:", b.port)}});  // moved
  ASSERT_TRUE(SendUntilCounted(transport, moved_to, 3));
  a.server->Shutdown(std::chrono::system_clock::now());
  b.server->Shutdown(std::chrono::system_clock::now());
}

// A peer without Paxos.Stream answers UNIMPLEMENTED: from then on, one call per message.
TEST(PeerTransportTest, PeerWithoutStreamGetsOneCallPerMessage) {
  BlockingPaxos old_binary;
  old_binary.set_with_stream(false);
  TestServer server = Serve(&old_binary);
  ASSERT_NE(server.server, nullptr);
  {
    PeerTransport transport({{2, absl::StrCat("127.0.0.1:", server.port)}},
                            TransportOptions{.shard_id = 1}, GetLogger("test transport"));
    ASSERT_TRUE(SendUntilCounted(transport, old_binary, 5));
    EXPECT_GE(old_binary.unary_accepts(), 5);
  }
  server.server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace paxoskv::replica
