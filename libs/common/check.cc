// See check.h.
#include "libs/common/check.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace paxoskv::internal {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  const std::string message = stream_.str();
  std::fprintf(stderr, "FATAL %s\n", message.c_str());
  std::fflush(stderr);
  if (auto logger = spdlog::default_logger(); logger) {
    logger->critical("{}", message);
    logger->flush();
  }
  std::abort();
}

}  // namespace paxoskv::internal
