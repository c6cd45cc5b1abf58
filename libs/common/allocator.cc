// See allocator.h. PAXOSKV_JEMALLOC is defined when the build links jemalloc.
#include "libs/common/allocator.h"

#include <malloc.h>

#ifdef PAXOSKV_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads this when it starts, before main (MALLOC_CONF in the environment comes
// after it and wins). Two arenas, not four per core: a replica's records are allocated by
// whichever gRPC thread applies them (run to completion), and with more arenas their free
// space scatters (the reason glibc gets two, below). Freed pages go back to the kernel when
// the replica calls ReleaseFreeMemory (every 5 s under traffic, after each snapshot) or after
// jemalloc's default ten seconds. Tried and dropped: a one-second decay by jemalloc's
// background thread held as little memory but cost more CPU per put (pages given back and
// faulted in again).
extern "C" {
const char* malloc_conf = "narenas:2";
}
#endif

namespace paxoskv {

#ifdef PAXOSKV_JEMALLOC

std::string AllocatorName() { return "jemalloc"; }

void ConfigureAllocator() {}

void ReleaseFreeMemory() {
  // Every arena's unused dirty pages, now rather than when their decay runs out. One arena at
  // a time: "arena.<MALLCTL_ARENAS_ALL>.purge" returned 0 and purged nothing (jemalloc 5.3).
  unsigned arenas = 0;
  size_t size = sizeof(arenas);
  if (mallctl("arenas.narenas", &arenas, &size, nullptr, 0) != 0) return;
  for (unsigned i = 0; i < arenas; ++i) {
    const std::string name = "arena." + std::to_string(i) + ".purge";
    mallctl(name.c_str(), nullptr, nullptr, nullptr, 0);
  }
}

#else

std::string AllocatorName() { return "system"; }

void ConfigureAllocator() {
  // glibc's default is eight arenas per core, and with run to completion the state's records
  // are allocated by whichever gRPC thread applies them: their free space scattered over the
  // arenas where malloc_trim could not give it back (a 1 M-key load measured 3.24 x the raw
  // data resident with the default, 1.94 x with two).
  mallopt(M_ARENA_MAX, 2);
}

void ReleaseFreeMemory() { malloc_trim(0); }

#endif

}  // namespace paxoskv
