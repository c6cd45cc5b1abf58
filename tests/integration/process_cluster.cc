// See process_cluster.h.
#include "tests/integration/process_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/check.h"
#include "libs/common/tls.h"
#include "paxoskv/v1/admin.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::testing {
namespace {

namespace fs = std::filesystem;

std::string DefaultBinDir() {
  const char* env = std::getenv("PAXOSKV_BIN_DIR");
  return env != nullptr ? std::string(env) : std::string();
}

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  if (base == nullptr) base = std::getenv("TMPDIR");
  if (base == nullptr) base = "/tmp";
  std::string pattern = absl::StrCat(base, "/paxoskv-pc-XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  PAXOSKV_CHECK(mkdtemp(buffer.data()) != nullptr) << "mkdtemp: " << std::strerror(errno);
  return std::string(buffer.data());
}

// Polling a process that is still starting: keep gRPC's reconnect backoff short (its
// default starts at 1 s and grows), so a server is seen within ~50 ms of listening.
std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  // A fresh connection per poll: a channel whose first connect raced the server's start can
  // stay stuck in a handshake for seconds.
  static std::atomic<int> channel_index{0};
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("paxoskv.process_cluster_channel", channel_index++);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  // gRPC 1.51 also uses the minimum backoff as the connect timeout: keep it long enough
  // for a busy machine (the initial and maximum backoff keep reconnects quick).
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 50);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log)\n";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "...\n" + text.substr(text.size() - max_bytes);
  return text;
}

}  // namespace

ProcessCluster::ProcessCluster(ProcessClusterOptions options)
    : options_(std::move(options)),
      bin_dir_(options_.bin_dir.empty() ? DefaultBinDir() : options_.bin_dir),
      dir_(MakeTempDir()) {
  if (options_.tls) {
    absl::Status made =
        MakeCertificates(dir_ + "/certs", {"master=master", "admin=admin", "client=client"});
    PAXOSKV_CHECK(made.ok()) << made;
  }
}

absl::Status ProcessCluster::MakeCertificates(const std::string& dir,
                                              const std::vector<std::string>& identities) {
  CommandResult made = RunCommand(absl::StrCat(PAXOSKV_SOURCE_DIR, "/deploy/certs.sh ", dir, " ",
                                               absl::StrJoin(identities, " ")));
  if (made.exit_code != 0) {
    return absl::InternalError(absl::StrCat("deploy/certs.sh failed: ", made.out));
  }
  return absl::OkStatus();
}

std::string ProcessCluster::TlsFlag(const std::string& name) const {
  return options_.tls ? "--cert_dir=" + CertDir(name) : "--insecure";
}

std::shared_ptr<grpc::ChannelCredentials> ProcessCluster::Credentials(
    const std::string& name) const {
  if (!options_.tls) return grpc::InsecureChannelCredentials();
  auto credentials = TlsCredentials::Load(TlsFiles{.ca_file = CertDir(name) + "/ca.crt",
                                                   .cert_file = CertDir(name) + "/tls.crt",
                                                   .key_file = CertDir(name) + "/tls.key"});
  PAXOSKV_CHECK(credentials.ok()) << credentials.status();
  return credentials->ChannelCredentials();
}

