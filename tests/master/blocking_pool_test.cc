// BlockingPool: grows a thread per waiting task up to its bound, queues beyond it in order,
// and runs what is queued before its destructor returns.
#include "services/master/blocking_pool.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace paxoskv::master {
namespace {

TEST(BlockingPoolTest, GrowsToItsBoundThenQueuesInOrder) {
  absl::Notification release;
  absl::Mutex mu;
  std::vector<int> order;
  std::atomic<int> running{0};
  {
    BlockingPool pool(/*max_threads=*/3);
    // Three tasks block: each needs (and gets) a thread of its own.
    for (int i = 0; i < 3; ++i) {
      pool.Run([&] {
        ++running;
        release.WaitForNotification();
      });
    }
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (running.load() < 3 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
    ASSERT_EQ(running.load(), 3);
    EXPECT_EQ(pool.threads(), 3);
    // Beyond the bound: queued, no new thread, run in FIFO order once threads free up.
    for (int i = 0; i < 5; ++i) {
      pool.Run([&, i] {
        absl::MutexLock lock(&mu);
        order.push_back(i);
      });
    }
    EXPECT_EQ(pool.threads(), 3);
    {
      absl::MutexLock lock(&mu);
      EXPECT_TRUE(order.empty());
    }
    release.Notify();
  }   // The destructor runs what is queued, then joins.
  // Three threads drain the queue concurrently: every task ran exactly once.
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(BlockingPoolTest, ReusesIdleThreads) {
  BlockingPool pool(/*max_threads=*/8);
  for (int i = 0; i < 50; ++i) {
    absl::Notification done;
    pool.Run([&] { done.Notify(); });
    done.WaitForNotification();
    // The task has run; wait until its thread is back waiting for the next one.
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (pool.idle_threads() < pool.threads() && absl::Now() < give_up) {
      absl::SleepFor(absl::Microseconds(100));
    }
  }
  // One task at a time, each finding an idle thread: the first thread served them all.
  EXPECT_EQ(pool.threads(), 1);
}

}  // namespace
}  // namespace paxoskv::master
