// Tests of OP_SCAN_RANGE: pages in (hash, key) order over plain, wrapping and whole-ring
// ranges return exactly the keys in range, each once, across pages.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "libs/kv/kv_state_machine.h"
#include "tests/kv/test_util.h"

namespace paxoskv::kv {
namespace {

using namespace testing_util;  // NOLINT: command builders

bool InRange(uint64_t begin, uint64_t end, uint64_t hash) {
  if (begin == end) return true;
  if (begin < end) return hash >= begin && hash < end;
  return hash >= begin || hash < end;
}

// Pages through the range with `limit` keys per page; returns the keys in page order.
std::vector<std::string> ScanAll(KvStateMachine& kv, uint64_t begin, uint64_t end,
                                 uint32_t limit, int* pages) {
  std::vector<std::string> keys;
  pb::Command scan = Scan(begin, end, limit);
  *pages = 0;
  SlotId slot = 1000;
  while (true) {
    pb::CommandResult page = kv.Apply(++slot, scan);
    EXPECT_EQ(page.code(), pb::RESULT_CODE_OK);
    EXPECT_LE(page.entries_size(), static_cast<int>(limit));
    ++*pages;
    for (const auto& entry : page.entries()) {
      keys.push_back(entry.key());
      EXPECT_EQ(entry.value(), "v-" + entry.key());
    }
    if (page.scan_done()) break;
    EXPECT_GT(page.entries_size(), 0);
    if (page.entries_size() == 0 || *pages > 10000) break;
    const std::string& last = page.entries(page.entries_size() - 1).key();
    scan.set_scan_started(true);
    scan.set_scan_after_key(last);
    scan.set_scan_after_hash(KeyHash(last));
  }
  return keys;
}

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 500; ++i) {
      const std::string key = "key-" + std::to_string(i);
      kv_.Apply(static_cast<SlotId>(i + 1), Put(key, "v-" + key));
      all_.push_back(key);
    }
  }

  void ExpectExactScan(uint64_t begin, uint64_t end, uint32_t limit) {
    SCOPED_TRACE(testing::Message() << "begin=" << begin << " end=" << end
                                    << " limit=" << limit);
    int pages = 0;
    std::vector<std::string> got = ScanAll(kv_, begin, end, limit, &pages);
    std::set<std::string> expected;
    for (const auto& key : all_) {
      if (InRange(begin, end, KeyHash(key))) expected.insert(key);
    }
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected);
    EXPECT_EQ(got.size(), expected.size()) << "a key was returned twice";
    // Pages are in (hash, key) order.
    for (size_t i = 1; i < got.size(); ++i) {
      EXPECT_LT(std::make_pair(KeyHash(got[i - 1]), got[i - 1]),
                std::make_pair(KeyHash(got[i]), got[i]));
    }
    EXPECT_GE(pages, static_cast<int>(expected.size() / limit));
  }

  KvStateMachine kv_;
  std::vector<std::string> all_;
};

TEST_F(ScanTest, PlainRangeAcrossPages) {
  ExpectExactScan(1ULL << 62, 3ULL << 62, 7);
}

TEST_F(ScanTest, WrappingRangeAcrossPages) {
  ExpectExactScan(3ULL << 62, 1ULL << 62, 9);
  ExpectExactScan(0xF000000000000000ULL, 0x1000000000000000ULL, 4);
}

TEST_F(ScanTest, WholeRingWhenBeginEqualsEnd) {
  ExpectExactScan(12345, 12345, 50);
  ExpectExactScan(0, 0, 1000);
}

TEST_F(ScanTest, EmptyRangeIsDoneAtOnce) {
  // A range with no keys (tiny interval) finishes on the first page.
  pb::CommandResult page = kv_.Apply(2000, Scan(5, 6, 10));
  EXPECT_EQ(page.entries_size(), 0);
  EXPECT_TRUE(page.scan_done());
}

TEST_F(ScanTest, LastFullPageReportsDone) {
  int pages = 0;
  std::vector<std::string> got = ScanAll(kv_, 0, 0, 500, &pages);
  EXPECT_EQ(got.size(), 500u);
  EXPECT_EQ(pages, 1);
}

TEST_F(ScanTest, LimitIsCappedByScanLimitMax) {
  KvStateMachine small(KvLimits{.dedup_window_per_client = 4, .dedup_clients_max = 4,
                                .scan_limit_max = 3});
  for (int i = 0; i < 10; ++i) {
    small.Apply(static_cast<SlotId>(i + 1), Put("k" + std::to_string(i), "v"));
  }
  pb::CommandResult page = small.Apply(100, Scan(0, 0, 1000));
  EXPECT_EQ(page.entries_size(), 3);
  EXPECT_FALSE(page.scan_done());
}

TEST_F(ScanTest, ResumesCorrectlyWhenKeysAreDeletedBetweenPages) {
  // Migration deletes each page from the source before asking for the next one.
  pb::Command scan = Scan(0, 0, 25);
  std::set<std::string> seen;
  SlotId slot = 5000;
  while (true) {
    pb::CommandResult page = kv_.Apply(++slot, scan);
    pb::Command remove;
    remove.set_op(pb::OP_DELETE_KEYS);
    for (const auto& entry : page.entries()) {
      EXPECT_TRUE(seen.insert(entry.key()).second);
      remove.add_keys(entry.key());
    }
    kv_.Apply(++slot, remove);
    if (page.scan_done()) break;
    const std::string& last = page.entries(page.entries_size() - 1).key();
    scan.set_scan_started(true);
    scan.set_scan_after_key(last);
    scan.set_scan_after_hash(KeyHash(last));
  }
  EXPECT_EQ(seen.size(), 500u);
  EXPECT_EQ(kv_.key_count(), 0u);
}

}  // namespace
}  // namespace paxoskv::kv
