// The servers' memory allocator: which one the build links (jemalloc, or the C library's
// malloc where PAXOSKV_MALLOC=system, as in the sanitizer builds) and the two things the
// replica asks of it. Thread-safe; ConfigureAllocator runs first thing in the replica's main.
//
// jemalloc is the default (TiKV's allocator too): glibc's malloc and free were about a
// quarter of the leader's user-space instructions per put, and with jemalloc the servers
// spend 9 % fewer per put and 7 % fewer per get (bench/callgrind.sh). A replica holding 1 M
// keys is about as large (1.67 and 1.78 x the raw data against 1.73), and times did not move
// beyond this machine's noise (BENCHMARKS.md, 2026-12-04). Its settings are compiled in
// (allocator.cc: malloc_conf); MALLOC_CONF in the environment overrides them.
#pragma once

#include <string>

namespace paxoskv {

// "jemalloc" or "system": what this binary allocates with (the servers log it at start).
std::string AllocatorName();

// Before any thread starts. jemalloc: nothing (its settings are compiled in). The C library's
// malloc: two arenas, not eight per core (allocator.cc says why).
void ConfigureAllocator();

// Hands whole free pages back to the kernel, so that resident memory follows the live state
// after many frees (a snapshot, the log tail's commands applied). Can take tens of
// milliseconds (glibc walks every arena): call it holding no lock.
void ReleaseFreeMemory();

}  // namespace paxoskv
