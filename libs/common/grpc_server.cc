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

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace paxoskv
