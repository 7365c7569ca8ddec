#include "core/velocity.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace steward::core {

velocity_window::velocity_window(std::uint32_t charges_per_minute) noexcept
  : limit_(charges_per_minute) {
  STEWARD_ASSERT(charges_per_minute <= limits::charges_per_minute_max);
}

namespace {

/// The slot of `second` in the ring: second mod 60, non-negative for seconds before the epoch too.
std::size_t slot_of(std::int64_t second) noexcept {
  const std::int64_t slot = second % velocity_window_seconds;
  return static_cast<std::size_t>(slot < 0 ? slot + velocity_window_seconds : slot);
}

} // namespace

std::uint16_t& velocity_window::at(std::int64_t second) noexcept {
  return per_second_[slot_of(second)];
}

std::uint16_t velocity_window::at(std::int64_t second) const noexcept {
  return per_second_[slot_of(second)];
}

void velocity_window::advance(std::int64_t now) noexcept {
  // A charge at second t counts while now < t + 60. The INT64_MIN check comes first, so that the
  // subtraction never wraps.
  if (latest_ == INT64_MIN || now - latest_ >= velocity_window_seconds) {
    per_second_.fill(0);
    total_ = 0;
  } else {
    for (std::int64_t second = latest_ + 1; second <= now; ++second) {
      total_ -= at(second); // the slot of second - 60, leaving the window
      at(second) = 0;
    }
  }
  latest_ = now;
}

bool velocity_window::allow(std::int64_t now) noexcept {
  now = std::max(now, latest_);
  advance(now);
  if (total_ >= limit_) return false;
  ++at(now);
  ++total_;
  return true;
}

std::uint32_t velocity_window::count(std::int64_t now) const noexcept {
  now = std::max(now, latest_);
  if (latest_ == INT64_MIN || now - latest_ >= velocity_window_seconds) return 0;
  // Every recorded second is in (latest_ - 60, latest_]; those up to now - 60 no longer count.
  std::uint32_t counted = total_;
  for (std::int64_t second = latest_ - velocity_window_seconds + 1;
       second <= now - velocity_window_seconds; ++second)
    counted -= at(second);
  return counted;
}

} // namespace steward::core
