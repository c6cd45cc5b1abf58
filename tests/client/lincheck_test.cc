// Tests of the linearizability checker (services/client/lincheck): known linearizable and
// known non-linearizable per-key register histories, unknown outcomes, history parsing, and
// a bounded search over a few thousand generated ops.
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/client/lincheck/checker.h"
#include "services/client/lincheck/history.h"

namespace paxoskv::lincheck {
namespace {

Operation Put(int64_t client, const std::string& key, const std::string& value, int64_t call,
              int64_t ret, const std::string& status = "OK") {
  return Operation{.client = client, .kind = OpKind::kPut, .key = key, .value = value,
                   .call_ns = call, .return_ns = ret, .status = status};
}

Operation Get(int64_t client, const std::string& key, std::optional<std::string> output,
              int64_t call, int64_t ret, const std::string& status = "") {
  const std::string code = !status.empty() ? status : (output.has_value() ? "OK" : "NOT_FOUND");
  return Operation{.client = client, .kind = OpKind::kGet, .key = key, .call_ns = call,
                   .return_ns = ret, .status = code, .output = std::move(output)};
}

Operation Delete(int64_t client, const std::string& key, int64_t call, int64_t ret,
                 std::optional<bool> deleted = std::nullopt, const std::string& status = "OK") {
  return Operation{.client = client, .kind = OpKind::kDelete, .key = key, .call_ns = call,
                   .return_ns = ret, .status = status, .deleted = deleted};
}

Verdict VerdictOf(const std::vector<Operation>& history) { return Check(history).verdict; }

TEST(LincheckTest, EmptyHistoryIsLinearizable) {
  EXPECT_EQ(VerdictOf({}), Verdict::kLinearizable);
}

TEST(LincheckTest, SequentialPutsAndGetsAreLinearizable) {
  EXPECT_EQ(VerdictOf({Get(1, "k", std::nullopt, 0, 5), Put(1, "k", "a", 10, 20),
                       Get(1, "k", "a", 30, 40), Put(2, "k", "b", 50, 60),
                       Get(1, "k", "b", 70, 80)}),
            Verdict::kLinearizable);
}

TEST(LincheckTest, StaleReadAfterCompletedWriteIsNotLinearizable) {
  CheckResult result = Check({Put(1, "k", "a", 0, 10), Put(2, "k", "b", 20, 30),
                              Get(3, "k", "a", 40, 50)});
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  ASSERT_EQ(result.keys.size(), 1u);
  const KeyResult& key = result.keys[0];
  EXPECT_EQ(key.key, "k");
  // The window names the stale get and the write it missed.
  bool has_get = false, has_put_b = false;
  for (const Operation& op : key.window) {
    has_get |= op.kind == OpKind::kGet && op.output == "a";
    has_put_b |= op.kind == OpKind::kPut && op.value == "b";
  }
  EXPECT_TRUE(has_get && has_put_b) << FormatReport(result, true);
  EXPECT_TRUE(absl::StrContains(key.explanation, "get k -> a")) << key.explanation;
}

TEST(LincheckTest, LostWriteIsNotLinearizable) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Get(2, "k", std::nullopt, 20, 30)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, ReadOfNeverWrittenValueIsNotLinearizable) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Get(2, "k", "zzz", 5, 30)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, ConcurrentOverlappingOpsAreLinearizable) {
  // put a spans everything: b can be placed first, then a.
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 100), Put(2, "k", "b", 10, 90),
                       Get(3, "k", "b", 20, 30), Get(3, "k", "a", 40, 50)}),
            Verdict::kLinearizable);
  // A read overlapping a write may see it or not.
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Put(2, "k", "b", 20, 60),
                       Get(3, "k", "a", 25, 35), Get(4, "k", "b", 30, 40),
                       Get(3, "k", "b", 70, 80)}),
            Verdict::kLinearizable);
}

TEST(LincheckTest, ReadsThatFlipBackAreNotLinearizable) {
  // Each put happens once: a, then b, then a again cannot be explained.
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 100), Put(2, "k", "b", 0, 100),
                       Get(3, "k", "a", 10, 20), Get(3, "k", "b", 30, 40),
                       Get(3, "k", "a", 50, 60)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, UnknownOutcomePutMayTakeEffectLater) {
  // put b timed out at 30, yet is observed at 60: it may take effect any time after its call.
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Put(2, "k", "b", 20, 30, "UNAVAILABLE"),
                       Get(3, "k", "a", 40, 50), Get(3, "k", "b", 60, 70)}),
            Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Put(2, "k", "b", 20, 30, "DEADLINE_EXCEEDED"),
                       Get(3, "k", "a", 40, 50), Get(3, "k", "b", 1000, 1010)}),
            Verdict::kLinearizable);
}

