// See logging.h.
#include "libs/common/logging.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace paxoskv {

void InitLogging(const std::string& level) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
  if (auto existing = spdlog::get(name); existing) return existing;
  try {
    auto logger = spdlog::stderr_color_mt(name);
    logger->set_level(spdlog::get_level());
    return logger;
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // Created concurrently by another thread.
  }
}

std::shared_ptr<spdlog::logger> NullLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("null", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

}  // namespace paxoskv
