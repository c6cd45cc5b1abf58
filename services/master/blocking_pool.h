// BlockingPool: threads for the master's slow paths, the work that blocks: a request parked
// behind a migrating range, the Router's retries and leader search after a failed batch, a
// "wrong shard" re-route. The fast path (admitted at once, batched to a cached leader) never
// blocks and never comes here; it runs on gRPC's callback threads.
//
// Elastic: a thread is started when a task arrives and none is idle, up to `max_threads`;
// beyond that tasks wait in FIFO order. Threads stay until destruction (the pool only grows
// while requests are parked, as the sync server's threads did). Thread-safe. The destructor
// runs every task already queued, then joins the threads.
#pragma once

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace paxoskv::master {

class BlockingPool {
 public:
  explicit BlockingPool(int max_threads);
  ~BlockingPool();

  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Run(absl::AnyInvocable<void() &&> task) ABSL_LOCKS_EXCLUDED(mu_);
  int threads() const ABSL_LOCKS_EXCLUDED(mu_);
  int idle_threads() const ABSL_LOCKS_EXCLUDED(mu_);   // waiting for a task

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mu_);

  const int max_threads_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paxoskv::master
