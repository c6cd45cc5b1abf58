// Unit tests of libs/ring: frozen golden vectors (the owner of a key must never change between
// builds or machines), balance, minimal movement when a shard is added, and Diff's exactness.
#include "libs/ring/hash_ring.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::ring {
namespace {

HashRing MustCreate(uint64_t epoch, std::vector<uint32_t> shards,
                    uint32_t vnodes = kDefaultVirtualNodes) {
  auto ring = HashRing::Create(epoch, std::move(shards), vnodes);
  EXPECT_TRUE(ring.ok()) << ring.status();
  return *std::move(ring);
}

// The moving range holding `hash`, or nullptr.
const MovingRange* FindMoving(const std::vector<MovingRange>& moving, uint64_t hash) {
  const MovingRange* found = nullptr;
  for (const auto& m : moving) {
    if (HashRing::RangeContains(m.range, hash)) {
      EXPECT_EQ(found, nullptr) << "ranges overlap at hash " << hash;
      found = &m;
    }
  }
  return found;
}

// Diff's contract at one hash: it is in a range iff the owner changes, with those owners.
void ExpectDiffExactAt(const HashRing& from, const HashRing& to,
                       const std::vector<MovingRange>& moving, uint64_t hash) {
  const uint32_t before = from.OwnerOfHash(hash);
  const uint32_t after = to.OwnerOfHash(hash);
  const MovingRange* m = FindMoving(moving, hash);
  if (before == after) {
    EXPECT_EQ(m, nullptr) << "hash " << hash << " does not move but lies in a range";
  } else {
    ASSERT_NE(m, nullptr) << "hash " << hash << " moves " << before << "->" << after;
    EXPECT_EQ(m->from_shard, before);
    EXPECT_EQ(m->to_shard, after);
  }
}

TEST(StableHashTest, MatchesFrozenXxh64Vectors) {
  EXPECT_EQ(StableHash("abc"), 0x44bc2cf5ad770999ULL);  // Published XXH64 vector.
  EXPECT_EQ(StableHash(""), 0xef46db3751d8e999ULL);     // Published XXH64 vector.
  EXPECT_EQ(StableHash("a"), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(StableHash("paxoskv"), 0x861bef9d563fd8ebULL);
  EXPECT_EQ(StableHash("user:42"), 0xdc1fea7da8d2d1c2ULL);
}

TEST(StableHashTest, VirtualNodePositionHashesDocumentedName) {
  EXPECT_EQ(VirtualNodePosition(1, 0), StableHash("shard-1-vnode-0"));
  EXPECT_EQ(VirtualNodePosition(1, 0), 0x5c4543d83c2e4770ULL);
  EXPECT_EQ(VirtualNodePosition(2, 7), 0xc5db85ce9c8725c0ULL);
}

TEST(HashRingTest, OwnerOfFixedKeysIsFrozen) {
  const HashRing ring = MustCreate(1, {1, 2, 3});
  const std::vector<std::pair<std::string, uint32_t>> golden = {
      {"apple", 1},  {"banana", 2}, {"cherry", 3}, {"date", 3},     {"elderberry", 2},
      {"fig", 2},    {"grape", 3},  {"user:1", 1}, {"user:2", 3},   {"user:3", 2},
      {"key-0000", 2}, {"key-0001", 3}};
  for (const auto& [key, owner] : golden) {
    EXPECT_EQ(ring.OwnerOf(key), owner) << "key " << key;
    EXPECT_EQ(ring.OwnerOfHash(StableHash(key)), owner) << "key " << key;
  }
  // Shard order given to Create does not matter.
  const HashRing shuffled = MustCreate(1, {3, 1, 2});
  for (const auto& [key, owner] : golden) EXPECT_EQ(shuffled.OwnerOf(key), owner);
  EXPECT_EQ(shuffled.shards(), (std::vector<uint32_t>{1, 2, 3}));
}

TEST(HashRingTest, ThreeShardsShareRandomKeysEvenly) {
  const HashRing ring = MustCreate(1, {1, 2, 3});
  std::mt19937_64 rng(12345);
  constexpr int kKeys = 100000;
  std::map<uint32_t, int> counts;
  for (int i = 0; i < kKeys; ++i) counts[ring.OwnerOf(absl::StrCat("key-", rng()))]++;
  ASSERT_EQ(counts.size(), 3u);
  for (const auto& [shard, count] : counts) {
    EXPECT_GT(count, kKeys / 3 * 0.85) << "shard " << shard;
    EXPECT_LT(count, kKeys / 3 * 1.15) << "shard " << shard;
  }
}

TEST(HashRingTest, AddingFourthShardMovesAboutAQuarterAllToIt) {
  const HashRing ring = MustCreate(7, {1, 2, 3});
  auto next = ring.WithShard(4);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->epoch(), 8u);
  EXPECT_EQ(next->virtual_nodes(), ring.virtual_nodes());
  std::mt19937_64 rng(777);
  constexpr int kKeys = 100000;
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = absl::StrCat("k", rng());
    const uint32_t before = ring.OwnerOf(key);
    const uint32_t after = next->OwnerOf(key);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 4u) << "key " << key << " moved between old shards";
    }
  }
  EXPECT_GT(moved, kKeys * 20 / 100);
  EXPECT_LT(moved, kKeys * 30 / 100);
}

