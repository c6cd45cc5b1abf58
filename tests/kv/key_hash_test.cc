// KeyHash must be XXH64 with seed 0: the ring places keys with the same function.
#include "libs/kv/key_hash.h"

#include <gtest/gtest.h>

namespace paxoskv::kv {
namespace {

TEST(KeyHashTest, MatchesXxh64GoldenVectors) {
  EXPECT_EQ(KeyHash("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(KeyHash(""), 0xef46db3751d8e999ULL);
}

}  // namespace
}  // namespace paxoskv::kv
