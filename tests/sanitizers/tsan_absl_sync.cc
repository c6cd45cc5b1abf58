// ThreadSanitizer annotations for Debian's Abseil, linked into every binary of the TSan build
// (PAXOSKV_SANITIZE=thread, see CMakeLists.txt) and nowhere else.
//
// Why: libabsl_synchronization from Debian is not built with TSan, so absl::Mutex and
// absl::Notification synchronise through atomics and futexes TSan never sees. Without help,
// every access our code makes under an absl::Mutex would be reported as a race (ReplicaLoop's
// ticker against its gRPC handlers, for one). An Abseil built with TSan annotates itself
// (ABSL_TSAN_MUTEX_* in mutex.cc); this file adds the same happens-before edges from the
// outside. The linker redirects our code's calls (-Wl,--wrap=<symbol>) to the __wrap_
// functions below, which call the real function (__real_) and tell TSan:
//   Lock: acquire after; Unlock: release before;
//   Await*: release before, acquire after; the condition, which Abseil evaluates with the
//     lock held (on the waiting thread or on the one unlocking), acquires before and releases
//     after it reads the guarded state;
//   Notification::Notify releases, WaitForNotification* acquire once notified.
// What this cannot do: TSan does not see these as mutexes, so no lock-order (deadlock) reports
// for them and no "mutex held" lines in race reports. Races in our code on data that is NOT
// guarded by the mutex are still reported: only the lock's own ordering is added.
// Only the functions our code calls are wrapped (nm -u on the TSan binaries); the mangled names
// carry Debian 12's inline namespace (absl::debian3): a wrong name fails the link loudly.
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

// The condition a thread waits on, and the mutex that guards what it reads.
struct Waiting {
  absl::Mutex* mu;
  const absl::Condition* cond;
};

bool EvalWithLockOrdering(Waiting* waiting) {
  __tsan_acquire(waiting->mu);
  const bool holds = waiting->cond->Eval();
  __tsan_release(waiting->mu);
  return holds;
}

}  // namespace

extern "C" {

// absl::Mutex::Lock(), Unlock(), Await(const Condition&),
// AwaitWithTimeout(const Condition&, Duration), AwaitWithDeadline(const Condition&, Time).
void __real__ZN4absl7debian35Mutex4LockEv(absl::Mutex* mu);
void __real__ZN4absl7debian35Mutex6UnlockEv(absl::Mutex* mu);
void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(absl::Mutex* mu,
                                                           const absl::Condition& cond);
bool __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout);
bool __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline);
// absl::Notification::Notify(), WaitForNotification() const,
// WaitForNotificationWithTimeout(Duration) const, WaitForNotificationWithDeadline(Time) const.
void __real__ZN4absl7debian312Notification6NotifyEv(absl::Notification* n);
void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(const absl::Notification* n);
bool __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const absl::Notification* n, absl::Duration timeout);
bool __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const absl::Notification* n, absl::Time deadline);

void __wrap__ZN4absl7debian35Mutex4LockEv(absl::Mutex* mu) {
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  __tsan_acquire(mu);
}

void __wrap__ZN4absl7debian35Mutex6UnlockEv(absl::Mutex* mu) {
  __tsan_release(mu);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
}

void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(absl::Mutex* mu,
                                                           const absl::Condition& cond) {
  Waiting waiting{mu, &cond};
  const absl::Condition annotated(&EvalWithLockOrdering, &waiting);
  __tsan_release(mu);
  __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, annotated);
  __tsan_acquire(mu);
}

bool __wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout) {
  Waiting waiting{mu, &cond};
  const absl::Condition annotated(&EvalWithLockOrdering, &waiting);
  __tsan_release(mu);
  const bool holds =
      __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
          mu, annotated, timeout);
  __tsan_acquire(mu);
  return holds;
}

bool __wrap__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) {
  Waiting waiting{mu, &cond};
  const absl::Condition annotated(&EvalWithLockOrdering, &waiting);
  __tsan_release(mu);
  const bool holds =
      __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
          mu, annotated, deadline);
  __tsan_acquire(mu);
  return holds;
}

void __wrap__ZN4absl7debian312Notification6NotifyEv(absl::Notification* n) {
  __tsan_release(n);
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}

void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(
    const absl::Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(const_cast<absl::Notification*>(n));
}

bool __wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const absl::Notification* n, absl::Duration timeout) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
          n, timeout);
  if (notified) __tsan_acquire(const_cast<absl::Notification*>(n));
  return notified;
}

bool __wrap__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const absl::Notification* n, absl::Time deadline) {
  const bool notified =
      __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
          n, deadline);
  if (notified) __tsan_acquire(const_cast<absl::Notification*>(n));
  return notified;
}

}  // extern "C"
