// ShardRouter: test helper that executes commands on one shard the way the master does
// (libs/common/leader_retry.h: follow the "paxoskv-leader" hint, rotate through replicas on
// UNAVAILABLE or timeouts, back off after a full round), against replicas listening on real
// gRPC addresses. Not thread-safe; one per test.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/leader_retry.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::testing {

class ShardRouter {
 public:
  explicit ShardRouter(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {}

  absl::StatusOr<paxoskv::v1::CommandResult> ExecuteAt(
      const std::string& address, const paxoskv::v1::Command& command,
      absl::Duration timeout = absl::Seconds(2)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    paxoskv::v1::CommandResult result;
    grpc::Status status = Stub(address)->Execute(&context, command, &result);
    if (!status.ok()) return FromGrpcStatus(status, &context);
    return result;
  }

  // Retries until a final answer (OK, NOT_FOUND, INVALID_ARGUMENT, ABORTED, ...) or `budget`
  // ends (then kUnavailable or kDeadlineExceeded).
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(const paxoskv::v1::Command& command,
                                                     absl::Duration budget = absl::Seconds(15)) {
    paxoskv::v1::CommandResult result;
    auto attempt = [&](const std::string& target, absl::Time attempt_deadline) {
      absl::StatusOr<paxoskv::v1::CommandResult> answer =
          ExecuteAt(target, command, attempt_deadline - absl::Now());
      if (!answer.ok()) return answer.status();
      result = *std::move(answer);
      return absl::OkStatus();
    };
    LeaderRetryHooks hooks;
    hooks.answered = [this](const std::string& target) { leader_ = target; };
    const LeaderRetryPolicy policy{.backoff_initial = absl::Milliseconds(20)};
    absl::Status status = RetryAtLeader("shard", addresses_, leader_, absl::Now() + budget,
                                        policy, attempt, hooks);
    if (!status.ok()) return status;
    return result;
  }

  static paxoskv::v1::Command Put(const std::string& key, const std::string& value,
                                  uint64_t client, uint64_t seq) {
    paxoskv::v1::Command command;
    command.set_op(paxoskv::v1::OP_PUT);
    command.set_key(key);
    command.set_value(value);
    command.set_client_id(client);
    command.set_seq(seq);
    return command;
  }
  static paxoskv::v1::Command Get(const std::string& key) {
    paxoskv::v1::Command command;
    command.set_op(paxoskv::v1::OP_GET);
    command.set_key(key);
    return command;
  }

 private:
  paxoskv::v1::Replica::Stub* Stub(const std::string& address) {
    auto& stub = stubs_[address];
    if (!stub) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      // gRPC 1.51 also uses the minimum backoff as the connect timeout: keep it long enough
      // for a busy machine (the initial and maximum backoff keep reconnects quick).
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
      stub = paxoskv::v1::Replica::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
    }
    return stub.get();
  }

  std::vector<std::string> addresses_;
  std::string leader_;
  std::map<std::string, std::unique_ptr<paxoskv::v1::Replica::Stub>> stubs_;
};

}  // namespace paxoskv::testing
