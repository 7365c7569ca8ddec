#pragma once

// The velocity limit of one session (DESIGN 1: a retry loop must not charge all night): at most
// `charges_per_minute` charges in any 60-second window. The window slides: a charge at second t
// counts until second t + 60, so a burst cannot straddle two fixed minutes and get twice the limit.
//
// Time is whole unix seconds, passed in (the type is pure), so the window keeps one count per
// second of the last 60: a fixed block of 136 bytes with no allocation, whatever the limit. (It
// kept every recorded time in a ring sized by `limits::charges_per_minute_max`, 4.8 KB for each
// session that charged in the last minute.)

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
  /// Moves the window's end to `now` (>= `latest_`): the seconds that leave it are forgotten.
  void advance(std::int64_t now) noexcept;
  std::uint16_t& at(std::int64_t second) noexcept;
  std::uint16_t at(std::int64_t second) const noexcept;

  /// Charges recorded in second s, at index s mod 60, for the 60 seconds up to `latest_`.
  std::array<std::uint16_t, velocity_window_seconds> per_second_{};
  std::uint32_t limit_;
  std::uint32_t total_ = 0; ///< the sum of `per_second_`
  std::int64_t latest_ = INT64_MIN; ///< the latest second seen; nothing recorded while INT64_MIN
};

static_assert(limits::charges_per_minute_max <= UINT16_MAX, "a second's count fits its slot");

} // namespace steward::core
