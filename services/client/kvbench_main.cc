// kvbench: closed-loop load generator for paxoskv (through the master, straight to each key's
// shard leader by the masters' ring, or straight to one replica group), etcd (wire-compatible
// subset of its KV API) and a raw gRPC echo server.
//
//   kvbench --target=master --addr=127.0.0.1:50051 --clients=64 --duration_s=10
//   kvbench --target=direct --addr=<the masters>   (KvClient's direct mode: the replicas'
//                                                   addresses must be reachable from here)
//   (TLS: --cert_dir=DIR or $PAXOSKV_CERT_DIR, a client/admin certificate for the master and
//   for --target=direct, the master's for --target=replica; --insecure for plaintext)
//           --read_percent=50 --value_size=256 --keys=10000 --key_dist=uniform [--json]
//           [--history=FILE] [--ops=N] [--warmup_s=1] [--preload]
//
// Each client issues one operation at a time (a closed loop). Two drivers run the clients:
//  - callback (default for master, etcd, echo): each client's next call starts from the
//    completion of its previous one on gRPC's callback threads, one attempt per operation.
//    A handful of threads drive all clients, leaving the CPU to the system under test.
//  - threads (the only one for replica and direct): a thread per client blocked in its call,
//    through the retrying client library (KvClient / ReplicaClient): a failed attempt is
//    retried with the same (client_id, seq) until the deadline, as an application would.
// Figures (ops/s, latency percentiles, errors by status code) count only operations that
// start after the warm-up.
// --history writes every operation (warm-up included) as one JSON line for paxoskv-lincheck;
// every put writes a unique value "c<client>-<n>-" padded to --value_size.
// Exit codes: 0 done (errors are reported, not fatal unless --stop_on_error), 1 stopped on an
// error, 2 bad flags, 3 could not write the history.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/etcdserverpb.grpc.pb.h"
#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"
#include "libs/common/random_id.h"
#include "libs/common/tls.h"
#include "paxoskv/v1/echo.grpc.pb.h"
#include "paxoskv/v1/kv.grpc.pb.h"
#include "services/client/kv_client.h"
#include "services/client/lincheck/history.h"

ABSL_FLAG(std::string, target, "master", "master | direct | replica | etcd | echo");
ABSL_FLAG(std::string, addr, "127.0.0.1:50051",
          "host:port (etcd, echo), a comma list of masters (master: --driver threads fails over "
          "between them, callback spreads its connections over them; direct: where the ring "
          "comes from) or of replicas (replica)");
ABSL_FLAG(int, clients, 16, "concurrent closed-loop clients (threads)");
ABSL_FLAG(double, duration_s, 10, "measured run time in seconds (ignored when --ops is set)");
ABSL_FLAG(int64_t, ops, 0, "stop after this many measured operations (0: use --duration_s)");
ABSL_FLAG(double, warmup_s, 0, "seconds of load before measuring (excluded from figures)");
ABSL_FLAG(int, read_percent, 50, "percentage of gets");
ABSL_FLAG(int, delete_percent, 0, "percentage of deletes (the rest are puts)");
ABSL_FLAG(int, value_size, 256, "bytes per value");
ABSL_FLAG(int64_t, keys, 1000, "number of distinct keys");
ABSL_FLAG(std::string, key_dist, "uniform", "uniform | zipfian (theta 0.99)");
ABSL_FLAG(uint64_t, seed, 1, "random seed (client i uses seed + i)");
ABSL_FLAG(std::string, prefix, "kvbench-", "key prefix");
ABSL_FLAG(bool, json, false, "print the figures as one JSON object");
ABSL_FLAG(std::string, history, "", "write every operation as a JSON line to this file");
ABSL_FLAG(bool, stop_on_error, false, "stop all clients at the first failed operation");
ABSL_FLAG(int64_t, op_timeout_ms, 5000, "deadline of each operation");
ABSL_FLAG(bool, preload, false, "put every key once before the run (so gets find values)");
ABSL_FLAG(std::string, driver, "",
          "callback | threads (default: callback, threads for --target=replica and direct)");
