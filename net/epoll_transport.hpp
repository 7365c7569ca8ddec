#pragma once

// The fallback transport for kernels or sandboxes without a usable io_uring: asio's default epoll
// reactor, one io_context per io thread, each with its own SO_REUSEPORT listener. Connections wait
// for readiness and then read into one buffer per loop, so an idle connection holds no read buffer.

#include "net/io_loop.hpp"
#include "net/uring_transport.hpp"

#include <optional>
#include <string>

namespace steward::net {

class epoll_loop final : public io_loop {
public:
  /// Takes ownership of `listen_fd`.
  epoll_loop(const connection_settings& settings, const route_table& routes,
             listener_stats& stats, int listen_fd, connection_budget& budget,
             std::uint32_t drain_timeout_ms);
  ~epoll_loop() override;

  std::optional<std::string> setup();
  void run();

protected:
  void wake() noexcept override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace steward::net
