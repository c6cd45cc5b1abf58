// ProcessCluster: a multi-process test fixture that fork/execs the real paxoskv binaries
// (paxoskv-replica, paxoskv-master) on 127.0.0.1 with free ports and temporary data dirs,
// and can kill -9, restart and stop them (LogCabin scripts/smoketest.py, in C++).
//
// Binaries come from $PAXOSKV_BIN_DIR (CMake sets it on every test it registers with
// PaxoskvProcessTest / ENVIRONMENT PAXOSKV_BIN_DIR=${CMAKE_BINARY_DIR}/bin). Each child's
// stdout and stderr go to <dir>/<name>.log (appended across restarts). When the running
// GoogleTest test has failed, the destructor prints the tail of every log to stderr and keeps
// the directory; otherwise the directory is removed (set PAXOSKV_KEEP_TEST_DIR=1 to keep it).
//
// Children get PR_SET_PDEATHSIG(SIGKILL), so they die with the thread that started them: call
// Start*/Restart from the test's main thread (the normal case).
//
// Thread-safety: not thread-safe; owned by one test. The accessors return references that
// stay valid for the fixture's lifetime.
#pragma once

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paxoskv/v1/replica.pb.h"

namespace paxoskv::testing {

// One child process: its command line is fixed at creation, so Restart reuses the same
// flags, port and data dir.
struct Process {
  std::string name;             // "s1r2" (shard 1 replica 2), "master", "master2", ...
  std::string binary;           // absolute path
  std::vector<std::string> args;
  std::string address;          // 127.0.0.1:PORT it listens on
  std::string metrics_address;  // 127.0.0.1:PORT of its /metrics (options.metrics), or ""
  std::string data_dir;
  std::string log_path;
  pid_t pid = -1;               // -1 when not running
  int restarts = 0;

  bool running() const { return pid > 0; }
};

struct ProcessClusterOptions {
  int replicas_per_shard = 3;
  uint32_t virtual_nodes = 128;
  int tick_ms = 10;
  int election_timeout_ticks = 30;
  std::string log_level = "info";
  // Non-zero: masters keep the ring in this configuration group (a group of replicas started
  // with StartShard(config_group) first) instead of their own data dirs, and share it.
  uint32_t config_group = 0;
  // Extra flags appended to every replica / the master command line.
  std::vector<std::string> replica_flags = {};
  std::vector<std::string> master_flags = {};
  // Empty: $PAXOSKV_BIN_DIR. Kept as given otherwise.
  std::string bin_dir;
  // How long Stop() waits after SIGTERM before SIGKILL.
  absl::Duration stop_grace = absl::Seconds(5);
  // Mutual TLS: deploy/certs.sh makes one CA and a certificate per process under
  // <dir>/certs/NAME (replicas "sS-rR" naming replica:S:R, "master"), plus "admin" and
  // "client" for the test's own calls. Off: every process runs with --insecure.
  bool tls = false;
  // Every process serves Prometheus metrics on a port of its own (Process::metrics_address).
  bool metrics = false;
};

// What a shell command printed (stdout and stderr, interleaved) and its exit code (-1 when
// it could not run or did not exit normally).
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
// Runs `command` with sh, stderr folded into stdout, and waits for it.
CommandResult RunCommand(const std::string& command);

class ProcessCluster {
 public:
  explicit ProcessCluster(ProcessClusterOptions options = {});
  ~ProcessCluster();  // Stop(), print logs if the current test failed, remove the dir.

  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  // Picks ports, creates data dirs and starts replicas_per_shard paxoskv-replica processes
  // for `shard_id`. Does not wait for a leader (see WaitForLeader). kAlreadyExists when the
  // shard was started before; kFailedPrecondition when a binary is missing; kInternal when
  // fork/exec fails.
  absl::Status StartShard(uint32_t shard_id);
  // Starts a paxoskv-master with --shards naming `initial_shards` (each must have been
  // started with StartShard), and waits until Admin.ClusterStatus answers (or `deadline`).
  // Each call starts one more master (its own port and data dir, or the shared configuration
  // group), over the same shards.
  absl::Status StartMaster(const std::vector<uint32_t>& initial_shards,
                           absl::Time deadline = absl::Now() + absl::Seconds(20));

