// See check.h.
#include "libs/common/check.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace paxoskv {
namespace {
thread_local std::string check_failure_context;
}  // namespace

void SetCheckFailureContext(std::string context) { check_failure_context = std::move(context); }

}  // namespace paxoskv

namespace paxoskv::internal {

using ::paxoskv::check_failure_context;

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  const std::string message = stream_.str();
  std::fprintf(stderr, "FATAL %s\n", message.c_str());
  if (!check_failure_context.empty()) {
    std::fprintf(stderr, "FATAL context: %s\n", check_failure_context.c_str());
  }
  std::fflush(stderr);
  if (auto logger = spdlog::default_logger(); logger) {
    logger->critical("{}", message);
    logger->flush();
  }
  std::abort();
}

}  // namespace paxoskv::internal