ABSL_FLAG(int, connections, 8, "gRPC connections shared by the clients (at most --clients)");

namespace {

namespace pb = paxoskv::v1;
using paxoskv::lincheck::OpKind;
using paxoskv::lincheck::Operation;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---- targets --------------------------------------------------------------------------------

// What one operation returned: its status, and for a get the value (nullopt when absent).
struct OpResult {
  absl::Status status;
  std::optional<std::string> output;
};

// A blocking target: one thread per client calls it (the threads driver). Thread-safe.
class Target {
 public:
  virtual ~Target() = default;
  virtual OpResult Call(const Operation& op, absl::Duration timeout) = 0;
};

// An asynchronous target: Start returns at once and `done` runs on a gRPC thread when the
// call completes (the callback driver). Thread-safe; `op` must outlive the call.
class AsyncTarget {
 public:
  using Done = absl::AnyInvocable<void(OpResult) &&>;
  virtual ~AsyncTarget() = default;
  virtual void Start(const Operation& op, absl::Duration timeout, Done done) = 0;
};

using Credentials = std::shared_ptr<grpc::ChannelCredentials>;

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, int index,
                                           const Credentials& credentials) {
  grpc::ChannelArguments args = paxoskv::PaxoskvChannelArguments();
  // Distinct args and a local pool give each channel its own TCP connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("paxoskv.kvbench_connection", index);
  return grpc::CreateCustomChannel(address, credentials, args);
}

// Through a retrying client library: KvClient (the master) retries UNAVAILABLE with the same
// (client_id, seq) until the deadline, as an application would (the failover tests rely on
// this); ReplicaClient (one replica group) also follows leader hints.
template <typename Client>
class ClientTarget final : public Target {
 public:
  template <typename... Args>
  explicit ClientTarget(Args&&... args) : client_(std::forward<Args>(args)...) {}
  OpResult Call(const Operation& op, absl::Duration timeout) override {
    switch (op.kind) {
      case OpKind::kGet: {
        auto value = client_.Get(op.key, {.timeout = timeout});
        if (value.ok()) return {absl::OkStatus(), *std::move(value)};
        return {value.status(), std::nullopt};
      }
      case OpKind::kPut:
        return {client_.Put(op.key, op.value, {.timeout = timeout}), std::nullopt};
      case OpKind::kDelete:
        return {client_.Delete(op.key, {.timeout = timeout}).status(), std::nullopt};
    }
    return {absl::InternalError("unknown op"), std::nullopt};
  }

 private:
  Client client_;
};

// The state of one asynchronous unary call; deletes itself when the call completes.
template <typename Request, typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Request request;
  Response response;
  AsyncTarget::Done done;

  AsyncCall(absl::Duration timeout, AsyncTarget::Done d) : done(std::move(d)) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  // `start(context, request, response, on_complete)` issues the call; `finish(call, status)`
  // turns the reply into an OpResult.
  template <typename StartFn, typename FinishFn>
  static void Run(std::unique_ptr<AsyncCall> call, StartFn start, FinishFn finish) {
    AsyncCall* raw = call.release();
    start(&raw->context, &raw->request, &raw->response,
          [raw, finish](grpc::Status status) {
            std::unique_ptr<AsyncCall> owned(raw);
            OpResult result = finish(*owned, status);
            std::move(owned->done)(std::move(result));
          });
  }
};

// Through the master, one attempt per operation: each write carries this target's client id
// and the next seq, as KvClient's would. A failed attempt is counted, not retried.
class MasterAsyncTarget final : public AsyncTarget {
 public:
  MasterAsyncTarget(const std::string& address, int index, const Credentials& credentials)
      : stub_(pb::KV::NewStub(MakeChannel(address, index, credentials))),
        client_id_(paxoskv::RandomId()) {}

