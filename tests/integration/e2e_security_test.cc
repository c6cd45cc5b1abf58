// Goal (the security issue's tests): against a cluster running mutual TLS, every caller that
// may not call a method is refused and changes nothing, while the callers that may still
// work:
//   - Paxos messages (unary and on a stream) from a client certificate, from a replica
//     certificate of another shard, from a member's certificate claiming another member's id,
//     from a certificate of another CA, without a certificate and in plaintext;
//   - Replica/Execute, Replica/Status and Migration/Execute from anything but the master
//     (but GET, PUT and DELETE from a client's or admin's certificate: direct mode, see
//     e2e_direct_client_test);
//   - Admin from a client certificate (AddShard included) and KV from a replica certificate;
//   - AddShard from an admin certificate works; kvctl with a client certificate can put and
//     get but not run `status`; a binary given neither certificates nor --insecure exits.
// Method: the real binaries (ProcessCluster with tls: deploy/certs.sh makes the CA and every
// certificate); keys written through the master with a client certificate before the
// refusals must all read back after them, and the leader's ballot must not have moved to the
// forged round.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/tls.h"
#include "paxoskv/v1/admin.grpc.pb.h"
#include "paxoskv/v1/kv.grpc.pb.h"
#include "paxoskv/v1/paxos.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/client/kv_client.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

namespace pb = ::paxoskv::v1;

constexpr int kKeys = 50;

std::shared_ptr<grpc::ChannelCredentials> FromDir(const std::string& dir) {
  auto credentials = TlsCredentials::Load(TlsFiles{
      .ca_file = dir + "/ca.crt", .cert_file = dir + "/tls.crt", .key_file = dir + "/tls.key"});
  PAXOSKV_CHECK(credentials.ok()) << credentials.status();
  return credentials->ChannelCredentials();
}

std::shared_ptr<grpc::Channel> Dial(const std::string& address,
                                    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  // A channel of its own per call: a refused handshake must not be retried on a shared one.
  grpc::ChannelArguments args;
  static int index = 0;
  args.SetInt("paxoskv.security_test_channel", index++);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return context;
}

class SecurityTest : public ::testing::Test {
 protected:
  static ProcessClusterOptions WithTls() {
    ProcessClusterOptions options;
    options.tls = true;
    return options;
  }
  SecurityTest() : cluster_(WithTls()) {}

  void SetUp() override {
    ASSERT_TRUE(cluster_.StartShard(1).ok());
    ASSERT_TRUE(cluster_.WaitForLeader(1).ok());
    ASSERT_TRUE(cluster_.StartMaster({1}).ok());
    // Certificates the cluster does not hand out: a replica of shard 2 (of our CA), and an
    // admin of another CA.
    ASSERT_TRUE(
        ProcessCluster::MakeCertificates(cluster_.dir() + "/certs", {"s2-r1=replica:2:1"}).ok());
    ASSERT_TRUE(
        ProcessCluster::MakeCertificates(cluster_.dir() + "/other-ca", {"admin=admin"}).ok());
    client::KvClientOptions options;
    options.credentials = cluster_.Credentials("client");
    client_ = std::make_unique<client::KvClient>(cluster_.master_address(), options);
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_TRUE(client_->Put(absl::StrCat("key-", i), absl::StrCat("value-", i)).ok());
    }
  }

  // Every kind of caller the replicas must refuse Paxos messages from, and why.
  struct Caller {
    std::string name;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    grpc::StatusCode code;  // what a refused call gets
  };
  std::vector<Caller> Outsiders() {
    grpc::SslCredentialsOptions no_certificate;
    no_certificate.pem_root_certs = ReadFile(cluster_.CertDir("client") + "/ca.crt");
    return {
        {"client certificate", cluster_.Credentials("client"), grpc::StatusCode::PERMISSION_DENIED},
        {"admin certificate", cluster_.Credentials("admin"), grpc::StatusCode::PERMISSION_DENIED},
        {"master certificate", cluster_.Credentials("master"), grpc::StatusCode::PERMISSION_DENIED},
        {"another shard's replica", cluster_.Credentials("s2-r1"),
         grpc::StatusCode::PERMISSION_DENIED},
        // The TLS handshake fails: the call never reaches a handler.
        {"another CA", FromDir(cluster_.dir() + "/other-ca/admin"), grpc::StatusCode::UNAVAILABLE},
        {"no certificate", grpc::SslCredentials(no_certificate), grpc::StatusCode::UNAVAILABLE},
        {"plaintext", grpc::InsecureChannelCredentials(), grpc::StatusCode::UNAVAILABLE},
    };
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // A Prepare at the highest round, claiming to come from replica `from`.
  static pb::PaxosMessage ForgedPrepare(uint32_t from, uint32_t to) {
    pb::PaxosMessage m;
    m.set_shard_id(1);
    m.set_from(from);
    m.set_to(to);
    m.mutable_prepare()->mutable_ballot()->set_round(std::numeric_limits<uint64_t>::max());
    m.mutable_prepare()->mutable_ballot()->set_node_id(from);
    return m;
  }

  void ExpectEveryKeyReadsBack() {
    for (int i = 0; i < kKeys; ++i) {
      auto value = client_->Get(absl::StrCat("key-", i));
      ASSERT_TRUE(value.ok()) << "key-" << i << ": " << value.status();
      EXPECT_EQ(*value, absl::StrCat("value-", i));
    }
    EXPECT_TRUE(client_->Put("after", "refusals").ok());
    for (Process* replica : cluster_.ShardReplicas(1)) {
      auto status = cluster_.ReplicaStatus(*replica);
      ASSERT_TRUE(status.ok()) << status.status();
      EXPECT_LT(status->ballot_round(), 1000u) << replica->name << " took the forged round";
    }
  }

  ProcessCluster cluster_;
  std::unique_ptr<client::KvClient> client_;
};

