#include "tools/refprovider/fault.hpp"

#include "tools/refprovider/limits.hpp"

#include <algorithm>

namespace steward::refprovider {

namespace {

/// A decimal number from 1 to `max`; nullopt otherwise.
std::optional<std::uint32_t> parse_number(std::string_view text, std::uint32_t min,
                                          std::uint32_t max) {
  if (text.empty() || text.size() > 10)
    return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value < min || value > max)
    return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

bool applies(fault_kind kind, request_class what) {
  switch (kind) {
  case fault_kind::status:
    return what != request_class::other;
  case fault_kind::latency:
    return true;
  case fault_kind::after_charge_timeout:
  case fault_kind::drop:
    return what == request_class::create;
  }
  return false;
}

} // namespace

std::optional<std::string> parse_fault(std::string_view text, bool allow_every, fault& out) {
  fault result;
  if (auto at = text.find('@'); at != std::string_view::npos) {
    if (!allow_every)
      return "@EVERY is only for --fault";
    auto every = parse_number(text.substr(at + 1), 1, limits::fault_every_max);
    if (!every)
      return "@EVERY must be a number from 1 to " + std::to_string(limits::fault_every_max);
    result.every = *every;
    text = text.substr(0, at);
  }
  if (text == "drop") {
    result.kind = fault_kind::drop;
    out = result;
    return std::nullopt;
  }
  auto const colon = text.find(':');
  if (colon == std::string_view::npos)
    return "expected status:CODE, latency:MS, after-charge-timeout:MS or drop";
  auto const kind = text.substr(0, colon);
  auto const value = text.substr(colon + 1);
  std::string const delay_range =
    " must be milliseconds from 1 to " + std::to_string(limits::fault_delay_ms_max);
  if (kind == "status") {
    auto code = parse_number(value, 500, 599);
    if (!code || (*code != 500 && *code != 502 && *code != 503))
      return "status must be 500, 502 or 503";
    result.kind = fault_kind::status;
    result.status = static_cast<std::uint16_t>(*code);
  } else if (kind == "latency" || kind == "after-charge-timeout") {
    auto delay = parse_number(value, 1, limits::fault_delay_ms_max);
    if (!delay)
      return std::string(kind) + delay_range;
    result.kind = kind == "latency" ? fault_kind::latency : fault_kind::after_charge_timeout;
    result.delay_ms = *delay;
  } else {
    return "unknown fault \"" + std::string(kind) +
           "\"; expected status, latency, after-charge-timeout or drop";
  }
  out = result;
  return std::nullopt;
}

void apply(const fault& f, request_class what, fault_effect& effect) {
  if (!applies(f.kind, what))
    return;
  auto add = [](std::uint32_t& total, std::uint32_t delay) {
    total = std::min(total + delay, limits::fault_delay_ms_max);
  };
  switch (f.kind) {
  case fault_kind::status:
    if (effect.status == 0)
      effect.status = f.status;
    break;
  case fault_kind::latency:
    add(effect.latency_ms, f.delay_ms);
    break;
  case fault_kind::after_charge_timeout:
    add(effect.after_charge_ms, f.delay_ms);
    break;
  case fault_kind::drop:
    effect.drop_after_work = true;
    break;
  }
}

fault_plan::fault_plan(std::vector<fault> faults)
    : faults_(std::move(faults)),
      counters_(std::make_unique<std::atomic<std::uint64_t>[]>(faults_.size())) {}

fault_effect fault_plan::next(request_class what) {
  fault_effect effect;
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    if (!applies(faults_[i].kind, what))
      continue;
    auto const seen = counters_[i].fetch_add(1, std::memory_order_relaxed) + 1;
    if (seen % faults_[i].every == 0)
      apply(faults_[i], what, effect);
  }
  return effect;
}

} // namespace steward::refprovider
