#pragma once

// The metrics one listener updates on its hot path, registered once at start-up so that an update is
// an atomic add, never a lookup by name.

#include <cstdint>
#include <string_view>

namespace steward::net {

enum class timeout_kind : std::uint8_t { header, body, idle, actor, send };
inline constexpr std::size_t timeout_kind_count = 5;

class listener_stats {
public:
  virtual ~listener_stats() = default;
  virtual void connection_opened() noexcept = 0;
  virtual void connection_closed() noexcept = 0;
  virtual void connection_rejected() noexcept = 0;
  /// `route` is the route id, or `unmatched_route` for requests no route took.
  virtual void request_done(std::uint32_t route, std::uint16_t status,
                            std::uint64_t duration_ns) noexcept = 0;
  virtual void timed_out(timeout_kind kind) noexcept = 0;
  /// A reply for a request that was already answered, timed out or whose connection closed.
  virtual void late_reply() noexcept = 0;

  static constexpr std::uint32_t unmatched_route = 0xffff'ffff;
};

/// Counts nothing: for a listener without metrics (the reference provider, tests).
class no_listener_stats final : public listener_stats {
public:
  void connection_opened() noexcept override {}
  void connection_closed() noexcept override {}
  void connection_rejected() noexcept override {}
  void request_done(std::uint32_t, std::uint16_t, std::uint64_t) noexcept override {}
  void timed_out(timeout_kind) noexcept override {}
  void late_reply() noexcept override {}
};

} // namespace steward::net