TEST(LincheckTest, UnknownOutcomePutMayNeverTakeEffect) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Put(2, "k", "b", 20, 30, "UNAVAILABLE"),
                       Get(3, "k", "a", 40, 50), Get(3, "k", "a", 1000, 1010)}),
            Verdict::kLinearizable);
}

TEST(LincheckTest, UnknownOutcomePutCannotTakeEffectBeforeItsCall) {
  EXPECT_EQ(VerdictOf({Get(3, "k", "b", 0, 10), Put(2, "k", "b", 20, 30, "UNAVAILABLE")}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, UnknownOutcomePutTakesEffectAtMostOnce) {
  EXPECT_EQ(VerdictOf({Put(2, "k", "b", 0, 10, "UNAVAILABLE"), Get(3, "k", "b", 20, 30),
                       Put(1, "k", "a", 40, 50), Get(3, "k", "b", 60, 70)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, InvalidArgumentPutNeverTookEffect) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "b", 0, 10, "INVALID_ARGUMENT"), Get(2, "k", "b", 20, 30)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, FailedGetsAreDropped) {
  CheckResult result = Check({Put(1, "k", "a", 0, 10),
                              Get(2, "k", "garbage", 20, 30, "DEADLINE_EXCEEDED"),
                              Get(2, "k", std::nullopt, 40, 50, "UNAVAILABLE")});
  EXPECT_EQ(result.verdict, Verdict::kLinearizable);
  EXPECT_EQ(result.ops_dropped, 2u);
}

TEST(LincheckTest, DeleteMakesTheKeyAbsent) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Delete(1, "k", 20, 30, true),
                       Get(2, "k", std::nullopt, 40, 50)}),
            Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Delete(1, "k", 20, 30),
                       Get(2, "k", "a", 40, 50)}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, DeleteResultMustMatchPresence) {
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Delete(1, "k", 20, 30, false)}),
            Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Delete(1, "k", 0, 10, true)}), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Delete(1, "k", 0, 10, false), Delete(2, "k", 5, 15, false)}),
            Verdict::kLinearizable);
  // A NOT_FOUND delete says the key was absent.
  EXPECT_EQ(VerdictOf({Put(1, "k", "a", 0, 10), Delete(1, "k", 20, 30, std::nullopt, "NOT_FOUND")}),
            Verdict::kNotLinearizable);
}

TEST(LincheckTest, KeysAreCheckedIndependently) {
  CheckResult result = Check({Put(1, "good", "a", 0, 10), Get(2, "good", "a", 20, 30),
                              Put(1, "bad", "a", 0, 10), Get(2, "bad", std::nullopt, 20, 30)});
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable);
  ASSERT_EQ(result.keys.size(), 2u);
  EXPECT_EQ(result.keys[0].key, "bad");
  EXPECT_EQ(result.keys[0].verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.keys[1].key, "good");
  EXPECT_EQ(result.keys[1].verdict, Verdict::kLinearizable);
  const std::string report = FormatReport(result, /*verbose=*/false);
  EXPECT_TRUE(absl::StrContains(report, "key bad: NOT linearizable")) << report;
  EXPECT_FALSE(absl::StrContains(report, "key good")) << report;
}

TEST(LincheckTest, JsonLinesRoundTrip) {
  std::vector<Operation> ops = {
      Put(3, "k1", "c3-17", 100, 200), Get(4, "k1", "c3-17", 150, 250),
      Get(4, "k2", std::nullopt, 300, 400), Delete(5, "k1", 500, 600, true),
      Put(6, "k\"quote", "v", 700, kNeverReturned, "UNAVAILABLE")};
  std::string text;
  for (const Operation& op : ops) text += ToJsonLine(op) + "\n";
  EXPECT_TRUE(absl::StrContains(
      text,
      R"({"client":3,"op":"put","key":"k1","value":"c3-17","call_ns":100,"return_ns":200,)"
      R"("status":"OK","output":null})"))
      << text;
  std::istringstream in(text);
  auto parsed = ParseHistory(in);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ((*parsed)[i].kind, ops[i].kind);
    EXPECT_EQ((*parsed)[i].key, ops[i].key);
    EXPECT_EQ((*parsed)[i].value, ops[i].value);
    EXPECT_EQ((*parsed)[i].output, ops[i].output);
    EXPECT_EQ((*parsed)[i].deleted, ops[i].deleted);
    EXPECT_EQ((*parsed)[i].call_ns, ops[i].call_ns);
    EXPECT_EQ((*parsed)[i].return_ns, ops[i].return_ns);
    EXPECT_EQ((*parsed)[i].status, ops[i].status);
  }
}

