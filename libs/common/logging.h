// Named spdlog loggers. main() calls InitLogging once; libraries receive a logger from their
// owner (the Paxos core through NodeConfig) or call GetLogger(name).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace paxoskv {

// Sets the default pattern and level ("trace".."off"); thread-safe, call once from main().
void InitLogging(const std::string& level);
// Returns (creating on first use) a stderr logger with this name. Thread-safe.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);
// A logger that discards everything (tests, benchmarks).
std::shared_ptr<spdlog::logger> NullLogger();

}  // namespace paxoskv