  void Start(const Operation& op, absl::Duration timeout, Done done) override {
    switch (op.kind) {
      case OpKind::kGet: {
        using Call = AsyncCall<pb::GetRequest, pb::GetResponse>;
        auto call = std::make_unique<Call>(timeout, std::move(done));
        call->request.set_key(op.key);
        Call::Run(
            std::move(call),
            [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Get(c, q, r, cb); },
            [](Call& c, const grpc::Status& status) -> OpResult {
              if (!status.ok()) return {paxoskv::FromGrpcStatus(status), std::nullopt};
              return {absl::OkStatus(), std::move(*c.response.mutable_value())};
            });
        return;
      }
      case OpKind::kPut: {
        using Call = AsyncCall<pb::PutRequest, pb::PutResponse>;
        auto call = std::make_unique<Call>(timeout, std::move(done));
        call->request.set_key(op.key);
        call->request.set_value(op.value);
        call->request.set_client_id(client_id_);
        call->request.set_seq(next_seq_.fetch_add(1));
        Call::Run(
            std::move(call),
            [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Put(c, q, r, cb); },
            [](Call&, const grpc::Status& status) -> OpResult {
              return {paxoskv::FromGrpcStatus(status), std::nullopt};
            });
        return;
      }
      case OpKind::kDelete: {
        using Call = AsyncCall<pb::DeleteRequest, pb::DeleteResponse>;
        auto call = std::make_unique<Call>(timeout, std::move(done));
        call->request.set_key(op.key);
        call->request.set_client_id(client_id_);
        call->request.set_seq(next_seq_.fetch_add(1));
        Call::Run(
            std::move(call),
            [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Delete(c, q, r, cb); },
            [](Call&, const grpc::Status& status) -> OpResult {
              return {paxoskv::FromGrpcStatus(status), std::nullopt};
            });
        return;
      }
    }
  }

 private:
  std::unique_ptr<pb::KV::Stub> stub_;
  const uint64_t client_id_;
  std::atomic<uint64_t> next_seq_{1};
};

class EtcdAsyncTarget final : public AsyncTarget {
 public:
  EtcdAsyncTarget(const std::string& address, int index, const Credentials& credentials)
      : stub_(etcdserverpb::KV::NewStub(MakeChannel(address, index, credentials))) {}

  void Start(const Operation& op, absl::Duration timeout, Done done) override {
    if (op.kind == OpKind::kGet) {
      using Call = AsyncCall<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>;
      auto call = std::make_unique<Call>(timeout, std::move(done));
      call->request.set_key(op.key);  // serializable=false: a linearizable read
      Call::Run(
          std::move(call),
          [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Range(c, q, r, cb); },
          [](Call& c, const grpc::Status& status) -> OpResult {
            if (!status.ok()) return {paxoskv::FromGrpcStatus(status), std::nullopt};
            if (c.response.kvs_size() == 0) {
              return {absl::NotFoundError("key not found"), std::nullopt};
            }
            return {absl::OkStatus(), std::move(*c.response.mutable_kvs(0)->mutable_value())};
          });
      return;
    }
    using Call = AsyncCall<etcdserverpb::PutRequest, etcdserverpb::PutResponse>;
    auto call = std::make_unique<Call>(timeout, std::move(done));
    call->request.set_key(op.key);
    call->request.set_value(op.value);
    Call::Run(
        std::move(call),
        [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Put(c, q, r, cb); },
        [](Call&, const grpc::Status& status) -> OpResult {
          return {paxoskv::FromGrpcStatus(status), std::nullopt};
        });
  }

 private:
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
};

// One unary round trip per operation: the ceiling any gRPC service on this machine can reach.
// A put echoes its value, a get its key.
class EchoAsyncTarget final : public AsyncTarget {
 public:
  EchoAsyncTarget(const std::string& address, int index, const Credentials& credentials)
      : stub_(pb::Echo::NewStub(MakeChannel(address, index, credentials))) {}

