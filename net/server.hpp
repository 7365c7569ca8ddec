#pragma once

// One listener (public or admin): its io threads, each with a loop of the chosen transport and its
// own SO_REUSEPORT socket bound to the same address. Lifetime: the server must outlive every
// responder that names one of its loops — stop the actors that hold responders before destroying it.

#include "net/connection.hpp"
#include "net/handler.hpp"
#include "net/listener_stats.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace steward::net {

enum class io_backend : std::uint8_t { auto_select, io_uring, epoll };

std::string_view to_string(io_backend backend) noexcept;

struct server_config {
  std::string name = "public"; ///< listener label in metrics and messages
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint32_t io_threads = 1;
  /// Nice value of the io threads (0 = as the process; `--bulk-nice` for the public listener).
  int thread_nice = 0;
  io_backend backend = io_backend::auto_select;
  std::uint32_t connections_max = 0;
  std::uint32_t drain_timeout_ms = 0;
  connection_settings connection;
};

class server {
public:
  server(server_config config, route_table routes, listener_stats& stats);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, sets up every loop and starts the io threads. On failure nothing keeps running and the
  /// text says what failed. `fallback_note` receives a line when `auto` fell back to epoll.
  std::optional<std::string> start(std::string* fallback_note = nullptr);

  /// The bound address as HOST:PORT (with the real port when 0 was asked for).
  std::string bound_address() const;
  std::uint16_t port() const noexcept { return port_; }
  io_backend backend() const noexcept { return backend_; }

  /// Stops accepting, finishes in-flight requests, closes connections (non-blocking, any thread).
  void drain() noexcept;
  bool draining() const noexcept { return draining_.load(std::memory_order_relaxed); }
  /// Joins the io threads; returns once every loop finished draining.
  void wait();

  std::size_t open_connections() const noexcept;

private:
  struct loop_slot;
  server_config config_;
  route_table routes_;
  listener_stats& stats_;
  std::shared_ptr<struct connection_budget> budget_;
  std::vector<std::unique_ptr<loop_slot>> loops_;
  std::uint16_t port_ = 0;
  io_backend backend_ = io_backend::auto_select;
  std::atomic<bool> draining_{false};
};

} // namespace steward::net
