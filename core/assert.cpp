#include "core/assert.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace steward::core {

namespace {

std::atomic<std::uint64_t> survivable_count{0};
std::atomic<std::int64_t> last_log_second{0};
std::atomic<int> logs_this_second{0};
constexpr int survivable_logs_per_second_max = 5;

} // namespace

void assert_failed(const char* expression, const char* file, int line) noexcept {
  std::fprintf(stderr, "steward: assertion failed: %s at %s:%d\n", expression, file, line);
  std::fflush(stderr);
  std::abort();
}

void survivable_failed(const char* expression, const char* file, int line) noexcept {
  survivable_count.fetch_add(1, std::memory_order_relaxed);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
               .count();
  if (last_log_second.exchange(now, std::memory_order_relaxed) != now)
    logs_this_second.store(0, std::memory_order_relaxed);
  if (logs_this_second.fetch_add(1, std::memory_order_relaxed) < survivable_logs_per_second_max)
    std::fprintf(stderr, "steward: unexpected condition: %s at %s:%d\n", expression, file, line);
#ifndef NDEBUG
  std::abort();
#endif
}

std::uint64_t survivable_failures() noexcept {
  return survivable_count.load(std::memory_order_relaxed);
}

} // namespace steward::core
