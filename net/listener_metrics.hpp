#pragma once

// listener_stats on top of the process's metrics registry: every series is registered once, at
// start-up, for one listener; updates are then atomic adds on pre-resolved cells.

#include "core/metrics.hpp"
#include "net/listener_stats.hpp"
#include "net/router.hpp"

#include <array>
#include <string>

namespace steward::net {

class listener_metrics final : public listener_stats {
public:
  /// Registers the listener's series in `registry`, which must outlive this object. Route labels are
  /// the patterns of `routes` (the route id indexes them).
  listener_metrics(core::metrics::registry& registry, std::string listener, const router& routes);

  void connection_opened() noexcept override;
  void connection_closed() noexcept override;
  void connection_rejected() noexcept override;
  void request_done(std::uint32_t route, std::uint16_t status,
                    std::uint64_t duration_ns) noexcept override;
  void timed_out(timeout_kind kind) noexcept override;
  void late_reply() noexcept override;

private:
  core::metrics::gauge& connections_;
  core::metrics::counter& accepted_;
  core::metrics::counter& rejected_;
  core::metrics::counter& late_replies_;
  std::array<core::metrics::counter*, timeout_kind_count> timeouts_{};
  core::metrics::request_stats& requests_;
};

} // namespace steward::net
