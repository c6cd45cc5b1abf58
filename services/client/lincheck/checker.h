// A linearizability checker for key-value histories (Wing & Gong's search with Lowe's
// memoisation, as Porcupine implements it).
//
// Model: each key is an independent register (P-compositionality: a history is linearizable
// iff its restriction to every key is), initially absent. put sets the value, delete makes
// the key absent (and, when the history says whether it deleted something, must agree),
// get returns the value or "absent".
//
// Outcomes: an OK put/delete took effect between its call and return. A put/delete that
// failed with a status saying "never applied" (INVALID_ARGUMENT, UNIMPLEMENTED,
// PERMISSION_DENIED, UNAUTHENTICATED) is dropped. Any other failure (UNAVAILABLE,
// DEADLINE_EXCEEDED, CANCELLED, INTERNAL, UNKNOWN, ...) leaves the outcome unknown: the op
// may take effect at any time after its call, or never (its return time is +infinity).
// A get that did not return OK or NOT_FOUND carries no information and is dropped.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "services/client/lincheck/history.h"

namespace paxoskv::lincheck {

enum class Verdict {
  kLinearizable,
  kNotLinearizable,
  kUnknown,  // the search hit CheckOptions::max_steps_per_key
};

const char* VerdictName(Verdict verdict);

struct CheckOptions {
  // Bounds the search per key; past it the key's verdict is kUnknown.
  uint64_t max_steps_per_key = 200'000'000;
};

struct KeyResult {
  std::string key;
  Verdict verdict = Verdict::kLinearizable;
  size_t ops_checked = 0;           // after dropping uninformative ops
  size_t ops_unknown_outcome = 0;   // puts/deletes whose outcome is unknown
  uint64_t steps = 0;
  // kNotLinearizable: the operation no order could place (the search got furthest before
  // it), the ops concurrent with it, and the last write that completed before it was called.
  std::vector<Operation> window;
  std::string explanation;
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;  // worst over keys (not-linearizable > unknown)
  size_t ops_total = 0;
  size_t ops_dropped = 0;
  std::vector<KeyResult> keys;  // sorted by key
};

// Checks a whole history (any order of lines).
CheckResult Check(const std::vector<Operation>& history, const CheckOptions& options = {});

// Checks the ops of one key (all must have the same key).
KeyResult CheckKey(const std::vector<Operation>& ops, const CheckOptions& options = {});

// One line per key (or only the failing keys when !verbose), each failing key's window, and a
// summary line.
std::string FormatReport(const CheckResult& result, bool verbose);

}  // namespace paxoskv::lincheck
