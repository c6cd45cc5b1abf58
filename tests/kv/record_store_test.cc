// Tests of RecordStore (libs/kv/record_store.h): lookups and order against a std::map model
// under seeded random puts, replacements and erases of every record size, the byte counts it
// returns, compaction bounding the bytes mapped, and memory given back when keys go.
#include "libs/kv/record_store.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>

#include "libs/ring/hash_ring.h"

namespace paxoskv::kv {
namespace {

constexpr size_t kChunk = 256 << 10;  // record_store.cc's chunk size

using Model = std::map<std::pair<uint64_t, std::string>, std::string>;

KeyRef Ref(const std::string& key) { return {ring::StableHash(key), key}; }

// The store holds exactly the model, in the model's (hash, key) order.
void ExpectSame(const RecordStore& store, const Model& model) {
  ASSERT_EQ(store.size(), model.size());
  auto it = model.begin();
  size_t record_bytes = 0;
  for (const RecordStore::Record& record : store.set()) {
    ASSERT_EQ(record.hash(), it->first.first);
    ASSERT_EQ(record.key(), it->first.second);
    ASSERT_EQ(record.value(), it->second);
    const RecordStore::Record* found = store.Find(record.ref());
    ASSERT_NE(found, nullptr);
    ASSERT_EQ(found->value(), it->second);
    // Two one-byte sizes below 128, up to three bytes beyond.
    auto size_bytes = [](size_t n) { return n < (1 << 7) ? 1 : n < (1 << 14) ? 2 : 3; };
    record_bytes += size_bytes(record.key().size()) + size_bytes(record.value().size()) +
                    record.key().size() + record.value().size();
    ++it;
  }
  EXPECT_EQ(store.live_bytes(), record_bytes);
}

TEST(RecordStoreTest, PutFindEraseAndTheBytesTheyReturn) {
  RecordStore store;
  EXPECT_EQ(store.Find(Ref("a")), nullptr);
  EXPECT_EQ(store.Put(Ref("a"), "one"), 4);    // new: key + value
  EXPECT_EQ(store.Put(Ref("a"), "two"), 0);    // same size: in place
  EXPECT_EQ(store.Put(Ref("a"), "three"), 2);  // longer
  EXPECT_EQ(store.Put(Ref("a"), ""), -5);      // empty values are values
  ASSERT_NE(store.Find(Ref("a")), nullptr);
  EXPECT_EQ(store.Find(Ref("a"))->value(), "");
  EXPECT_EQ(store.Put(Ref("b"), "bee"), 4);
  EXPECT_EQ(store.Erase(Ref("a")), 1u);
  EXPECT_EQ(store.Erase(Ref("a")), 0u);
  EXPECT_EQ(store.Find(Ref("a")), nullptr);
  EXPECT_EQ(store.Find(Ref("b"))->value(), "bee");
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.live_bytes(), 2u + 4u);
}

// Seeded random operations over keys of every size class: small records packed in chunks,
// records past 64 KiB in mappings of their own, replacements that grow, shrink or keep the
// size, and erases. After every batch the store equals the model and the bytes mapped stay
// within twice the live bytes plus the chunk being filled and a few waiting for compaction.
TEST(RecordStoreTest, MatchesAMapUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    RecordStore store;
    Model model;
    auto value_of = [&rng]() {
      const uint64_t dice = rng() % 100;
      const size_t size = dice < 2    ? 64 * 1024 + rng() % (200 * 1024)  // own mapping
                          : dice < 10 ? rng() % 20000
                                      : rng() % 200;
      return std::string(size, static_cast<char>('a' + rng() % 26));
    };
    for (int batch = 0; batch < 40; ++batch) {
      for (int op = 0; op < 500; ++op) {
        const std::string key = "k" + std::to_string(rng() % 2000);
        const KeyRef ref = Ref(key);
        if (rng() % 4 == 0) {
          auto it = model.find({ref.hash, key});
          const size_t expected = it == model.end() ? 0 : key.size() + it->second.size();
          ASSERT_EQ(store.Erase(ref), expected);
          if (it != model.end()) model.erase(it);
        } else {
          std::string value = value_of();
          auto it = model.find({ref.hash, key});
          const int64_t expected =
              it == model.end()
                  ? static_cast<int64_t>(key.size() + value.size())
                  : static_cast<int64_t>(value.size()) - static_cast<int64_t>(it->second.size());
          ASSERT_EQ(store.Put(ref, value), expected);
          model[{ref.hash, key}] = std::move(value);
        }
      }
      ExpectSame(store, model);
      EXPECT_LE(store.mapped_bytes(), 2 * store.live_bytes() + 4 * kChunk) << "batch " << batch;
    }
    // Everything erased: at most the chunk being filled stays mapped.
    for (const auto& [position, value] : model) ASSERT_GT(store.Erase(Ref(position.second)), 0u);
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(store.live_bytes(), 0u);
    EXPECT_LE(store.mapped_bytes(), kChunk);
  }
}

// Replacing every value with one of another size turns whole chunks into garbage; compaction
// moves what is live and unmaps them, so the bytes mapped follow the live bytes rather than
// everything ever written.
TEST(RecordStoreTest, CompactionGivesBackChunksOfReplacedValues) {
  RecordStore store;
  constexpr int kKeys = 20000;
  for (int i = 0; i < kKeys; ++i) store.Put(Ref("key" + std::to_string(i)), std::string(100, 'x'));
  const size_t packed = store.mapped_bytes();
  EXPECT_LE(packed, store.live_bytes() + kChunk);  // packed: no per-key overhead
  for (int round = 0; round < 10; ++round) {
    const std::string value(round % 2 == 0 ? 101 : 100, static_cast<char>('a' + round));
    for (int i = 0; i < kKeys; ++i) store.Put(Ref("key" + std::to_string(i)), value);
    EXPECT_LE(store.mapped_bytes(), 2 * store.live_bytes() + 4 * kChunk) << "round " << round;
  }
  for (int i = 0; i < kKeys; ++i) {
    const RecordStore::Record* record = store.Find(Ref("key" + std::to_string(i)));
    ASSERT_NE(record, nullptr);
    ASSERT_EQ(record->value(), std::string(100, 'j'));
  }
}

// A same-size replacement writes over the old bytes: nothing new is mapped.
TEST(RecordStoreTest, SameSizeReplacementsWriteInPlace) {
  RecordStore store;
  for (int i = 0; i < 5000; ++i) store.Put(Ref("key" + std::to_string(i)), std::string(100, 'x'));
  const size_t mapped = store.mapped_bytes();
  const size_t live = store.live_bytes();
  for (int i = 0; i < 5000; ++i) store.Put(Ref("key" + std::to_string(i)), std::string(100, 'y'));
  EXPECT_EQ(store.mapped_bytes(), mapped);
  EXPECT_EQ(store.live_bytes(), live);
  EXPECT_EQ(store.Find(Ref("key42"))->value(), std::string(100, 'y'));
}

}  // namespace
}  // namespace paxoskv::kv