TEST(HashRingTest, DiffCoversExactlyTheMovedHashes) {
  const HashRing ring = MustCreate(1, {1, 2, 3});
  const HashRing next = *ring.WithShard(9);
  const std::vector<MovingRange> moving = ring.Diff(next);
  ASSERT_FALSE(moving.empty());
  for (const auto& m : moving) {
    EXPECT_EQ(m.to_shard, 9u);
    EXPECT_NE(m.from_shard, 9u);
  }
  std::mt19937_64 rng(4242);
  for (int i = 0; i < 200000; ++i) ExpectDiffExactAt(ring, next, moving, rng());
  // Boundaries of every range, one step either side, and every virtual-node position of both
  // rings (where owners change) with its neighbours.
  for (const auto& m : moving) {
    for (uint64_t h : {m.range.begin(), m.range.begin() - 1, m.range.end(), m.range.end() - 1}) {
      ExpectDiffExactAt(ring, next, moving, h);
    }
    EXPECT_TRUE(HashRing::RangeContains(m.range, m.range.begin()));
    EXPECT_TRUE(HashRing::RangeContains(m.range, m.range.end() - 1));
    EXPECT_FALSE(HashRing::RangeContains(m.range, m.range.end()));
  }
  for (uint32_t shard : {1u, 2u, 3u, 9u}) {
    for (uint32_t v = 0; v < kDefaultVirtualNodes; ++v) {
      const uint64_t p = VirtualNodePosition(shard, v);
      for (uint64_t h : {p - 1, p, p + 1}) ExpectDiffExactAt(ring, next, moving, h);
    }
  }
  // The wrap point of the hash space.
  for (uint64_t h : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}, ~uint64_t{0} - 1}) {
    ExpectDiffExactAt(ring, next, moving, h);
  }
}

TEST(HashRingTest, RemovingAShardMovesOnlyItsKeysAndSpreadsThem) {
  const HashRing ring = MustCreate(4, {1, 2, 3, 4});
  auto next = ring.WithoutShard(3);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->epoch(), 5u);
  EXPECT_EQ(next->shards(), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_EQ(next->virtual_nodes(), ring.virtual_nodes());
  const std::vector<MovingRange> moving = ring.Diff(*next);
  std::map<uint32_t, int> targets;
  for (const auto& m : moving) {
    EXPECT_EQ(m.from_shard, 3u);
    EXPECT_NE(m.to_shard, 3u);
    ++targets[m.to_shard];
  }
  EXPECT_EQ(targets.size(), 3u) << "the removed shard's ranges go to every other shard";
  std::mt19937_64 rng(31337);
  for (int i = 0; i < 200000; ++i) ExpectDiffExactAt(ring, *next, moving, rng());
  for (uint32_t v = 0; v < kDefaultVirtualNodes; ++v) {
    const uint64_t p = VirtualNodePosition(3, v);
    for (uint64_t h : {p - 1, p, p + 1}) ExpectDiffExactAt(ring, *next, moving, h);
  }
  // Removing what was added gives back the old owners.
  const HashRing added = *ring.WithShard(9);
  const HashRing removed = *added.WithoutShard(9);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t h = rng();
    EXPECT_EQ(removed.OwnerOfHash(h), ring.OwnerOfHash(h));
  }
}