  void Start(const Operation& op, absl::Duration timeout, Done done) override {
    using Call = AsyncCall<pb::EchoRequest, pb::EchoReply>;
    auto call = std::make_unique<Call>(timeout, std::move(done));
    call->request.set_payload(op.kind == OpKind::kPut ? op.value : op.key);
    const bool is_get = op.kind == OpKind::kGet;
    Call::Run(
        std::move(call),
        [this](auto* c, auto* q, auto* r, auto cb) { stub_->async()->Echo(c, q, r, cb); },
        [is_get](Call& c, const grpc::Status& status) -> OpResult {
          if (!status.ok()) return {paxoskv::FromGrpcStatus(status), std::nullopt};
          if (!is_get) return {absl::OkStatus(), std::nullopt};
          return {absl::OkStatus(), std::move(*c.response.mutable_payload())};
        });
  }

 private:
  std::unique_ptr<pb::Echo::Stub> stub_;
};

// ---- key choice -----------------------------------------------------------------------------

// YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record synthetic
// databases"): item 0 is the most popular. Immutable after construction; callers bring RNGs.
class Zipfian {
 public:
  Zipfian(uint64_t items, double theta) : items_(items), theta_(theta) {
    for (uint64_t i = 1; i <= items; ++i) zeta_n_ += 1.0 / std::pow(static_cast<double>(i), theta);
    const double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1.0 - std::pow(2.0 / static_cast<double>(items), 1.0 - theta)) /
           (1.0 - zeta2 / zeta_n_);
  }
  uint64_t Next(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const double uz = u * zeta_n_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, theta_)) return std::min<uint64_t>(1, items_ - 1);
    const auto item = static_cast<uint64_t>(static_cast<double>(items_) *
                                            std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return std::min(item, items_ - 1);
  }

 private:
  uint64_t items_;
  double theta_;
  double zeta_n_ = 0;
  double alpha_ = 0;
  double eta_ = 0;
};

// ---- the run --------------------------------------------------------------------------------

struct ClientStats {
  std::vector<int64_t> latency_ns;               // measured ops only
  std::map<OpKind, std::vector<int64_t>> by_op;  // measured ops only
  std::map<std::string, int64_t> errors;         // measured ops only, by code name
  int64_t measured_ops = 0;
  int64_t last_return_ns = 0;
  std::vector<Operation> history;
  // The client's own generator state.
  std::mt19937_64 rng;
  int64_t put_count = 0;
  bool measuring = false;   // whether the operation in flight counts
};

struct Config {
  int clients;
  int read_percent;
  int delete_percent;
  size_t value_size;
  uint64_t keys;
  bool zipfian;
  uint64_t seed;
  std::string prefix;
  bool record_history;
  bool stop_on_error;
  absl::Duration op_timeout;
  int64_t ops_limit;
};

// A closed loop per client: `next(c, op)` fills client c's next operation (kind, key, value,
// call_ns) or returns false when the client is done; `finish(c, op, result)` gets it back with
// return_ns set. Both are called for one client by one chain at a time, in order.
using NextFn = std::function<bool(int client, Operation& op)>;
using FinishFn = std::function<void(int client, Operation& op, OpResult result)>;

// The threads driver: one thread per client, each blocked in its call.
void RunOnThreads(const std::vector<std::unique_ptr<Target>>& targets, int clients,
                  absl::Duration timeout, const NextFn& next, const FinishFn& finish) {
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Target& target = *targets[static_cast<size_t>(c) % targets.size()];
      Operation op;
      while (next(c, op)) {
        OpResult result = target.Call(op, timeout);
        op.return_ns = NowNs();
        finish(c, op, std::move(result));
      }
    });
  }
  for (auto& t : threads) t.join();
}

// The callback driver: every client's next call starts from the completion of its previous
// one, on gRPC's callback threads, so a few threads keep all clients busy; this leaves the
// machine's CPU to the system under test.
class CallbackDriver {
 public:
  CallbackDriver(const std::vector<std::unique_ptr<AsyncTarget>>& targets, int clients,
                 absl::Duration timeout, const NextFn& next, const FinishFn& finish)
      : targets_(targets), timeout_(timeout), next_(next), finish_(finish),
        clients_(static_cast<size_t>(clients)), running_(clients) {}

