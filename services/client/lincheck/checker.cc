// See checker.h. The search follows Porcupine's checkSingle (Lowe, "Testing for
// linearizability", 2017): a doubly-linked list of call/return events in time order; at a
// call, try to linearize the op next (if the model allows it and the pair (set of
// linearized ops, state) is new); at a return whose op is not linearized yet, backtrack.
#include "services/client/lincheck/checker.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace paxoskv::lincheck {
namespace {

bool NeverApplied(const std::string& status) {
  return status == "INVALID_ARGUMENT" || status == "UNIMPLEMENTED" ||
         status == "PERMISSION_DENIED" || status == "UNAUTHENTICATED";
}

// What the search needs of one op: the register state is an interned value id
// (0 = absent).
struct SearchOp {
  OpKind kind;
  int value_id = 0;              // kPut: written; kGet: read (0 = absent)
  int expect_present = -1;       // kDelete: -1 unknown, 0 absent, 1 present
  int64_t call_ns = 0;
  int64_t return_ns = 0;         // kNeverReturned for unknown outcomes
  bool unknown_outcome = false;
  size_t source = 0;             // index into the key's kept ops
};

// Applies `op` to `state`; false when the model forbids it.
bool Step(const SearchOp& op, int state, int* next) {
  switch (op.kind) {
    case OpKind::kGet:
      *next = state;
      return state == op.value_id;
    case OpKind::kPut:
      *next = op.value_id;
      return true;
    case OpKind::kDelete:
      if (op.expect_present >= 0 && (state != 0) != (op.expect_present == 1)) return false;
      *next = 0;
      return true;
  }
  return false;
}

struct Event {
  bool is_call;
  int op;
  int64_t time;
  int match = -1;  // partner event
  int prev = -1;
  int next = -1;
};

class Bitset {
 public:
  explicit Bitset(size_t n) : words_((n + 63) / 64, 0) {}
  void Set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void Clear(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
};

struct CacheKey {
  std::vector<uint64_t> bits;
  int state;
  bool operator==(const CacheKey& other) const {
    return state == other.state && bits == other.bits;
  }
  template <typename H>
  friend H AbslHashValue(H h, const CacheKey& key) {
    return H::combine(std::move(h), key.bits, key.state);
  }
};

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "NOT linearizable";
    case Verdict::kUnknown:
      return "unknown (search budget exhausted)";
  }
  return "?";
}

