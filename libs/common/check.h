// PAXOSKV_CHECK: crash loudly on a broken invariant or a failed fsync (never on input).
// Usage: PAXOSKV_CHECK(promised <= accepted) << "slot=" << slot;
// Thread-safe; the message goes to stderr and the "paxoskv" spdlog logger, then abort().
#pragma once

#include <sstream>
#include <string>

namespace paxoskv {

// Context printed with every check failure of this thread from now on (the simulator sets
// the command that replays the seed it runs). Empty: none.
void SetCheckFailureContext(std::string context);

}  // namespace paxoskv

namespace paxoskv::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `PAXOSKV_CHECK(x) << ...` be a single expression of type void.
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace paxoskv::internal

#define PAXOSKV_CHECK(condition)                        \
  (condition) ? (void)0                                 \
              : ::paxoskv::internal::Voidify() &        \
                    ::paxoskv::internal::CheckFailure(__FILE__, __LINE__, #condition)

#define PAXOSKV_CHECK_OK(status_expr)                                           \
  do {                                                                          \
    const auto& paxoskv_check_status_ = (status_expr);                          \
    PAXOSKV_CHECK(paxoskv_check_status_.ok()) << paxoskv_check_status_.ToString(); \
  } while (0)