  void Run() {
    for (size_t c = 0; c < clients_.size(); ++c) Issue(static_cast<int>(c));
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* running) { return *running == 0; }, &running_));
  }

 private:
  // Where a client's call stands, so that a completion that runs inside Start (gRPC may run
  // the callback of a call that failed at once on the starting thread) does not recurse.
  enum Phase : int { kStarting, kStarted, kCompletedWhileStarting };
  struct Client {
    Operation op;
    std::atomic<int> phase{kStarted};
  };

  void Issue(int c) {
    Client& client = clients_[static_cast<size_t>(c)];
    while (next_(c, client.op)) {
      client.phase.store(kStarting);
      targets_[static_cast<size_t>(c) % targets_.size()]->Start(
          client.op, timeout_, [this, c](OpResult result) { Complete(c, std::move(result)); });
      if (client.phase.exchange(kStarted) != kCompletedWhileStarting) return;
    }
    absl::MutexLock lock(&mu_);
    --running_;
  }

  void Complete(int c, OpResult result) {
    Client& client = clients_[static_cast<size_t>(c)];
    client.op.return_ns = NowNs();
    finish_(c, client.op, std::move(result));
    // Still inside Start: the starting thread issues the next call.
    if (client.phase.exchange(kCompletedWhileStarting) == kStarting) return;
    Issue(c);
  }

  const std::vector<std::unique_ptr<AsyncTarget>>& targets_;
  const absl::Duration timeout_;
  const NextFn& next_;
  const FinishFn& finish_;
  std::vector<Client> clients_;
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_);
};

// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

nlohmann::ordered_json LatencyJson(std::vector<int64_t>& values) {
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (int64_t v : values) sum += static_cast<double>(v);
  return {{"p50", Percentile(values, 50)},
          {"p90", Percentile(values, 90)},
          {"p99", Percentile(values, 99)},
          {"p99.9", Percentile(values, 99.9)},
          {"max", values.empty() ? 0.0 : static_cast<double>(values.back()) / 1e6},
          {"mean", values.empty() ? 0.0 : sum / static_cast<double>(values.size()) / 1e6}};
}

