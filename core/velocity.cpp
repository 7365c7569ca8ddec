#include "core/velocity.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace steward::core {

velocity_window::velocity_window(std::uint32_t charges_per_minute) noexcept
  : limit_(charges_per_minute) {
  STEWARD_ASSERT(charges_per_minute <= limits::charges_per_minute_max);
}

void velocity_window::evict(std::int64_t now) noexcept {
  // A time t still counts while now < t + 60, i.e. t > now - 60. `now` near INT64_MIN cannot
  // happen with real clocks, but the subtraction is kept from wrapping anyway.
  std::int64_t oldest_counted =
    now < INT64_MIN + velocity_window_seconds ? INT64_MIN : now - velocity_window_seconds + 1;
  while (size_ > 0 && times_[head_] < oldest_counted) {
    head_ = (head_ + 1) % limits::charges_per_minute_max;
    --size_;
  }
}

bool velocity_window::allow(std::int64_t now) noexcept {
  now = std::max(now, latest_);
  evict(now);
  if (size_ >= limit_) return false;
  times_[(head_ + size_) % limits::charges_per_minute_max] = now;
  ++size_;
  latest_ = now;
  return true;
}

std::uint32_t velocity_window::count(std::int64_t now) const noexcept {
  now = std::max(now, latest_);
  std::int64_t oldest_counted =
    now < INT64_MIN + velocity_window_seconds ? INT64_MIN : now - velocity_window_seconds + 1;
  std::uint32_t counted = 0;
  for (std::uint32_t i = 0; i < size_; ++i)
    if (times_[(head_ + i) % limits::charges_per_minute_max] >= oldest_counted) ++counted;
  return counted;
}

} // namespace steward::core
