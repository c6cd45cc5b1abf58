// A recorded client history for the linearizability checker: one operation per JSON line,
// as kvbench --history writes it:
//   {"client":3,"op":"put","key":"k1","value":"c3-17","call_ns":…,"return_ns":…,
//    "status":"OK","output":null}
// `op` is get|put|delete; `output` is the value a get returned (null when not found or for
// other ops; a delete may carry a boolean "deleted" output); `status` is the gRPC code name.
// Times come from one steady clock. A missing or null return_ns means "never returned".
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <istream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace paxoskv::lincheck {

enum class OpKind { kGet, kPut, kDelete };

constexpr int64_t kNeverReturned = std::numeric_limits<int64_t>::max();

struct Operation {
  int64_t client = 0;
  OpKind kind = OpKind::kGet;
  std::string key = {};
  std::string value = {};              // kPut: the value written
  int64_t call_ns = 0;
  int64_t return_ns = kNeverReturned;
  std::string status = "OK";           // gRPC status code name
  std::optional<std::string> output = {};  // kGet: value read; nullopt = absent
  std::optional<bool> deleted = {};     // kDelete: whether the key existed, when known
};

const char* OpKindName(OpKind kind);

// Parses one line. kInvalidArgument on malformed JSON, a missing field or an unknown op.
absl::StatusOr<Operation> ParseOperation(std::string_view line);
// Parses every non-empty line; the error names the 1-based line number.
absl::StatusOr<std::vector<Operation>> ParseHistory(std::istream& in);
// The JSON line for `op` (no trailing newline), in the format above.
std::string ToJsonLine(const Operation& op);
// A short human-readable form: "[c3] put k1=c3-17 @1002.003ms..1004.000ms OK" (times
// relative to origin_ns).
std::string Describe(const Operation& op, int64_t origin_ns = 0);

}  // namespace paxoskv::lincheck
