// See grpc_server.h.
#include "libs/common/grpc_server.h"

#include <algorithm>

#include "absl/synchronization/mutex.h"

namespace paxoskv {

void ConfigureSyncServer(grpc::ServerBuilder* builder, const std::string& name, int max_threads) {
  grpc::ResourceQuota quota(name);
  quota.SetMaxThreads(max_threads);
  builder->SetResourceQuota(quota);
  // Pollers beyond the quota could not start anyway; keep at least the default 2.
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                               std::max(2, max_threads / 4));
}

grpc::ChannelArguments PaxoskvChannelArguments(int max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return args;
}

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace paxoskv
