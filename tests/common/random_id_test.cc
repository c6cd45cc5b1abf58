// Tests of libs/common/random_id.h: ids are never 0 (0 means "no id" on the wire) and do not
// repeat across draws.
#include "libs/common/random_id.h"

#include <set>

#include <gtest/gtest.h>

namespace paxoskv {
namespace {

TEST(RandomIdTest, IsNonZeroAndFresh) {
  std::set<uint64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t id = RandomId();
    EXPECT_NE(id, 0u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace paxoskv
