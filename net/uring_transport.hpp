#pragma once

// The io_uring transport (DESIGN 2): one ring per io thread, its own SO_REUSEPORT listener,
// multishot accept, multishot recv into a provided-buffer ring, sends batched into one submit per
// loop iteration, and an eventfd read kept armed in the ring so that actors can wake the loop.

#include "net/io_loop.hpp"

#include <atomic>
#include <optional>
#include <string>

namespace steward::net {

/// Shared by every loop of one listener: the connection limit across its io threads.
struct connection_budget {
  std::atomic<std::uint32_t> open{0};
  std::uint32_t max = 0;
  /// Connections past the limit that are being answered 503 before they close.
  std::atomic<std::uint32_t> rejecting{0};
};

/// Whether this kernel and sandbox let us set up the ring the transport needs; the error text
/// explains why not.
std::optional<std::string> probe_io_uring();

class uring_loop final : public io_loop {
public:
  /// Takes ownership of `listen_fd`.
  uring_loop(const connection_settings& settings, const route_table& routes,
             listener_stats& stats, int listen_fd, connection_budget& budget,
             std::uint32_t drain_timeout_ms);
  ~uring_loop() override;

  /// Creates the ring on the calling thread (the ring is single-issuer: the thread that sets it up
  /// is the only one that may submit). Returns an error text on failure.
  std::optional<std::string> setup();
  /// Serves until a drain completes.
  void run();

protected:
  void wake() noexcept override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace steward::net