int Usage(const std::string& problem) {
  std::cerr << "kvbench: " << problem << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "closed-loop load generator: kvbench --target=master|direct|replica|etcd|echo --addr=... "
      "[--clients=N --duration_s=S | --ops=N] [--json] [--history=FILE]");
  absl::ParseCommandLine(argc, argv);
  paxoskv::DisableMutexDeadlockDetection();

  const std::string target_name = absl::GetFlag(FLAGS_target);
  const std::string addr = absl::GetFlag(FLAGS_addr);
  Config config{
      .clients = absl::GetFlag(FLAGS_clients),
      .read_percent = absl::GetFlag(FLAGS_read_percent),
      .delete_percent = absl::GetFlag(FLAGS_delete_percent),
      .value_size = static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_value_size))),
      .keys = static_cast<uint64_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_keys))),
      .zipfian = absl::GetFlag(FLAGS_key_dist) == "zipfian",
      .seed = absl::GetFlag(FLAGS_seed),
      .prefix = absl::GetFlag(FLAGS_prefix),
      .record_history = !absl::GetFlag(FLAGS_history).empty(),
      .stop_on_error = absl::GetFlag(FLAGS_stop_on_error),
      .op_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_op_timeout_ms)),
      .ops_limit = absl::GetFlag(FLAGS_ops),
  };
  if (config.clients < 1) return Usage("--clients must be >= 1");
  if (config.read_percent < 0 || config.delete_percent < 0 ||
      config.read_percent + config.delete_percent > 100) {
    return Usage("--read_percent and --delete_percent must be >= 0 and sum to <= 100");
  }
  if (absl::GetFlag(FLAGS_key_dist) != "uniform" && !config.zipfian) {
    return Usage("--key_dist must be uniform or zipfian");
  }
  if (absl::GetFlag(FLAGS_keys) < 1) return Usage("--keys must be >= 1");
  if (absl::GetFlag(FLAGS_op_timeout_ms) <= 0) return Usage("--op_timeout_ms must be > 0");
  if (config.ops_limit <= 0 && absl::GetFlag(FLAGS_duration_s) <= 0) {
    return Usage("give --duration_s > 0 or --ops > 0");
  }
  if (target_name != "master" && target_name != "direct" && target_name != "replica" &&
      target_name != "etcd" && target_name != "echo") {
    return Usage("--target must be master, direct, replica, etcd or echo");
  }
  // The client library drives these two: a thread per client.
  const bool library_only = target_name == "replica" || target_name == "direct";
  std::string driver = absl::GetFlag(FLAGS_driver);
  if (driver.empty()) driver = library_only ? "threads" : "callback";
  if (driver != "callback" && driver != "threads") {
    return Usage("--driver must be callback or threads");
  }
  if (driver == "threads" && (target_name == "etcd" || target_name == "echo")) {
    return Usage("--target=" + target_name + " runs only on --driver=callback");
  }
  if (driver == "callback" && library_only) {
    return Usage("--target=" + target_name + " runs only on --driver=threads");
  }
  if (target_name == "etcd" && config.delete_percent > 0) {
    return Usage("the etcd target does not support deletes");
  }

  auto tls = paxoskv::TlsCredentials::Load(paxoskv::TlsFilesFromFlags());
  if (!tls.ok()) return Usage(std::string(tls.status().message()));
  const Credentials credentials = tls->ChannelCredentials();

  // Targets: one per connection, clients share them round-robin.
  const int connections = std::max(1, std::min(absl::GetFlag(FLAGS_connections), config.clients));
  std::vector<std::unique_ptr<Target>> targets;
  std::vector<std::unique_ptr<AsyncTarget>> async_targets;
  for (int i = 0; i < connections; ++i) {
    if (target_name == "replica") {
      paxoskv::client::ReplicaClientOptions options;
      options.credentials = credentials;
      targets.push_back(std::make_unique<ClientTarget<paxoskv::client::ReplicaClient>>(
          std::vector<std::string>(absl::StrSplit(addr, ',', absl::SkipWhitespace())), options));
    } else if (target_name == "direct" || (target_name == "master" && driver == "threads")) {
      paxoskv::client::KvClientOptions options;
      // Masters and (direct) replicas alike: a connection of this target's own.
      options.make_channel = [i, credentials](const std::string& address) {
        return MakeChannel(address, i, credentials);
      };
      options.direct = target_name == "direct";
      targets.push_back(
          std::make_unique<ClientTarget<paxoskv::client::KvClient>>(addr, std::move(options)));
    } else if (target_name == "master") {
      const std::vector<std::string> masters = absl::StrSplit(addr, ',', absl::SkipWhitespace());
      if (masters.empty()) return Usage("--addr names no master");
      async_targets.push_back(std::make_unique<MasterAsyncTarget>(
          masters[static_cast<size_t>(i) % masters.size()], i, credentials));
    } else if (target_name == "etcd") {
      async_targets.push_back(std::make_unique<EtcdAsyncTarget>(addr, i, credentials));
    } else {
      async_targets.push_back(std::make_unique<EchoAsyncTarget>(addr, i, credentials));
    }
  }
  auto run = [&](const NextFn& next, const FinishFn& finish) {
    if (async_targets.empty()) {
      RunOnThreads(targets, config.clients, config.op_timeout, next, finish);
    } else {
      CallbackDriver(async_targets, config.clients, config.op_timeout, next, finish).Run();
    }
  };
  auto key_name = [&](uint64_t k) { return absl::StrCat(config.prefix, k); };

  if (absl::GetFlag(FLAGS_preload)) {
    std::atomic<uint64_t> next_key{0};
    std::atomic<int64_t> failures{0};
    run(
        [&](int, Operation& op) {
          const uint64_t k = next_key++;
          if (k >= config.keys) return false;
          op.kind = OpKind::kPut;
          op.key = key_name(k);
          op.value = absl::StrCat("preload-", k, "-");
          op.value.resize(std::max(op.value.size(), config.value_size), 'x');
          op.call_ns = NowNs();
          return true;
        },
        [&](int, Operation&, OpResult result) {
          if (!result.status.ok()) ++failures;
        });
    if (failures > 0) std::cerr << "kvbench: preload: " << failures << " puts failed\n";
  }

  std::unique_ptr<Zipfian> zipf;
  if (config.zipfian) zipf = std::make_unique<Zipfian>(config.keys, 0.99);

  const int64_t start_ns = NowNs();
  const int64_t warmup_end_ns =
      start_ns + static_cast<int64_t>(absl::GetFlag(FLAGS_warmup_s) * 1e9);
  const int64_t end_ns =
      config.ops_limit > 0
          ? std::numeric_limits<int64_t>::max()
          : warmup_end_ns + static_cast<int64_t>(absl::GetFlag(FLAGS_duration_s) * 1e9);
  std::atomic<int64_t> measured_budget{config.ops_limit};
  std::atomic<bool> stop{false};
  std::atomic<bool> stopped_on_error{false};
  std::vector<ClientStats> stats(static_cast<size_t>(config.clients));
  for (int c = 0; c < config.clients; ++c) {
    stats[static_cast<size_t>(c)].rng.seed(config.seed + static_cast<uint64_t>(c));
  }
  std::uniform_int_distribution<uint64_t> uniform_key(0, config.keys - 1);
  std::uniform_int_distribution<int> percent(0, 99);

  run(
      [&](int c, Operation& op) {
        ClientStats& mine = stats[static_cast<size_t>(c)];
        if (stop.load(std::memory_order_relaxed)) return false;
        const int64_t call_ns = NowNs();
        if (call_ns >= end_ns) return false;
        mine.measuring = call_ns >= warmup_end_ns;
        if (mine.measuring && config.ops_limit > 0 && measured_budget.fetch_sub(1) <= 0) {
          return false;
        }
        op = Operation{};
        op.client = c;
        op.key = key_name(config.zipfian ? zipf->Next(mine.rng) : uniform_key(mine.rng));
        const int dice = percent(mine.rng);
        op.kind = dice < config.read_percent ? OpKind::kGet
                  : dice < config.read_percent + config.delete_percent ? OpKind::kDelete
                                                                      : OpKind::kPut;
        if (op.kind == OpKind::kPut) {
          op.value = absl::StrCat("c", c, "-", ++mine.put_count, "-");
          if (op.value.size() < config.value_size) op.value.resize(config.value_size, 'x');
        }
        op.call_ns = NowNs();
        return true;
      },
      [&](int c, Operation& op, OpResult result) {
        ClientStats& mine = stats[static_cast<size_t>(c)];
        const absl::Status& status = result.status;
        if (op.kind == OpKind::kGet) op.output = std::move(result.output);
        op.status = paxoskv::client::StatusCodeName(status.code());
        // A get of an absent key is a success of the benchmark, not an error.
        const bool failed = !status.ok() && status.code() != absl::StatusCode::kNotFound;
        if (mine.measuring) {
          const int64_t latency = op.return_ns - op.call_ns;
          mine.latency_ns.push_back(latency);
          mine.by_op[op.kind].push_back(latency);
          ++mine.measured_ops;
          mine.last_return_ns = std::max(mine.last_return_ns, op.return_ns);
          if (failed) ++mine.errors[op.status];
        }
        if (failed && config.stop_on_error) {
          stopped_on_error = true;
          stop = true;
          std::cerr << "kvbench: client " << c << ": " << status << "\n";
        }
        if (config.record_history) mine.history.push_back(std::move(op));
      });

  // Figures.
  std::vector<int64_t> all;
  std::map<OpKind, std::vector<int64_t>> by_op;
  std::map<std::string, int64_t> errors;
  int64_t measured_ops = 0;
  int64_t last_ns = warmup_end_ns;
  for (ClientStats& s : stats) {
    all.insert(all.end(), s.latency_ns.begin(), s.latency_ns.end());
    for (auto& [kind, values] : s.by_op) {
      by_op[kind].insert(by_op[kind].end(), values.begin(), values.end());
    }
    for (auto& [code, count] : s.errors) errors[code] += count;
    measured_ops += s.measured_ops;
    last_ns = std::max(last_ns, s.last_return_ns);
  }
  const double seconds = std::max(1e-9, static_cast<double>(last_ns - warmup_end_ns) / 1e9);
  const double ops_per_s = static_cast<double>(measured_ops) / seconds;
  int64_t error_total = 0;
  for (auto& [code, count] : errors) error_total += count;

  nlohmann::ordered_json report;
  report["target"] = target_name;
  report["addr"] = addr;
  report["clients"] = config.clients;
  report["read_percent"] = config.read_percent;
  report["delete_percent"] = config.delete_percent;
  report["value_size"] = config.value_size;
  report["keys"] = config.keys;
  report["key_dist"] = config.zipfian ? "zipfian" : "uniform";
  report["ops"] = measured_ops;
  report["duration_s"] = seconds;
  report["ops_per_s"] = ops_per_s;
  report["errors_total"] = error_total;
  report["errors"] = nlohmann::ordered_json::object();
  for (auto& [code, count] : errors) report["errors"][code] = count;
  report["latency_ms"] = LatencyJson(all);
  report["by_op"] = nlohmann::ordered_json::object();
  for (auto& [kind, values] : by_op) {
    nlohmann::ordered_json entry = LatencyJson(values);
    entry["ops"] = values.size();
    report["by_op"][paxoskv::lincheck::OpKindName(kind)] = entry;
  }

  if (absl::GetFlag(FLAGS_json)) {
    std::cout << report.dump() << std::endl;
  } else {
    const auto& l = report["latency_ms"];
    std::cout << absl::StrFormat(
        "kvbench: target=%s addr=%s clients=%d read=%d%% delete=%d%% value=%dB keys=%d dist=%s\n",
        target_name, addr, config.clients, config.read_percent, config.delete_percent,
        config.value_size, config.keys, config.zipfian ? "zipfian" : "uniform");
    std::cout << absl::StrFormat("throughput: %d ops in %.2f s = %.1f ops/s, %d errors\n",
                                 measured_ops, seconds, ops_per_s, error_total);
    std::cout << absl::StrFormat(
        "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
        l["p50"].get<double>(), l["p90"].get<double>(), l["p99"].get<double>(),
        l["p99.9"].get<double>(), l["max"].get<double>(), l["mean"].get<double>());
    for (auto& [name, entry] : report["by_op"].items()) {
      std::cout << absl::StrFormat("  %-6s %8d ops  p50 %.3f  p99 %.3f ms\n", name,
                                   entry["ops"].get<int64_t>(), entry["p50"].get<double>(),
                                   entry["p99"].get<double>());
    }
    for (auto& [code, count] : errors) {
      std::cout << absl::StrFormat("  error %-18s %d\n", code, count);
    }
  }

  if (config.record_history) {
    std::vector<const Operation*> ordered;
    for (ClientStats& s : stats) {
      for (const Operation& op : s.history) ordered.push_back(&op);
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const Operation* a, const Operation* b) { return a->call_ns < b->call_ns; });
    std::ofstream out(absl::GetFlag(FLAGS_history), std::ios::trunc);
    for (const Operation* op : ordered) out << paxoskv::lincheck::ToJsonLine(*op) << "\n";
    out.close();
    if (!out) {
      std::cerr << "kvbench: cannot write " << absl::GetFlag(FLAGS_history) << "\n";
      return 3;
    }
  }
  return stopped_on_error ? 1 : 0;
}