TEST_F(SecurityTest, PaxosMessagesOnlyFromTheMemberTheCertificateNames) {
  for (Process* replica : cluster_.ShardReplicas(1)) {
    const uint32_t to = static_cast<uint32_t>(replica->name.back() - '0');
    const uint32_t from = to == 1 ? 2 : 1;
    for (const Caller& caller : Outsiders()) {
      auto stub = pb::Paxos::NewStub(Dial(replica->address, caller.credentials));
      auto context = Context();
      pb::Ack ack;
      grpc::Status status = stub->Prepare(context.get(), ForgedPrepare(from, to), &ack);
      EXPECT_EQ(status.error_code(), caller.code)
          << caller.name << " -> " << replica->name << ": " << status.error_message();

      // The same on a stream: the first message ends it.
      auto stream_context = Context();
      auto writer = stub->Stream(stream_context.get(), &ack);
      writer->Write(ForgedPrepare(from, to));
      writer->WritesDone();
      status = writer->Finish();
      EXPECT_EQ(status.error_code(), caller.code)
          << caller.name << " stream -> " << replica->name << ": " << status.error_message();
    }
    // A member of the shard may not speak for another member.
    const uint32_t claimed = 6 - to - from;  // the third replica
    auto stub = pb::Paxos::NewStub(
        Dial(replica->address, cluster_.Credentials(absl::StrCat("s1-r", from))));
    auto context = Context();
    pb::Ack ack;
    grpc::Status status = stub->Prepare(context.get(), ForgedPrepare(claimed, to), &ack);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "may not send a Paxos message"))
        << status.error_message();
  }
  ExpectEveryKeyReadsBack();
}