KeyResult CheckKey(const std::vector<Operation>& all_ops, const CheckOptions& options) {
  KeyResult result;
  if (!all_ops.empty()) result.key = all_ops.front().key;

  // Keep the informative ops and intern their values.
  std::vector<Operation> kept;
  std::vector<SearchOp> ops;
  absl::flat_hash_map<std::string, int> value_ids;
  auto intern = [&](const std::string& value) {
    auto [it, inserted] = value_ids.try_emplace(value, static_cast<int>(value_ids.size()) + 1);
    return it->second;
  };
  for (const Operation& op : all_ops) {
    SearchOp search{.kind = op.kind, .call_ns = op.call_ns, .return_ns = op.return_ns};
    switch (op.kind) {
      case OpKind::kGet:
        if (op.status == "OK") {
          search.value_id = op.output.has_value() ? intern(*op.output) : 0;
        } else if (op.status == "NOT_FOUND") {
          search.value_id = 0;
        } else {
          continue;  // A failed read says nothing.
        }
        break;
      case OpKind::kPut:
      case OpKind::kDelete:
        if (NeverApplied(op.status)) continue;
        if (op.kind == OpKind::kPut) search.value_id = intern(op.value);
        if (op.status == "OK") {
          if (op.kind == OpKind::kDelete && op.deleted.has_value()) {
            search.expect_present = *op.deleted ? 1 : 0;
          }
        } else if (op.kind == OpKind::kDelete && op.status == "NOT_FOUND") {
          search.expect_present = 0;
        } else {
          search.unknown_outcome = true;
          search.return_ns = kNeverReturned;
          ++result.ops_unknown_outcome;
        }
        break;
    }
    if (!search.unknown_outcome && search.return_ns == kNeverReturned) {
      // No return time recorded: a read is then uninformative, a write's outcome unknown.
      if (op.kind == OpKind::kGet) continue;
      search.unknown_outcome = true;
      ++result.ops_unknown_outcome;
    }
    search.source = kept.size();
    kept.push_back(op);
    ops.push_back(search);
  }
  result.ops_checked = ops.size();
  const size_t n = ops.size();
  if (n == 0) return result;

  // Events in time order; at equal times calls come first (the ops overlap: permissive).
  std::vector<Event> events;
  events.reserve(2 * n + 1);
  for (size_t i = 0; i < n; ++i) {
    events.push_back({.is_call = true, .op = static_cast<int>(i), .time = ops[i].call_ns});
    events.push_back({.is_call = false, .op = static_cast<int>(i), .time = ops[i].return_ns});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    return a.is_call && !b.is_call;
  });
  std::vector<int> call_of(n), return_of(n);
  for (size_t e = 0; e < events.size(); ++e) {
    (events[e].is_call ? call_of : return_of)[static_cast<size_t>(events[e].op)] =
        static_cast<int>(e);
  }
  for (size_t i = 0; i < n; ++i) {
    events[static_cast<size_t>(call_of[i])].match = return_of[i];
    events[static_cast<size_t>(return_of[i])].match = call_of[i];
  }
  // Sentinel head at index size(); the list is head -> e0 -> e1 -> ... -> -1.
  const int head = static_cast<int>(events.size());
  events.push_back({.is_call = false, .op = -1, .time = 0});
  for (int e = 0; e < head; ++e) {
    events[static_cast<size_t>(e)].prev = e == 0 ? head : e - 1;
    events[static_cast<size_t>(e)].next = e + 1 < head ? e + 1 : -1;
  }
  events[static_cast<size_t>(head)].next = 0;
  auto at = [&](int e) -> Event& { return events[static_cast<size_t>(e)]; };
  auto lift = [&](int e) {
    Event& call = at(e);
    at(call.prev).next = call.next;
    at(call.next).prev = call.prev;  // a call is always followed by its return
    Event& ret = at(call.match);
    at(ret.prev).next = ret.next;
    if (ret.next != -1) at(ret.next).prev = ret.prev;
  };
  auto unlift = [&](int e) {
    Event& call = at(e);
    Event& ret = at(call.match);
    at(ret.prev).next = call.match;
    if (ret.next != -1) at(ret.next).prev = call.match;
    at(call.prev).next = e;
    at(call.next).prev = e;
  };

  struct Frame {
    int event;
    int state;
  };
  std::vector<Frame> stack;
  absl::flat_hash_set<CacheKey> cache;
  Bitset linearized(n);
  int state = 0;
  int entry = at(head).next;
  size_t best_depth = 0;
  int blocker = -1;
  int blocker_state = 0;
  bool found_blocker = false;

  while (at(head).next != -1) {
    if (++result.steps > options.max_steps_per_key) {
      result.verdict = Verdict::kUnknown;
      result.explanation =
          absl::StrCat("gave up after ", options.max_steps_per_key, " search steps");
      return result;
    }
    Event& event = at(entry);
    const SearchOp& op = ops[static_cast<size_t>(event.op)];
    if (event.is_call) {
      int next_state = 0;
      if (Step(op, state, &next_state)) {
        linearized.Set(static_cast<size_t>(event.op));
        if (cache.insert(CacheKey{linearized.words(), next_state}).second) {
          stack.push_back({entry, state});
          state = next_state;
          lift(entry);
          entry = at(head).next;
          continue;
        }
        linearized.Clear(static_cast<size_t>(event.op));
      }
      entry = event.next;
      continue;
    }
    // A return event: its op must have been linearized by now.
    if (op.unknown_outcome) break;  // Only unknown-outcome ops remain: they may come last.
    if (!found_blocker || stack.size() > best_depth) {
      found_blocker = true;
      best_depth = stack.size();
      blocker = event.op;
      blocker_state = state;
    }
    if (stack.empty()) {
      result.verdict = Verdict::kNotLinearizable;
      break;
    }
    Frame frame = stack.back();
    stack.pop_back();
    linearized.Clear(static_cast<size_t>(at(frame.event).op));
    state = frame.state;
    unlift(frame.event);
    entry = at(frame.event).next;
  }
  if (result.verdict != Verdict::kNotLinearizable) return result;

  // Explain: the op the search could not place at its furthest point, what overlaps it, and
  // the last write that completed before it began.
  const SearchOp& stuck = ops[static_cast<size_t>(blocker)];
  std::set<size_t> window;
  window.insert(static_cast<size_t>(blocker));
  int last_write = -1;
  for (size_t i = 0; i < n; ++i) {
    const SearchOp& other = ops[i];
    const bool overlaps = other.call_ns <= stuck.return_ns && stuck.call_ns <= other.return_ns;
    if (overlaps) window.insert(i);
    if (other.kind != OpKind::kGet && !other.unknown_outcome && other.return_ns < stuck.call_ns &&
        (last_write < 0 || other.return_ns > ops[static_cast<size_t>(last_write)].return_ns)) {
      last_write = static_cast<int>(i);
    }
  }
  if (last_write >= 0) window.insert(static_cast<size_t>(last_write));
  constexpr size_t kWindowOpsMax = 40;
  for (size_t i : window) {
    if (result.window.size() >= kWindowOpsMax) break;
    result.window.push_back(kept[ops[i].source]);
  }
  std::sort(result.window.begin(), result.window.end(),
            [](const Operation& a, const Operation& b) { return a.call_ns < b.call_ns; });
  std::string state_text = "absent";
  for (const auto& [value, id] : value_ids) {
    if (id == blocker_state) state_text = "\"" + value + "\"";
  }
  result.explanation =
      absl::StrCat("no order of the ops explains: ", Describe(kept[stuck.source]),
                   " (after placing ", best_depth, " of ", n, " ops the key was ", state_text,
                   ")");
  return result;
}

