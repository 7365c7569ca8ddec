#pragma once

// Programmer errors, in the three tiers of STYLE.md. External input is never asserted on: it is
// rejected with an error value instead.
//
//   STEWARD_DEBUG_ASSERT(cond)  invariant checked in debug builds only (hot paths).
//   STEWARD_ASSERT(cond)        always on; prints the source location and aborts.
//   STEWARD_SURVIVABLE(cond)    "should never happen but survivable": when false, logs (rate-limited),
//                               counts in `steward_survivable_failures_total`, aborts only in debug
//                               builds, and evaluates to false so the caller can take its safe path.

#include <atomic>
#include <cstdint>

namespace steward::core {

[[noreturn]] void assert_failed(const char* expression, const char* file, int line) noexcept;

/// Logs (at most a few lines per second, process-wide) and counts a survivable failure.
void survivable_failed(const char* expression, const char* file, int line) noexcept;

/// Number of survivable failures since start; exported as a metric.
std::uint64_t survivable_failures() noexcept;

} // namespace steward::core

#define STEWARD_ASSERT(cond)                                                                       \
  ((cond) ? static_cast<void>(0) : ::steward::core::assert_failed(#cond, __FILE__, __LINE__))

#ifdef NDEBUG
#  define STEWARD_DEBUG_ASSERT(cond) static_cast<void>(0)
#else
#  define STEWARD_DEBUG_ASSERT(cond) STEWARD_ASSERT(cond)
#endif

#define STEWARD_SURVIVABLE(cond)                                                                   \
  ((cond) ? true : (::steward::core::survivable_failed(#cond, __FILE__, __LINE__), false))
