#pragma once

// The velocity limit of one session (DESIGN 1: a retry loop must not charge all night): at most
// `charges_per_minute` charges in any 60-second window. The window slides: a charge at second t
// counts until second t + 60, so a burst cannot straddle two fixed minutes and get twice the limit.
//
// The recorded times live in a ring sized by the ceiling `limits::charges_per_minute_max`, so the
// state is a fixed block with no allocation. Time is passed in (unix seconds): the type is pure.

#include "core/limits.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace steward::core {

/// Seconds a charge counts against the velocity limit.
inline constexpr std::int64_t velocity_window_seconds = 60;

class velocity_window {
public:
  /// `charges_per_minute` is at most `limits::charges_per_minute_max` (options validate it before
  /// it gets here; a larger value is a programmer error and aborts). Zero refuses every charge,
  /// which is how a session's charging is switched off.
  explicit velocity_window(
    std::uint32_t charges_per_minute = limits::charges_per_minute_default) noexcept;

  /// True, and records a charge at `now`, when fewer than the limit were recorded in the 60 s
  /// before `now`; false (and nothing recorded) otherwise. Call it only for a charge that will go
  /// ahead if allowed: a refused call does not count.
  ///
  /// If the clock steps back, `now` is recorded as the latest time seen instead, which can only
  /// make the window stricter, never let more through.
  bool allow(std::int64_t now) noexcept;

  /// Charges that count against the limit at `now`.
  std::uint32_t count(std::int64_t now) const noexcept;

  std::uint32_t limit() const noexcept { return limit_; }

private:
  /// Forgets charges that no longer count at `now` (they are at the front: times are recorded in
  /// non-decreasing order).
  void evict(std::int64_t now) noexcept;

  std::array<std::int64_t, limits::charges_per_minute_max> times_{};
  std::uint32_t limit_;
  std::uint32_t head_ = 0; ///< index of the oldest recorded time
  std::uint32_t size_ = 0;
  std::int64_t latest_ = INT64_MIN;
};

} // namespace steward::core
