#include "core/circuit_breaker.hpp"

#include "core/assert.hpp"

#include <algorithm>

namespace steward::core {

bool validate(const circuit_breaker_config& config, const char** problem) noexcept {
  const char* found = nullptr;
  if (config.window_outcomes_min > 0 && config.window_ms < circuit_breaker_window_ms_min)
    found = "window_ms";
  else if (config.window_outcomes_min > 0 &&
           (config.failure_percent == 0 || config.failure_percent > 100))
    found = "failure_percent";
  else if (config.cooldown_ms == 0 || config.cooldown_ms > limits::breaker_cooldown_ms_max)
    found = "cooldown_ms";
  else if (config.probes_max == 0 || config.probes_max > limits::breaker_probes_max)
    found = "probes_max";
  if (problem != nullptr)
    *problem = found;
  return found == nullptr;
}

circuit_breaker::circuit_breaker(const circuit_breaker_config& config)
  : config_(config), bucket_ms_(std::max<std::int64_t>(1, config.window_ms / window_buckets)) {
  STEWARD_ASSERT(validate(config, nullptr));
}

breaker_ticket circuit_breaker::admit(std::int64_t now_ms) noexcept {
  using kind = breaker_ticket::kind;
  if (state_ == breaker_state::open) {
    if (now_ms < open_until_ms_)
      return {kind::rejected, epoch_};
    enter(breaker_state::half_open);
  }
  if (state_ == breaker_state::half_open) {
    if (probes_out_ >= config_.probes_max)
      return {kind::rejected, epoch_};
    ++probes_out_;
    return {kind::probe, epoch_};
  }
  return {kind::allowed, epoch_};
}

void circuit_breaker::record_success(const breaker_ticket& ticket, std::int64_t now_ms) noexcept {
  if (!current(ticket))
    return;
  if (state_ == breaker_state::half_open) {
    close();
    return;
  }
  consecutive_failures_ = 0;
  count(now_ms, true);
}

void circuit_breaker::record_failure(const breaker_ticket& ticket, std::int64_t now_ms) noexcept {
  if (!current(ticket))
    return;
  if (state_ == breaker_state::half_open) {
    open(now_ms);
    return;
  }
  ++consecutive_failures_;
  count(now_ms, false);
  if ((config_.consecutive_failures_max > 0 &&
       consecutive_failures_ >= config_.consecutive_failures_max) ||
      ratio_exceeded(now_ms))
    open(now_ms);
}

void circuit_breaker::record_abandoned(const breaker_ticket& ticket) noexcept {
  if (current(ticket) && ticket.admission == breaker_ticket::kind::probe && probes_out_ > 0)
    --probes_out_;
}

bool circuit_breaker::current(const breaker_ticket& ticket) const noexcept {
  // Outcomes are only reported for closed or half-open tickets; an open breaker has no current
  // admitted ticket because entering it starts a new epoch.
  return ticket.admitted() && ticket.epoch == epoch_;
}

void circuit_breaker::count(std::int64_t now_ms, bool success) noexcept {
  if (config_.window_outcomes_min == 0)
    return;
  const std::int64_t index = std::max<std::int64_t>(0, now_ms) / bucket_ms_;
  bucket& slot = buckets_[static_cast<std::size_t>(index % window_buckets)];
  if (slot.index != index)
    slot = bucket{index, 0, 0};
  if (success)
    ++slot.successes;
  else
    ++slot.failures;
}

bool circuit_breaker::ratio_exceeded(std::int64_t now_ms) const noexcept {
  if (config_.window_outcomes_min == 0)
    return false;
  const std::int64_t index = std::max<std::int64_t>(0, now_ms) / bucket_ms_;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  for (const bucket& slot : buckets_) {
    // The window is the current bucket and the nine before it; a bucket from the future (the
    // clock stepped back) counts too, which can only open the breaker sooner.
    if (slot.index >= 0 && slot.index > index - window_buckets) {
      successes += slot.successes;
      failures += slot.failures;
    }
  }
  const std::uint64_t total = successes + failures;
  return total >= config_.window_outcomes_min && failures * 100 >= total * config_.failure_percent;
}

void circuit_breaker::open(std::int64_t now_ms) noexcept {
  enter(breaker_state::open);
  open_until_ms_ = now_ms + config_.cooldown_ms;
  ++opens_;
}

void circuit_breaker::close() noexcept {
  enter(breaker_state::closed);
  buckets_.fill(bucket{});
}

void circuit_breaker::enter(breaker_state next) noexcept {
  state_ = next;
  ++epoch_;
  probes_out_ = 0;
  consecutive_failures_ = 0;
}

} // namespace steward::core
