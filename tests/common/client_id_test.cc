// Tests of libs/common/client_id.h: ids are never 0 (0 means "no id" on the wire) and do not
// repeat across draws.
#include "libs/common/client_id.h"

#include <set>

#include <gtest/gtest.h>

namespace paxoskv {
namespace {

TEST(RandomClientIdTest, IsNonZeroAndFresh) {
  std::set<uint64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t id = RandomClientId();
    EXPECT_NE(id, 0u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace paxoskv
