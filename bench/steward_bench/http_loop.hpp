#pragma once

// One epoll event loop driving a fixed set of keep-alive HTTP/1.1 client connections to one server,
// each with at most one request in flight. The loop owns the sockets and the byte buffers; what is
// sent, when, and what an answer means belongs to a `loop_handler` (the setup phase and the load
// phase are two handlers over the same loop).
//
// A connection is always in one of four states: disconnected (waiting for its reconnect time),
// connecting, idle (connected, nothing in flight) or busy (a request in flight). The handler is told
// when a connection becomes idle and may then send a request or ask to be woken at a later time
// (open-loop pacing, retry back-off). A failed connection is reported to the handler once and
// reconnected after a pause that doubles up to `reconnect_pause_max_ns` while failures repeat.
//
// Not thread-safe: one loop per thread, and everything it calls runs on that thread.

#include "bench/steward_bench/http_response.hpp"

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace steward::bench {

/// Monotonic clock, nanoseconds.
std::int64_t monotonic_ns() noexcept;

/// Where to connect: `http://HOST:PORT` (a trailing `/` is allowed; nothing else is).
struct endpoint {
  std::string url;
  std::string host_header; ///< HOST:PORT as given, for the Host header
  sockaddr_storage address{};
  socklen_t address_bytes = 0;
};

/// Parses and resolves `url`; nullopt with `error` set when it is not `http://HOST:PORT`.
std::optional<endpoint> resolve_endpoint(std::string_view url, std::string& error);

/// Why a connection failed.
enum class connection_failure : std::uint8_t {
  connect,   ///< connect() refused or timed out
  reset,     ///< a read or write error (ECONNRESET, EPIPE, ...)
  closed,    ///< the server closed the connection while a request was in flight
  malformed, ///< an answer that could not be parsed, or bytes nobody asked for
};
inline constexpr std::size_t connection_failure_count = 4;

std::string_view to_string(connection_failure failure) noexcept;

class http_loop;

/// What a loop calls back. Every call gets the loop's current monotonic time.
class loop_handler {
public:
  virtual ~loop_handler() = default;

  /// Connection `c` is connected with nothing in flight: write a request into
  /// `loop.request_buffer(c)` and call `loop.send(c, now_ns)`, or call `loop.wake(c, at_ns)` to be
  /// asked again later, or do neither to leave it quiet.
  virtual void on_idle(http_loop& loop, std::size_t c, std::int64_t now_ns) = 0;

  /// The answer to the request in flight on `c`. `response.body` is valid during the call only.
  /// `on_idle` follows if the connection stays open.
  virtual void on_response(http_loop& loop, std::size_t c, const http_response& response,
                           std::int64_t now_ns) = 0;

  /// `c` failed; `in_flight` tells whether a request was lost with it (never answered).
  virtual void on_failure(http_loop& loop, std::size_t c, connection_failure failure, int error,
                          bool in_flight, std::int64_t now_ns) = 0;

  /// Called after every batch of events and at least every `tick_ns`: false stops the loop.
  virtual bool on_tick(http_loop& loop, std::int64_t now_ns) = 0;
};

class http_loop {
public:
  /// The longest wait between two `on_tick` calls.
  static constexpr std::int64_t tick_ns = 10'000'000;
  static constexpr std::int64_t reconnect_pause_min_ns = 10'000'000;
  static constexpr std::int64_t reconnect_pause_max_ns = 1'000'000'000;
  /// Bytes read from a socket per recv call.
  static constexpr std::size_t read_chunk_bytes = 64 * 1024;

  /// Prepares `connections` connections to `server`; none is opened before `run`.
  http_loop(const endpoint& server, std::size_t connections);
  ~http_loop();
  http_loop(const http_loop&) = delete;
  http_loop& operator=(const http_loop&) = delete;

  /// Opens every connection and dispatches events to `handler` until its `on_tick` returns false.
  /// Connections stay open afterwards (a later `run` continues with them) until destruction.
  /// Returns an error text if epoll itself failed.
  std::optional<std::string> run(loop_handler& handler);

  std::size_t size() const noexcept { return connections_.size(); }

  /// The buffer to write the next request of `c` into; it is empty when handed out.
  std::string& request_buffer(std::size_t c) noexcept;

  /// Sends the request written into `request_buffer(c)`. Only when `c` is idle (asserted).
  void send(std::size_t c, std::int64_t now_ns);

  /// Calls `on_idle(c)` again at `at_ns` if `c` is still idle then.
  void wake(std::size_t c, std::int64_t at_ns);

  /// Requests sent and not yet answered or failed.
  std::size_t in_flight() const noexcept { return in_flight_; }

  /// Closes every connection (requests in flight are abandoned, not reported).
  void close_all() noexcept;

private:
  enum class state : std::uint8_t { disconnected, connecting, idle, busy };

  struct connection {
    int fd = -1;
    state status = state::disconnected;
    bool want_write = false;      ///< registered for EPOLLOUT
    std::uint32_t timer_generation = 0;
    std::int64_t reconnect_pause_ns = reconnect_pause_min_ns;
    std::string out;              ///< the request being written
    std::size_t out_sent = 0;
    std::string in;               ///< bytes received and not yet parsed
    std::size_t in_parsed = 0;    ///< bytes of `in` already consumed by complete answers
  };

  struct timer {
    std::int64_t at_ns;
    std::size_t c;
    std::uint32_t generation;
    bool operator>(const timer& other) const noexcept { return at_ns > other.at_ns; }
  };

  void open(std::size_t c, std::int64_t now_ns);
  void on_connected(std::size_t c, std::int64_t now_ns);
  void on_readable(std::size_t c, std::int64_t now_ns);
  void flush(std::size_t c);
  void set_write_interest(std::size_t c, bool want);
  void fail(std::size_t c, connection_failure failure, int error, std::int64_t now_ns);
  void close_connection(std::size_t c) noexcept;
  void schedule(std::size_t c, std::int64_t at_ns);
  void become_idle(std::size_t c, std::int64_t now_ns);

  const endpoint& server_;
  std::vector<connection> connections_;
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
  int epoll_fd_ = -1;
  loop_handler* handler_ = nullptr;
  std::size_t in_flight_ = 0;
  /// A write that failed inside `send`: reported from the loop, not from inside the handler's own
  /// call, and only if the connection has not changed since (same timer generation).
  struct broken_write {
    std::size_t c;
    std::uint32_t generation;
    int error;
  };
  std::vector<broken_write> broken_;
  bool started_ = false;
};

} // namespace steward::bench
