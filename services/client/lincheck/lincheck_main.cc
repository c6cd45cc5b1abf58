// paxoskv-lincheck: checks kvbench --history files (JSON lines) for linearizability.
//   paxoskv-lincheck [--verbose] [--max_steps=N] HISTORY.jsonl [MORE.jsonl ...]
// Several files are merged into one history (their times must come from one clock, e.g. one
// kvbench run, or several runs on one machine: steady_clock is machine-wide).
// Exit codes: 0 linearizable, 1 not linearizable, 2 bad input or usage, 3 search gave up.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "services/client/lincheck/checker.h"
#include "services/client/lincheck/history.h"

namespace {

constexpr char kUsage[] =
    "usage: paxoskv-lincheck [--verbose] [--max_steps=N] HISTORY.jsonl [MORE.jsonl ...]";

}  // namespace

int main(int argc, char** argv) {
  using paxoskv::lincheck::Verdict;
  bool verbose = false;
  paxoskv::lincheck::CheckOptions options;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verbose" || arg == "-v") {
      verbose = true;
    } else if (absl::StartsWith(arg, "--max_steps=")) {
      if (!absl::SimpleAtoi(arg.substr(12), &options.max_steps_per_key)) {
        std::cerr << "paxoskv-lincheck: bad --max_steps\n" << kUsage << "\n";
        return 2;
      }
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << "\n";
      return 0;
    } else if (absl::StartsWith(arg, "-") && arg != "-") {
      std::cerr << "paxoskv-lincheck: unknown flag " << arg << "\n" << kUsage << "\n";
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << kUsage << "\n";
    return 2;
  }
  std::vector<paxoskv::lincheck::Operation> history;
  for (const std::string& file : files) {
    std::ifstream stream;
    std::istream* in = &std::cin;
    if (file != "-") {
      stream.open(file);
      if (!stream) {
        std::cerr << "paxoskv-lincheck: cannot open " << file << "\n";
        return 2;
      }
      in = &stream;
    }
    auto ops = paxoskv::lincheck::ParseHistory(*in);
    if (!ops.ok()) {
      std::cerr << "paxoskv-lincheck: " << file << ": " << ops.status().message() << "\n";
      return 2;
    }
    history.insert(history.end(), ops->begin(), ops->end());
  }
  const auto result = paxoskv::lincheck::Check(history, options);
  std::cout << paxoskv::lincheck::FormatReport(result, verbose);
  switch (result.verdict) {
    case Verdict::kLinearizable:
      return 0;
    case Verdict::kNotLinearizable:
      return 1;
    case Verdict::kUnknown:
      return 3;
  }
  return 3;
}