ProcessCluster::~ProcessCluster() {
  Stop();
  const bool failed = ::testing::Test::HasFailure();
  if (failed) {
    std::cerr << "ProcessCluster: test failed; logs in " << dir_ << "\n" << LogTails();
  }
  if (!failed && std::getenv("PAXOSKV_KEEP_TEST_DIR") == nullptr) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

int ProcessCluster::PickFreePort() {
  static std::mutex mu;
  static std::set<int> returned;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    PAXOSKV_CHECK(fd >= 0) << "socket: " << std::strerror(errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    PAXOSKV_CHECK(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
        << "bind: " << std::strerror(errno);
    socklen_t len = sizeof(addr);
    PAXOSKV_CHECK(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    close(fd);
    const int port = ntohs(addr.sin_port);
    if (returned.insert(port).second) return port;
  }
  PAXOSKV_CHECK(false) << "no free port after 100 attempts";
  return 0;
}

absl::Status ProcessCluster::StartShard(uint32_t shard_id) {
  if (shards_.count(shard_id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("shard ", shard_id, " already started"));
  }
  const std::string binary = bin_dir_ + "/paxoskv-replica";
  if (bin_dir_.empty() || access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no executable ", binary, " (set PAXOSKV_BIN_DIR)"));
  }
  auto& replicas = shards_[shard_id];
  std::vector<std::string> peers;
  for (int r = 1; r <= options_.replicas_per_shard; ++r) {
    auto process = std::make_unique<Process>();
    process->name = absl::StrCat("s", shard_id, "r", r);
    process->binary = binary;
    process->address = absl::StrCat("127.0.0.1:", PickFreePort());
    process->data_dir = absl::StrCat(dir_, "/", process->name);
    process->log_path = absl::StrCat(dir_, "/", process->name, ".log");
    peers.push_back(absl::StrCat(r, "=", process->address));
    replicas.push_back(std::move(process));
  }
  const std::string peers_flag = absl::StrJoin(peers, ",");
  if (options_.tls) {
    std::vector<std::string> identities;
    for (int r = 1; r <= options_.replicas_per_shard; ++r) {
      identities.push_back(absl::StrCat("s", shard_id, "-r", r, "=replica:", shard_id, ":", r));
    }
    if (absl::Status made = MakeCertificates(dir_ + "/certs", identities); !made.ok()) {
      return made;
    }
  }
  for (int r = 1; r <= options_.replicas_per_shard; ++r) {
    Process& process = *replicas[static_cast<size_t>(r - 1)];
    fs::create_directories(process.data_dir);
    process.args = {
        absl::StrCat("--shard_id=", shard_id),
        absl::StrCat("--replica_id=", r),
        absl::StrCat("--listen=", process.address),
        absl::StrCat("--peers=", peers_flag),
        absl::StrCat("--data_dir=", process.data_dir),
        absl::StrCat("--tick_ms=", options_.tick_ms),
        absl::StrCat("--election_timeout_ticks=", options_.election_timeout_ticks),
        absl::StrCat("--log_level=", options_.log_level),
        TlsFlag(absl::StrCat("s", shard_id, "-r", r)),
    };
    // A shard's replicas take direct clients' commands; the configuration group's never.
    if (shard_id != options_.config_group) process.args.push_back("--direct_clients");
    AddMetricsFlag(process);
    for (const auto& flag : options_.replica_flags) process.args.push_back(flag);
  }
  for (auto& process : replicas) {
    if (absl::Status status = Spawn(*process); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::StartMaster(const std::vector<uint32_t>& initial_shards,
                                         absl::Time deadline) {
  const std::string binary = bin_dir_ + "/paxoskv-master";
  if (bin_dir_.empty() || access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no executable ", binary, " (set PAXOSKV_BIN_DIR)"));
  }
  for (uint32_t id : initial_shards) {
    if (shards_.count(id) == 0) {
      return absl::FailedPreconditionError(absl::StrCat("shard ", id, " was not started"));
    }
  }
  masters_.push_back(std::make_unique<Process>());
  Process& process = *masters_.back();
  process.name = masters_.size() == 1 ? "master" : absl::StrCat("master", masters_.size());
  process.binary = binary;
  process.address = absl::StrCat("127.0.0.1:", PickFreePort());
  process.data_dir = absl::StrCat(dir_, "/", process.name);
  process.log_path = absl::StrCat(dir_, "/", process.name, ".log");
  fs::create_directories(process.data_dir);
  if (options_.config_group != 0 && shards_.count(options_.config_group) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("the configuration group (shard ",
                                                      options_.config_group, ") was not started"));
  }
  process.args = {
      absl::StrCat("--listen=", process.address),
      options_.config_group != 0
          ? absl::StrCat("--config_group=", ShardsFlag({options_.config_group}))
          : absl::StrCat("--data_dir=", process.data_dir),
      absl::StrCat("--shards=", ShardsFlag(initial_shards)),
      absl::StrCat("--virtual_nodes=", options_.virtual_nodes),
      absl::StrCat("--log_level=", options_.log_level),
      TlsFlag("master"),
  };
  AddMetricsFlag(process);
  for (const auto& flag : options_.master_flags) process.args.push_back(flag);
  if (absl::Status status = Spawn(process); !status.ok()) return status;
  return WaitForMaster(deadline, masters_.size() - 1);
}

void ProcessCluster::AddMetricsFlag(Process& process) const {
  if (!options_.metrics) return;
  process.metrics_address = absl::StrCat("127.0.0.1:", PickFreePort());
  process.args.push_back(absl::StrCat("--metrics_listen=", process.metrics_address));
}

absl::Status ProcessCluster::Spawn(Process& process) {
  if (process.running()) {
    return absl::FailedPreconditionError(absl::StrCat(process.name, " is already running"));
  }
  {
    std::ofstream log(process.log_path, std::ios::app);
    log << "=== ProcessCluster: start #" << (process.restarts + 1) << ": " << process.binary
        << " " << absl::StrJoin(process.args, " ") << "\n";
  }
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed (the parent has gRPC threads).
  std::vector<std::string> argv_storage;
  argv_storage.push_back(process.binary);
  for (const auto& arg : process.args) argv_storage.push_back(arg);
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const int log_fd = open(process.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                          0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", process.log_path, ": ", std::strerror(errno)));
  }
  int exec_pipe[2];  // The child writes errno here if exec fails; CLOEXEC closes it otherwise.
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execv(argv[0], argv.data());
    int err = errno;
    ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }
  close(log_fd);
  close(exec_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n > 0) {
    waitpid(pid, nullptr, 0);
    return absl::InternalError(
        absl::StrCat("exec ", process.binary, ": ", std::strerror(child_errno)));
  }
  process.pid = pid;
  return absl::OkStatus();
}

absl::Status ProcessCluster::Reap(Process& process, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int wstatus = 0;
    pid_t r = waitpid(process.pid, &wstatus, WNOHANG);
    if (r == process.pid || (r < 0 && errno == ECHILD)) {
      process.pid = -1;
      return absl::OkStatus();
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(process.name, " did not exit"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // Polling waitpid.
  }
}

absl::Status ProcessCluster::Kill(Process& process, int signal) {
  if (!IsRunning(process)) {
    return absl::FailedPreconditionError(absl::StrCat(process.name, " is not running"));
  }
  if (kill(process.pid, signal) != 0) {
    return absl::InternalError(absl::StrCat("kill ", process.name, ": ", std::strerror(errno)));
  }
  if (signal == SIGKILL || signal == SIGTERM || signal == SIGINT) {
    absl::Status status = Reap(process, absl::Seconds(10));
    if (!status.ok() && signal != SIGKILL) {
      kill(process.pid, SIGKILL);
      return Reap(process, absl::Seconds(10));
    }
    return status;
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::Restart(Process& process) {
  if (IsRunning(process)) {
    if (absl::Status status = Kill(process, SIGKILL); !status.ok()) return status;
  }
  ++process.restarts;
  return Spawn(process);
}

void ProcessCluster::Stop() {
  std::vector<Process*> running;
  for (Process* process : AllProcesses()) {
    if (IsRunning(*process)) {
      kill(process->pid, SIGTERM);
      running.push_back(process);
    }
  }
  const absl::Time deadline = absl::Now() + options_.stop_grace;
  for (Process* process : running) {
    absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
    if (!Reap(*process, left).ok()) {
      kill(process->pid, SIGKILL);
      (void)Reap(*process, absl::Seconds(10));
    }
  }
}

bool ProcessCluster::IsRunning(Process& process) {
  if (process.pid <= 0) return false;
  int wstatus = 0;
  pid_t r = waitpid(process.pid, &wstatus, WNOHANG);
  if (r == process.pid || (r < 0 && errno == ECHILD)) {
    std::ofstream log(process.log_path, std::ios::app);
    if (r == process.pid && WIFEXITED(wstatus)) {
      log << "=== ProcessCluster: exited with code " << WEXITSTATUS(wstatus) << "\n";
    } else if (r == process.pid && WIFSIGNALED(wstatus)) {
      log << "=== ProcessCluster: killed by signal " << WTERMSIG(wstatus) << "\n";
    }
    process.pid = -1;
    return false;
  }
  return true;
}

absl::StatusOr<paxoskv::v1::ReplicaStatus> ProcessCluster::ReplicaStatus(const Process& replica,
                                                                         absl::Duration timeout) {
  auto stub = paxoskv::v1::Replica::NewStub(Channel(replica.address, Credentials("master")));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  paxoskv::v1::ReplicaStatusRequest request;
  paxoskv::v1::ReplicaStatus response;
  grpc::Status status = stub->Status(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return response;
}

absl::StatusOr<std::string> ProcessCluster::WaitForLeader(uint32_t shard_id, absl::Time deadline) {
  std::vector<Process*> replicas = ShardReplicas(shard_id);
  std::string last_report;
  while (true) {
    std::map<std::string, int> votes;  // leader address -> replicas naming it
    std::string leader_self;           // a replica that says it is the leader
    int alive = 0;
    int answered = 0;
    last_report.clear();
    for (Process* replica : replicas) {
      if (!IsRunning(*replica)) {
        absl::StrAppend(&last_report, replica->name, ": not running; ");
        continue;
      }
      ++alive;
      auto status = ReplicaStatus(*replica, absl::Milliseconds(500));
      if (!status.ok()) {
        absl::StrAppend(&last_report, replica->name, ": ", status.status().ToString(), "; ");
        continue;
      }
      ++answered;
      absl::StrAppend(&last_report, replica->name, ": role=", status->role(),
                      " leader=", status->leader_address(), "; ");
      if (status->role() == "leader") {
        leader_self = replica->address;
        votes[replica->address]++;
      } else if (!status->leader_address().empty()) {
        votes[status->leader_address()]++;
      }
    }
    if (alive == 0) {
      return absl::AbortedError(absl::StrCat("every replica of shard ", shard_id, " exited"));
    }
    const int majority = static_cast<int>(replicas.size()) / 2 + 1;
    if (!leader_self.empty() && votes[leader_self] >= std::min(majority, answered)) {
      return leader_self;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no leader for shard ", shard_id, ": ", last_report));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Polling Status.
  }
}

absl::Status ProcessCluster::WaitForMaster(absl::Time deadline, size_t index) {
  Process& master = Master(index);
  grpc::Status last;
  while (true) {
    auto stub = paxoskv::v1::Admin::NewStub(Channel(master.address, Credentials("admin")));
    if (!IsRunning(master)) {
      return absl::AbortedError(absl::StrCat(master.name, " exited; log ", master.log_path));
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
    paxoskv::v1::ClusterStatusRequest request;
    paxoskv::v1::ClusterStatusResponse response;
    last = stub->ClusterStatus(&context, request, &response);
    if (last.ok()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("master not answering ClusterStatus: ", last.error_message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Polling ClusterStatus.
  }
}

Process& ProcessCluster::Replica(uint32_t shard_id, int replica_id) {
  auto it = shards_.find(shard_id);
  PAXOSKV_CHECK(it != shards_.end()) << "shard " << shard_id << " not started";
  PAXOSKV_CHECK(replica_id >= 1 && replica_id <= static_cast<int>(it->second.size()))
      << "replica " << replica_id;
  return *it->second[static_cast<size_t>(replica_id - 1)];
}

std::vector<Process*> ProcessCluster::ShardReplicas(uint32_t shard_id) {
  auto it = shards_.find(shard_id);
  PAXOSKV_CHECK(it != shards_.end()) << "shard " << shard_id << " not started";
  std::vector<Process*> result;
  for (auto& process : it->second) result.push_back(process.get());
  return result;
}

Process& ProcessCluster::Master(size_t index) {
  PAXOSKV_CHECK(index < masters_.size()) << "master " << index << " not started";
  return *masters_[index];
}

const std::string& ProcessCluster::master_address() const {
  PAXOSKV_CHECK(!masters_.empty()) << "master not started";
  return masters_.front()->address;
}

std::string ProcessCluster::master_addresses() const {
  std::vector<std::string> addresses;
  for (const auto& master : masters_) addresses.push_back(master->address);
  return absl::StrJoin(addresses, ",");
}

std::vector<std::string> ProcessCluster::ShardAddresses(uint32_t shard_id) const {
  auto it = shards_.find(shard_id);
  PAXOSKV_CHECK(it != shards_.end()) << "shard " << shard_id << " not started";
  std::vector<std::string> result;
  for (const auto& process : it->second) result.push_back(process->address);
  return result;
}

std::string ProcessCluster::ShardsFlag(const std::vector<uint32_t>& shard_ids) const {
  std::vector<std::string> parts;
  for (uint32_t id : shard_ids) {
    parts.push_back(absl::StrCat(id, "=", absl::StrJoin(ShardAddresses(id), ",")));
  }
  return absl::StrJoin(parts, ";");
}

std::vector<Process*> ProcessCluster::AllProcesses() {
  std::vector<Process*> result;
  for (auto& master : masters_) result.push_back(master.get());
  for (auto& [id, replicas] : shards_) {
    for (auto& process : replicas) result.push_back(process.get());
  }
  return result;
}

std::string ProcessCluster::LogTails(size_t max_bytes) const {
  std::string out;
  auto append = [&](const Process& process) {
    absl::StrAppend(&out, "----- ", process.name, " (", process.log_path, ") -----\n",
                    ReadTail(process.log_path, max_bytes), "\n");
  };
  for (const auto& [id, replicas] : shards_) {
    for (const auto& process : replicas) append(*process);
  }
  for (const auto& master : masters_) append(*master);
  return out;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace paxoskv::testing
