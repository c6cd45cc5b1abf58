// See blocking_pool.h.
#include "services/master/blocking_pool.h"

#include <algorithm>
#include <utility>

namespace paxoskv::master {

BlockingPool::BlockingPool(int max_threads) : max_threads_(std::max(1, max_threads)) {}

BlockingPool::~BlockingPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (auto& thread : threads) thread.join();
}

void BlockingPool::Run(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
  // Every queued task needs an idle thread of its own, or a new one while there is room.
  if (queue_.size() > static_cast<size_t>(idle_) &&
      static_cast<int>(threads_.size()) < max_threads_ && !stopping_) {
    threads_.emplace_back([this] { Work(); });
  }
}

int BlockingPool::threads() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

int BlockingPool::idle_threads() const {
  absl::MutexLock lock(&mu_);
  return idle_;
}

void BlockingPool::Work() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_;
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      --idle_;
      if (queue_.empty()) return;   // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace paxoskv::master