  // Sends `signal` to a running process and, for SIGKILL/SIGTERM/SIGINT, reaps it (waiting
  // up to 10 s). kFailedPrecondition if it is not running.
  absl::Status Kill(Process& process, int signal = SIGKILL);
  // Starts a stopped process again with the same flags, port and data dir. Kills it first
  // (SIGKILL) if it is still running.
  absl::Status Restart(Process& process);
  // Stops every process: SIGTERM, then SIGKILL after the grace period. Idempotent.
  void Stop();

  // Polls Replica.Status on the shard's replicas until one reports role "leader" and a
  // majority of the replicas that answer name it, and returns its address.
  // kDeadlineExceeded on timeout (the message lists what each replica said);
  // kAborted if every replica of the shard has exited.
  absl::StatusOr<std::string> WaitForLeader(
      uint32_t shard_id, absl::Time deadline = absl::Now() + absl::Seconds(20));
  // Waits for master `index`'s Admin.ClusterStatus to answer OK.
  absl::Status WaitForMaster(absl::Time deadline = absl::Now() + absl::Seconds(20),
                             size_t index = 0);
  // Calls Replica.Status on one replica (short deadline).
  absl::StatusOr<paxoskv::v1::ReplicaStatus> ReplicaStatus(const Process& replica,
                                                           absl::Duration timeout =
                                                               absl::Seconds(1));

  // Accessors. REQUIRES: the shard was started / the replica id is in 1..replicas_per_shard /
  // the master was started (checked: crash otherwise, it is a test bug).
  Process& Replica(uint32_t shard_id, int replica_id);
  std::vector<Process*> ShardReplicas(uint32_t shard_id);
  Process& Master(size_t index = 0);
  // Replica addresses of a shard, in replica-id order ("127.0.0.1:p1", ...).
  std::vector<std::string> ShardAddresses(uint32_t shard_id) const;
  // The --shards flag value for these shards: "1=a,b,c;2=d,e,f".
  std::string ShardsFlag(const std::vector<uint32_t>& shard_ids) const;
  const std::string& master_address() const;  // the first master's
  std::string master_addresses() const;       // every master's: "h:p,h:p"
  const std::string& dir() const { return dir_; }
  const std::string& bin_dir() const { return bin_dir_; }
  bool HasMaster() const { return !masters_.empty(); }

  // TLS (options.tls): the folder of certificate NAME ("admin", "client", "master", "s1-r2"),
  // the flag that hands it to a binary ("--insecure" without TLS), and credentials of it for
  // the test's own channels (plaintext without TLS).
  std::string CertDir(const std::string& name) const { return dir_ + "/certs/" + name; }
  std::string TlsFlag(const std::string& name) const;
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const std::string& name) const;
  // Makes certificates NAME=COMMON_NAME (subjectAltNames localhost, 127.0.0.1 and NAME) in
  // `dir` with deploy/certs.sh, signed by the CA in `dir` (made first when missing).
  static absl::Status MakeCertificates(const std::string& dir,
                                       const std::vector<std::string>& identities);

  // Reaps children that exited on their own; returns true if `process` is still running.
  bool IsRunning(Process& process);
  // The last `max_bytes` of every log, each under a header line (for failure messages).
  std::string LogTails(size_t max_bytes = 8192) const;

  // A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close), never
  // one returned before by this process.
  static int PickFreePort();

 private:
  absl::Status Spawn(Process& process);
  void AddMetricsFlag(Process& process) const;
  absl::Status Reap(Process& process, absl::Duration timeout);
  std::vector<Process*> AllProcesses();

  ProcessClusterOptions options_;
  std::string bin_dir_;
  std::string dir_;
  std::map<uint32_t, std::vector<std::unique_ptr<Process>>> shards_;
  std::vector<std::unique_ptr<Process>> masters_;
};

}  // namespace paxoskv::testing
