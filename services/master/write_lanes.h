// WriteLanes: the exactly-once ids of the master's anonymous writes (those without a caller
// client_id; safety review F5.1). A lane is a client id that carries at most one request at a
// time: a request takes a free lane (or opens a new one with a fresh random id), uses the
// lane's next seq with ack_below = that seq (every earlier seq of the lane has finished), keeps
// it for all its retries and re-routes, and gives it back when it has finished. A request
// stuck for seconds (a failover, a migration) therefore holds back only its own lane: the
// replicas' per-client dedup windows of the other lanes move on without trimming its seq away.
// At most `lanes_max` lanes exist. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::master {

class WriteLanes {
 public:
  explicit WriteLanes(size_t lanes_max) : lanes_max_(lanes_max) {}

  // Fills `command`'s client_id, seq and ack_below from a free lane, which the request keeps
  // until Release. kResourceExhausted (command unchanged) when lanes_max lanes are all busy.
  absl::Status Stamp(paxoskv::v1::Command* command) ABSL_LOCKS_EXCLUDED(mu_);
  // Gives the lane back once the request has finished (answered, or given up: a copy still in
  // flight is then refused as stale by the lane's next request's ack_below, never applied).
  // REQUIRES: `command` was stamped by Stamp and not released since.
  void Release(const paxoskv::v1::Command& command) ABSL_LOCKS_EXCLUDED(mu_);

  // Lanes opened so far (for tests and diagnostics).
  size_t lanes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Lane {
    uint64_t client_id;
    uint64_t next_seq;
  };

  const size_t lanes_max_;
  mutable absl::Mutex mu_;
  std::vector<Lane> free_ ABSL_GUARDED_BY(mu_);   // last released first
  size_t opened_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace paxoskv::master
