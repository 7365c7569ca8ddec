#pragma once

// A circuit breaker for one provider (DESIGN 5): when a provider keeps failing, steward stops
// sending it requests for a cool-down instead of piling retries onto it, then lets a few probes
// through to see whether it has recovered.
//
//   closed    ──(N consecutive failures, or the failure ratio over the window)──▶ open
//   open      ──(cool-down elapsed, on the next `admit`)──▶ half-open
//   half-open ──(a probe succeeds)──▶ closed
//   half-open ──(a probe fails)──▶ open, for a fresh cool-down
//
// Every admitted request gets a ticket, and its outcome is reported with that ticket. An outcome
// whose ticket was issued before the last state change is ignored: a slow request admitted while
// closed must not close a breaker that opened meanwhile, nor count as a probe's answer.
//
// Pure: time is passed in as milliseconds on any monotonic clock, no allocation, not thread-safe
// (one owner, the client's io thread).

#include "core/limits.hpp"

#include <array>
#include <cstdint>

namespace steward::core {

/// The ratio window is kept in ten buckets, each at least a millisecond wide.
inline constexpr std::uint32_t circuit_breaker_window_ms_min = 10;

struct circuit_breaker_config {
  /// Consecutive failures that open the breaker; 0 disables this rule.
  std::uint32_t consecutive_failures_max = limits::breaker_consecutive_failures_default;
  /// The failure-ratio rule: over the last `window_ms`, once at least `window_outcomes_min`
  /// outcomes were seen, a failure share of `failure_percent` or more opens the breaker.
  /// `window_outcomes_min` 0 disables this rule.
  std::uint32_t window_ms = limits::breaker_window_ms_default;
  std::uint32_t window_outcomes_min = limits::breaker_window_outcomes_min_default;
  std::uint32_t failure_percent = limits::breaker_failure_percent_default;
  /// How long an open breaker rejects everything.
  std::uint32_t cooldown_ms = limits::breaker_cooldown_ms_default;
  /// Requests a half-open breaker lets through at once.
  std::uint32_t probes_max = limits::breaker_probes_default;
};

/// False, with the offending member named in `problem`, when a value is out of range.
bool validate(const circuit_breaker_config& config, const char** problem) noexcept;

enum class breaker_state : std::uint8_t { closed, open, half_open };

/// What `admit` answered. `rejected` tickets need no outcome.
struct breaker_ticket {
  enum class kind : std::uint8_t { rejected, allowed, probe } admission = kind::rejected;
  std::uint32_t epoch = 0; ///< the breaker's state epoch when it was issued

  bool admitted() const noexcept { return admission != kind::rejected; }
};

class circuit_breaker {
public:
  /// `config` must pass `validate` (a bad one is a programmer error and aborts).
  explicit circuit_breaker(const circuit_breaker_config& config = {});

  /// Asks to send one request at `now_ms`. Closed: allowed. Open: rejected until the cool-down has
  /// passed, then the breaker turns half-open. Half-open: a probe while fewer than `probes_max`
  /// probes are out, rejected otherwise.
  breaker_ticket admit(std::int64_t now_ms) noexcept;

  /// Reports the outcome of an admitted request. A failure is anything that says the provider is
  /// unwell (no connection, timeout, 5xx); an answer it chose to give (4xx) is a success.
  void record_success(const breaker_ticket& ticket, std::int64_t now_ms) noexcept;
  void record_failure(const breaker_ticket& ticket, std::int64_t now_ms) noexcept;
  /// The request ended without saying anything about the provider (cancelled, client stopping):
  /// only frees its probe slot.
  void record_abandoned(const breaker_ticket& ticket) noexcept;

  /// The state as of the last call; an open breaker whose cool-down has passed still reads `open`
  /// until the next `admit`.
  breaker_state state() const noexcept { return state_; }
  /// Times the breaker went from closed or half-open to open.
  std::uint64_t opens() const noexcept { return opens_; }
  /// When an open breaker will let a probe through.
  std::int64_t open_until_ms() const noexcept { return open_until_ms_; }

private:
  static constexpr std::uint32_t window_buckets = 10;
  struct bucket {
    std::int64_t index = -1; ///< now / bucket width when it was last written; -1: never
    std::uint32_t successes = 0;
    std::uint32_t failures = 0;
  };

  bool current(const breaker_ticket& ticket) const noexcept;
  void count(std::int64_t now_ms, bool success) noexcept;
  bool ratio_exceeded(std::int64_t now_ms) const noexcept;
  void open(std::int64_t now_ms) noexcept;
  void close() noexcept;
  void enter(breaker_state next) noexcept;

  circuit_breaker_config config_;
  std::int64_t bucket_ms_;
  std::array<bucket, window_buckets> buckets_{};
  std::int64_t open_until_ms_ = 0;
  std::uint64_t opens_ = 0;
  std::uint32_t epoch_ = 0;
  std::uint32_t consecutive_failures_ = 0;
  std::uint32_t probes_out_ = 0;
  breaker_state state_ = breaker_state::closed;
};

} // namespace steward::core
