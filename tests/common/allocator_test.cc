// The servers' allocator (libs/common/allocator.h): the one the build chose serves malloc, with
// the settings compiled in, and ReleaseFreeMemory gives freed pages back.
#include "libs/common/allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef PAXOSKV_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace paxoskv {
namespace {

#ifdef PAXOSKV_JEMALLOC

template <typename T>
T Read(const char* name) {
  T value{};
  size_t size = sizeof(value);
  EXPECT_EQ(mallctl(name, &value, &size, nullptr, 0), 0) << name;
  return value;
}

uint64_t DirtyBytes() {
  uint64_t epoch = 1;
  size_t size = sizeof(epoch);
  EXPECT_EQ(mallctl("epoch", &epoch, &size, &epoch, size), 0);  // refreshes the stats
  return Read<size_t>("stats.arenas.4096.pdirty") * Read<size_t>("arenas.page");
}

TEST(AllocatorTest, JemallocServesMallocWithTheSettingsCompiledIn) {
  EXPECT_EQ(AllocatorName(), "jemalloc");
  ConfigureAllocator();
  EXPECT_EQ(Read<unsigned>("opt.narenas"), 2u);
  // malloc itself is jemalloc's: this thread's allocation counter moves with it.
  const uint64_t before = Read<uint64_t>("thread.allocated");
  void* block = std::malloc(1 << 20);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, 1 << 20);
  EXPECT_GE(Read<uint64_t>("thread.allocated") - before, uint64_t{1} << 20);
  std::free(block);
}

TEST(AllocatorTest, ReleaseFreeMemoryGivesDirtyPagesBack) {
  std::vector<char*> blocks;
  for (int i = 0; i < 4096; ++i) {  // 64 MiB in small blocks, as a log tail's commands are
    blocks.push_back(static_cast<char*>(std::malloc(16 << 10)));
    std::memset(blocks.back(), 1, 16 << 10);
  }
  for (char* block : blocks) std::free(block);
  blocks.clear();
  ReleaseFreeMemory();
  EXPECT_LT(DirtyBytes(), uint64_t{4} << 20);  // of the 64 MiB freed
}

#else

TEST(AllocatorTest, TheSystemMallocWhenAsked) {
  EXPECT_EQ(AllocatorName(), "system");
  ConfigureAllocator();
  void* block = std::malloc(1 << 20);
  ASSERT_NE(block, nullptr);
  std::free(block);
  ReleaseFreeMemory();  // malloc_trim: nothing to check but that it returns
}

#endif

}  // namespace
}  // namespace paxoskv