TEST_F(SecurityTest, ReplicaAndMigrationMethodsOnlyFromTheMaster) {
  pb::Command freeze;
  freeze.set_shard_id(1);
  freeze.set_op(pb::OP_FREEZE_RANGES);
  freeze.add_freeze_ranges();  // begin == end: the whole ring
  // A CAS: a client's or admin's certificate may send GET, PUT and DELETE (direct mode), no
  // other command.
  pb::Command put;
  put.set_shard_id(1);
  put.set_op(pb::OP_CAS);
  put.set_key("key-0");
  put.set_value("forged");
  put.set_cas_expected("value-0");
  for (Process* replica : cluster_.ShardReplicas(1)) {
    for (const std::string name : {"client", "admin", "s1-r1", "s2-r1"}) {
      auto channel = Dial(replica->address, cluster_.Credentials(name));
      auto replica_stub = pb::Replica::NewStub(channel);
      auto migration_stub = pb::Migration::NewStub(channel);
      pb::CommandResult result;
      auto c1 = Context();
      EXPECT_EQ(migration_stub->Execute(c1.get(), freeze, &result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " froze " << replica->name;
      auto c2 = Context();
      EXPECT_EQ(replica_stub->Execute(c2.get(), put, &result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " put on " << replica->name;
      pb::CommandBatch batch;
      *batch.add_commands() = put;
      pb::CommandBatchResult batch_result;
      auto c3 = Context();
      EXPECT_EQ(replica_stub->ExecuteBatch(c3.get(), batch, &batch_result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " batch on " << replica->name;
      pb::ReplicaStatus status;
      auto c4 = Context();
      EXPECT_EQ(replica_stub->Status(c4.get(), pb::ReplicaStatusRequest(), &status).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " status of " << replica->name;
      pb::MembershipChange change;
      change.set_shard_id(1);
      change.set_type(pb::MembershipChange::REMOVE);
      change.set_replica_id(1);
      pb::MembershipChangeResult change_result;
      auto c5 = Context();
      EXPECT_EQ(replica_stub->ChangeMembership(c5.get(), change, &change_result).error_code(),
                grpc::StatusCode::PERMISSION_DENIED)
          << name << " changed the membership of " << replica->name;
    }
  }
  ExpectEveryKeyReadsBack();
  EXPECT_EQ(*client_->Get("key-0"), "value-0");
}

TEST_F(SecurityTest, AdminOnlyForAdminsAndKvNotForReplicas) {
  ASSERT_TRUE(cluster_.StartShard(2).ok());
  ASSERT_TRUE(cluster_.WaitForLeader(2).ok());
  pb::AddShardRequest add;
  add.set_shard_id(2);
  for (const std::string& address : cluster_.ShardAddresses(2)) add.add_replicas(address);

  auto as_client =
      pb::Admin::NewStub(Dial(cluster_.master_address(), cluster_.Credentials("client")));
  pb::AddShardResponse added;
  auto c1 = Context();
  grpc::Status refused = as_client->AddShard(c1.get(), add, &added);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  pb::ClusterStatusResponse cluster_status;
  auto c2 = Context();
  EXPECT_EQ(
      as_client->ClusterStatus(c2.get(), pb::ClusterStatusRequest(), &cluster_status).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  auto kv_as_replica =
      pb::KV::NewStub(Dial(cluster_.master_address(), cluster_.Credentials("s1-r1")));
  pb::PutRequest put;
  put.set_key("key-1");
  put.set_value("from a replica");
  pb::PutResponse put_response;
  auto c3 = Context();
  EXPECT_EQ(kv_as_replica->Put(c3.get(), put, &put_response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  auto other_ca = pb::Admin::NewStub(
      Dial(cluster_.master_address(), FromDir(cluster_.dir() + "/other-ca/admin")));
  auto c4 = Context();
  EXPECT_EQ(other_ca->AddShard(c4.get(), add, &added).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto as_admin =
      pb::Admin::NewStub(Dial(cluster_.master_address(), cluster_.Credentials("admin")));
  grpc::ClientContext c5;
  c5.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  grpc::Status ok = as_admin->AddShard(&c5, add, &added);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  ExpectEveryKeyReadsBack();
  EXPECT_EQ(*client_->Get("key-1"), "value-1");
}

TEST_F(SecurityTest, KvctlTakesACertificateFolderAndBinariesRefuseToStartWithout) {
  const std::string kvctl =
      absl::StrCat(cluster_.bin_dir(), "/kvctl --master ", cluster_.master_address(), " ");
  CommandResult put =
      RunCommand(kvctl + "--cert_dir " + cluster_.CertDir("client") + " put kvctl-key kvctl-value");
  EXPECT_EQ(put.exit_code, 0) << put.out;
  // The environment variable names the folder when no flag does.
  CommandResult get =
      RunCommand("PAXOSKV_CERT_DIR=" + cluster_.CertDir("client") + " " + kvctl + "get kvctl-key");
  EXPECT_EQ(get.exit_code, 0) << get.out;
  EXPECT_EQ(get.out, "kvctl-value\n");
  CommandResult status = RunCommand(kvctl + "--cert_dir " + cluster_.CertDir("client") + " status");
  EXPECT_EQ(status.exit_code, 3) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "PERMISSION_DENIED")) << status.out;
  status = RunCommand(kvctl + "--cert_dir " + cluster_.CertDir("admin") + " status");
  EXPECT_EQ(status.exit_code, 0) << status.out;
  // Plaintext against a TLS master fails; it is not silently downgraded.
  CommandResult plaintext = RunCommand(kvctl + "--insecure --timeout_ms 2000 get kvctl-key");
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.out;

  for (const std::string binary : {"paxoskv-replica --shard_id=1 --replica_id=1 "
                                   "--peers=1=127.0.0.1:1 --data_dir=/nonexistent",
                                   "paxoskv-master --data_dir=/nonexistent", "kvctl get x",
                                   "kvbench --target=master --ops=1"}) {
    CommandResult r = RunCommand("env -u PAXOSKV_CERT_DIR " + cluster_.bin_dir() + "/" + binary);
    EXPECT_NE(r.exit_code, 0) << binary << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "no certificates")) << binary << ": " << r.out;
  }
}

}  // namespace
}  // namespace paxoskv::testing