TEST(LincheckTest, BadInputNamesTheLine) {
  std::istringstream in(
      R"({"client":1,"op":"get","key":"k","call_ns":1,"return_ns":2,"status":"OK","output":"v"})"
      "\n\n{\"client\":1,\"op\":\"frob\",\"key\":\"k\",\"call_ns\":1,\"status\":\"OK\"}\n");
  auto parsed = ParseHistory(in);
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "line 3")) << parsed.status();
  EXPECT_FALSE(ParseOperation("not json").ok());
  EXPECT_FALSE(ParseOperation(R"({"op":"put","key":"k","call_ns":1,"status":"OK"})").ok());
  EXPECT_FALSE(
      ParseOperation(R"({"op":"get","key":"k","call_ns":5,"return_ns":1,"status":"OK"})").ok());
}

// Generates a linearizable history by construction: each client runs ops one after another;
// every op gets a linearization point strictly inside [call, return], and outputs come from
// applying the ops in linearization-point order to a map. Some writes fail with an unknown
// outcome: half of them took effect at their point, half never did.
std::vector<Operation> GenerateHistory(uint64_t seed, int clients, int ops_per_client,
                                       int keys) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  struct Pending {
    Operation op;
    int64_t point;
    bool applies;
  };
  std::vector<Pending> all;
  for (int c = 0; c < clients; ++c) {
    int64_t now = uniform(0, 50);
    for (int i = 0; i < ops_per_client; ++i) {
      Operation op;
      op.client = c;
      op.key = absl::StrCat("k", uniform(0, keys - 1));
      const int64_t dice = uniform(0, 99);
      op.kind = dice < 50 ? OpKind::kGet : dice < 90 ? OpKind::kPut : OpKind::kDelete;
      if (op.kind == OpKind::kPut) op.value = absl::StrCat("c", c, "-", i);
      op.call_ns = now;
      const int64_t point = now + uniform(1, 100);
      op.return_ns = point + uniform(1, 100);
      bool applies = true;
      if (op.kind != OpKind::kGet && uniform(0, 99) < 3) {
        op.status = "UNAVAILABLE";
        applies = uniform(0, 1) == 0;
      }
      now = op.return_ns + uniform(0, 20);
      all.push_back({op, point, applies});
    }
  }
  std::sort(all.begin(), all.end(),
            [](const Pending& a, const Pending& b) { return a.point < b.point; });
  std::map<std::string, std::string> state;
  std::vector<Operation> history;
  for (Pending& p : all) {
    Operation& op = p.op;
    switch (op.kind) {
      case OpKind::kGet:
        if (auto it = state.find(op.key); it != state.end()) {
          op.output = it->second;
          op.status = "OK";
        } else {
          op.status = "NOT_FOUND";
        }
        break;
      case OpKind::kPut:
        if (p.applies) state[op.key] = op.value;
        break;
      case OpKind::kDelete:
        if (p.applies) {
          if (op.status == "OK") op.deleted = state.count(op.key) > 0;
          state.erase(op.key);
        }
        break;
    }
    history.push_back(op);
  }
  return history;
}

// Goal: the search stays bounded on a realistic history of a few thousand ops (8 concurrent
// clients, 10 keys), accepts it, and rejects it once one read is corrupted. Method: the step
// budget (not a clock) bounds the run; a budget overrun would show as kUnknown.
TEST(LincheckTest, ChecksThousandsOfOpsWithinABoundedSearch) {
  std::vector<Operation> history = GenerateHistory(/*seed=*/42, /*clients=*/8,
                                                   /*ops_per_client=*/500, /*keys=*/10);
  ASSERT_EQ(history.size(), 4000u);
  const CheckOptions options{.max_steps_per_key = 5'000'000};
  CheckResult result = Check(history, options);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << FormatReport(result, false);
  EXPECT_EQ(result.keys.size(), 10u);

  // Corrupt one successful read in the middle of the history.
  for (size_t i = history.size() / 2; i < history.size(); ++i) {
    if (history[i].kind == OpKind::kGet && history[i].output.has_value()) {
      history[i].output = "never-written";
      break;
    }
  }
  CheckResult corrupted = Check(history, options);
  EXPECT_EQ(corrupted.verdict, Verdict::kNotLinearizable) << FormatReport(corrupted, false);
}

class LincheckSeedTest : public ::testing::TestWithParam<uint64_t> {};

// Goal: generated linearizable histories with heavy overlap are accepted for many seeds.
TEST_P(LincheckSeedTest, AcceptsGeneratedLinearizableHistories) {
  SCOPED_TRACE(absl::StrCat("seed=", GetParam()));
  std::vector<Operation> history = GenerateHistory(GetParam(), /*clients=*/6,
                                                   /*ops_per_client=*/60, /*keys=*/2);
  CheckResult result = Check(history, {.max_steps_per_key = 5'000'000});
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << FormatReport(result, false);
}

INSTANTIATE_TEST_SUITE_P(Seeds, LincheckSeedTest, ::testing::Range<uint64_t>(1, 21));

}  // namespace
}  // namespace paxoskv::lincheck