CheckResult Check(const std::vector<Operation>& history, const CheckOptions& options) {
  CheckResult result;
  result.ops_total = history.size();
  std::map<std::string, std::vector<Operation>> by_key;
  for (const Operation& op : history) by_key[op.key].push_back(op);
  for (auto& [key, ops] : by_key) {
    KeyResult key_result = CheckKey(ops, options);
    result.ops_dropped += ops.size() - key_result.ops_checked;
    if (key_result.verdict == Verdict::kNotLinearizable) {
      result.verdict = Verdict::kNotLinearizable;
    } else if (key_result.verdict == Verdict::kUnknown &&
               result.verdict == Verdict::kLinearizable) {
      result.verdict = Verdict::kUnknown;
    }
    result.keys.push_back(std::move(key_result));
  }
  return result;
}

std::string FormatReport(const CheckResult& result, bool verbose) {
  std::string out;
  int64_t origin = 0;
  bool have_origin = false;
  for (const KeyResult& key : result.keys) {
    for (const Operation& op : key.window) {
      if (!have_origin || op.call_ns < origin) origin = op.call_ns;
      have_origin = true;
    }
  }
  size_t bad = 0;
  for (const KeyResult& key : result.keys) {
    if (key.verdict != Verdict::kLinearizable) ++bad;
    if (!verbose && key.verdict == Verdict::kLinearizable) continue;
    absl::StrAppend(&out, "key ", key.key, ": ", VerdictName(key.verdict), " (", key.ops_checked,
                    " ops, ", key.ops_unknown_outcome, " unknown outcome, ", key.steps,
                    " steps)\n");
    if (!key.explanation.empty()) absl::StrAppend(&out, "  ", key.explanation, "\n");
    if (!key.window.empty()) {
      absl::StrAppend(&out, "  window (times relative to the first op shown):\n");
      for (const Operation& op : key.window) {
        absl::StrAppend(&out, "    ", Describe(op, origin), "\n");
      }
    }
  }
  absl::StrAppend(&out, "summary: ", VerdictName(result.verdict), "; ", result.keys.size(),
                  " keys (", bad, " failing), ", result.ops_total, " ops (", result.ops_dropped,
                  " dropped as uninformative)\n");
  return out;
}

}  // namespace paxoskv::lincheck
