// Multi-process test of the real paxoskv-master binary against in-process fake replicas.
// Goal: a master killed with SIGKILL in the middle of AddShard resumes on restart and ends with
// every key exactly once in the shard the new ring names. Method: 2 shards with 3000 keys, the
// new shard lets 10 imports through and then blocks the next one; SIGKILL the master while that
// import is in flight, let the import land late, restart on the same data dir, and await the
// ring switch through ClusterStatus.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/admin.grpc.pb.h"
#include "services/master/config_store.h"
#include "tests/master/fake_replica.h"

extern char** environ;

namespace paxoskv::master {
namespace {

using testing::DeadAddress;
using testing::FakeReplica;
namespace pb = paxoskv::v1;

pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

class MasterProcess {
 public:
  MasterProcess(const std::string& dir, const std::string& shards)
      : address_(DeadAddress()),
        pid_(Spawn({PAXOSKV_MASTER_BIN, "--listen=" + address_, "--data_dir=" + dir,
                    "--shards=" + shards, "--log_level=warn", "--insecure"})) {
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    connected_ = channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    admin_ = pb::Admin::NewStub(channel);
  }
  ~MasterProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitExit(pid_);
    }
  }
  bool connected() const { return connected_; }
  pb::Admin::Stub* admin() { return admin_.get(); }
  void Kill9() {
    kill(pid_, SIGKILL);
    const int status = WaitExit(pid_);
    EXPECT_TRUE(WIFSIGNALED(status));
    pid_ = 0;
  }
  int Terminate() {
    kill(pid_, SIGTERM);
    const int status = WaitExit(pid_);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pb::ClusterStatusResponse Status() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    pb::ClusterStatusResponse response;
    EXPECT_TRUE(admin_->ClusterStatus(&context, pb::ClusterStatusRequest(), &response).ok());
    return response;
  }

 private:
  std::string address_;
  pid_t pid_;
  bool connected_ = false;
  std::unique_ptr<pb::Admin::Stub> admin_;
};

TEST(MasterProcessTest, KilledMidMigrationResumesAndPlacesEveryKeyOnce) {
  FakeReplica s1(1), s2(2), s3(3);
  const ring::HashRing old_ring = *ring::HashRing::Create(1, {1, 2});
  const ring::HashRing next = *old_ring.WithShard(3);
  std::map<std::string, std::string> all;
  std::map<uint32_t, std::map<std::string, std::string>> initial;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    initial[old_ring.OwnerOf(key)][key] = all[key];
  }
  s1.SetData(initial[1]);
  s2.SetData(initial[2]);
  s3.BlockOps({pb::OP_IMPORT}, /*pass=*/10);

  std::string dir = ::testing::TempDir() + "/master_process_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string shards = absl::StrCat("1=", s1.address(), ";2=", s2.address());
  {
    MasterProcess master(dir, shards);
    ASSERT_TRUE(master.connected());
    auto adding = std::async(std::launch::async, [&] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      pb::AddShardRequest request;
      request.set_shard_id(3);
      request.add_replicas(s3.address());
      pb::AddShardResponse response;
      return master.admin()->AddShard(&context, request, &response);
    });
    ASSERT_TRUE(s3.AwaitBlocked(1, absl::Seconds(60)));
    master.Kill9();
    EXPECT_FALSE(adding.get().ok());
  }
  auto store = FileConfigStore::Open(dir);
  ASSERT_TRUE(store.ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(state->has_migration());  // Killed mid-way: the plan is on disk.
  EXPECT_GT(state->migration().keys_moved(), 0u);
  s3.Release();  // The in-flight import lands after the crash, as a late duplicate would.

  MasterProcess restarted(dir, "9=127.0.0.1:1");  // --shards ignored: the dir holds a ring.
  ASSERT_TRUE(restarted.connected());
  pb::ClusterStatusResponse status;
  const absl::Time give_up = absl::Now() + absl::Seconds(90);
  do {
    status = restarted.Status();
    if (status.epoch() == 2 && !status.migration().running()) break;
    absl::SleepFor(absl::Milliseconds(50));  // Polling the observable state over RPC.
  } while (absl::Now() < give_up);
  ASSERT_EQ(status.epoch(), 2u);
  ASSERT_FALSE(status.migration().running());
  ASSERT_EQ(status.shards_size(), 3);
  for (auto [fake, id] : {std::pair{&s1, 1u}, std::pair{&s2, 2u}, std::pair{&s3, 3u}}) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  EXPECT_EQ(restarted.Terminate(), 0);
}

}  // namespace
}  // namespace paxoskv::master