TEST(HashRingTest, WithoutShardRejectsUnknownAndLastShard) {
  const HashRing ring = MustCreate(1, {1, 2});
  EXPECT_EQ(ring.WithoutShard(3).status().code(), absl::StatusCode::kNotFound);
  const HashRing one = *ring.WithoutShard(2);
  EXPECT_EQ(one.WithoutShard(1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HashRingTest, DiffHandlesRangeWrappingPastZero) {
  // Find a small ring whose last-to-first segment (across 2^64 -> 0) moves, so the wrapping
  // case is exercised for certain, not by luck.
  bool found_wrapping = false;
  for (uint32_t new_shard = 2; new_shard < 200 && !found_wrapping; ++new_shard) {
    const HashRing ring = MustCreate(1, {1}, 4);
    const HashRing next = *ring.WithShard(new_shard);
    const std::vector<MovingRange> moving = ring.Diff(next);
    for (const auto& m : moving) {
      if (m.range.end() <= m.range.begin()) {
        found_wrapping = true;
        EXPECT_TRUE(HashRing::RangeContains(m.range, ~uint64_t{0}));
        EXPECT_TRUE(HashRing::RangeContains(m.range, 0));
      }
    }
    std::mt19937_64 rng(new_shard);
    for (int i = 0; i < 20000; ++i) ExpectDiffExactAt(ring, next, moving, rng());
    for (uint64_t h : {uint64_t{0}, ~uint64_t{0}}) ExpectDiffExactAt(ring, next, moving, h);
    for (const auto& m : moving) {
      for (uint64_t h : {m.range.begin(), m.range.begin() - 1, m.range.end(), m.range.end() - 1}) {
        ExpectDiffExactAt(ring, next, moving, h);
      }
    }
  }
  EXPECT_TRUE(found_wrapping);
}

TEST(HashRingTest, DiffOfIdenticalRingsIsEmpty) {
  const HashRing ring = MustCreate(1, {1, 2});
  EXPECT_TRUE(ring.Diff(MustCreate(2, {2, 1})).empty());
}

TEST(HashRingTest, RangeContainsHandlesPlainWrappingAndWholeRanges) {
  v1::HashRange plain;
  plain.set_begin(10);
  plain.set_end(20);
  EXPECT_TRUE(HashRing::RangeContains(plain, 10));
  EXPECT_TRUE(HashRing::RangeContains(plain, 19));
  EXPECT_FALSE(HashRing::RangeContains(plain, 20));
  EXPECT_FALSE(HashRing::RangeContains(plain, 9));
  v1::HashRange wrapping;
  wrapping.set_begin(~uint64_t{0} - 1);
  wrapping.set_end(2);
  EXPECT_TRUE(HashRing::RangeContains(wrapping, ~uint64_t{0}));
  EXPECT_TRUE(HashRing::RangeContains(wrapping, 0));
  EXPECT_TRUE(HashRing::RangeContains(wrapping, 1));
  EXPECT_FALSE(HashRing::RangeContains(wrapping, 2));
  EXPECT_FALSE(HashRing::RangeContains(wrapping, ~uint64_t{0} - 2));
  v1::HashRange whole;
  whole.set_begin(5);
  whole.set_end(5);
  EXPECT_TRUE(HashRing::RangeContains(whole, 0));
  EXPECT_TRUE(HashRing::RangeContains(whole, 5));
  EXPECT_TRUE(HashRing::RangeContains(whole, 4));
}

// RangeMinus against RangeContains, hash by hash: plain, wrapping and whole ranges, cuts
// inside, across either end, around the wrap and over everything.
TEST(HashRingTest, RangeMinusKeepsExactlyTheHashesOutsideTheCut) {
  auto make = [](uint64_t begin, uint64_t end) {
    v1::HashRange range;
    range.set_begin(begin);
    range.set_end(end);
    return range;
  };
  const uint64_t max = ~uint64_t{0};
  const std::vector<v1::HashRange> ranges = {make(100, 200), make(max - 50, 50),      make(7, 7),
                                             make(0, 0),     make(150, 160),          make(50, 150),
                                             make(190, 300), make(max - 10, 10),      make(0, 120),
                                             make(180, 0),   make(max - 60, max - 55)};
  std::mt19937_64 rng(99);
  for (const auto& from : ranges) {
    for (const auto& cut : ranges) {
      const std::vector<v1::HashRange> left = HashRing::RangeMinus(from, cut);
      auto in_left = [&](uint64_t h) {
        int count = 0;
        for (const auto& r : left) count += HashRing::RangeContains(r, h) ? 1 : 0;
        EXPECT_LE(count, 1) << "pieces overlap at " << h;
        return count == 1;
      };
      std::vector<uint64_t> probes = {0, 1, max, max - 1};
      for (const auto& r : {from, cut}) {
        for (uint64_t d : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
          probes.push_back(r.begin() + d);
          probes.push_back(r.end() + d);
        }
      }
      for (int i = 0; i < 200; ++i) probes.push_back(rng() % 400);
      for (int i = 0; i < 200; ++i) probes.push_back(rng());
      for (uint64_t h : probes) {
        EXPECT_EQ(in_left(h), HashRing::RangeContains(from, h) && !HashRing::RangeContains(cut, h))
            << "from [" << from.begin() << "," << from.end() << ") cut [" << cut.begin() << ","
            << cut.end() << ") hash " << h;
      }
    }
  }
}

TEST(HashRingTest, CreateRejectsBadInput) {
  EXPECT_EQ(HashRing::Create(1, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashRing::Create(1, {1, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashRing::Create(1, {1, 2, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashRing::Create(1, {1}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HashRing::Create(1, {1}, 1).ok());
}

TEST(HashRingTest, WithShardRejectsExistingShard) {
  const HashRing ring = MustCreate(1, {1, 2});
  EXPECT_EQ(ring.WithShard(2).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ring.WithShard(0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paxoskv::ring
