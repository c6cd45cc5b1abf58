// Replays every checked-in input of tests/fuzz through its harness, in every build (GCC
// included, no libFuzzer needed): the seed corpus (corpus/<target>/, so the harnesses and
// their seeds keep working) and the inputs the fuzzers found (regressions/<target>/, one file
// per finding, named after it; see tests/fuzz/README.md). A broken property aborts the
// process, which fails the test; the input's path is printed just before it runs.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_targets.h"

namespace paxoskv::fuzz {
namespace {

namespace fs = std::filesystem;
using Harness = int (*)(const uint8_t*, size_t);

// Runs every file under PAXOSKV_FUZZ_DIR/<dir>/<target> (sorted); returns how many.
size_t ReplayAll(const std::string& dir, const std::string& target, Harness harness) {
  const fs::path root = fs::path(PAXOSKV_FUZZ_DIR) / dir / target;
  if (!fs::exists(root)) return 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.c_str(), bytes.size());
    harness(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return files.size();
}

TEST(FuzzReplayTest, PaxosNodeCorpus) {
  EXPECT_GT(ReplayAll("corpus", "paxos_node", FuzzPaxosNode), 0u);
}
TEST(FuzzReplayTest, PaxosNodeRegressions) {
  ReplayAll("regressions", "paxos_node", FuzzPaxosNode);
}
TEST(FuzzReplayTest, KvSnapshotCorpus) {
  EXPECT_GT(ReplayAll("corpus", "kv_snapshot", FuzzKvSnapshot), 0u);
}
TEST(FuzzReplayTest, KvSnapshotRegressions) {
  ReplayAll("regressions", "kv_snapshot", FuzzKvSnapshot);
}
TEST(FuzzReplayTest, CommandCorpus) { EXPECT_GT(ReplayAll("corpus", "command", FuzzCommand), 0u); }
TEST(FuzzReplayTest, CommandRegressions) { ReplayAll("regressions", "command", FuzzCommand); }

}  // namespace
}  // namespace paxoskv::fuzz
