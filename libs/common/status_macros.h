// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status (Debian 12's Abseil has no public ones).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PAXOSKV_CONCAT_INNER_(a, b) a##b
#define PAXOSKV_CONCAT_(a, b) PAXOSKV_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status paxoskv_status_ = (expr);       \
    if (!paxoskv_status_.ok()) return paxoskv_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  PAXOSKV_ASSIGN_OR_RETURN_IMPL_(PAXOSKV_CONCAT_(paxoskv_statusor_, __LINE__), lhs, expr)

#define PAXOSKV_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()
