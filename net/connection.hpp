#pragma once

// One client connection's HTTP/1.1 state machine, independent of the transport that moves its bytes
// (io_uring or epoll). The transport feeds received bytes in, asks for bytes to send, reports what
// was sent, and closes the socket when told to. Everything a connection decides — framing,
// pipelining order, limits, timeouts, keep-alive, lingering close — lives here, so both transports
// behave identically by construction.

#include "net/handler.hpp"
#include "net/http_parser.hpp"
#include "net/listener_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace steward::net {

class io_loop;

/// Settings shared by every connection of a listener; fixed after start-up.
struct connection_settings {
  parse_limits parse;
  std::uint32_t pipeline_depth_max = 0;
  std::uint32_t header_read_timeout_ms = 0;
  std::uint32_t body_read_timeout_ms = 0;
  std::uint32_t idle_timeout_ms = 0;
  std::uint32_t actor_timeout_ms = 0;
  /// After a response that closes the connection, unread input is drained this long so that the
  /// peer receives the response instead of a reset (RFC 9112 9.6).
  std::uint32_t linger_ms = 2000;
};

/// Per-io-thread context that every connection of that thread reads.
struct loop_context {
  const connection_settings* settings = nullptr;
  const route_table* routes = nullptr;
  listener_stats* stats = nullptr;
  io_loop* loop = nullptr;
  std::int64_t now_ms = 0;      ///< monotonic, updated once per loop iteration
  std::uint64_t now_ns = 0;     ///< monotonic, for request durations
  char http_date[29] = {};      ///< IMF-fixdate, updated once a second
  bool draining = false;
};

/// Growable byte buffer with a consumed prefix and, always, simdjson's 64 bytes of readable padding
/// after the data (http_parser.hpp relies on it for request bodies).
class input_buffer {
public:
  static constexpr std::size_t padding_bytes = 64;

  std::string_view view() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  void append(const char* bytes, std::size_t count);
  void consume(std::size_t count) noexcept;
  /// Gives memory back when empty and larger than a small buffer (many idle connections).
  void shrink_if_idle() noexcept;

private:
  std::unique_ptr<char[]> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t capacity_ = 0;
};

class connection {
public:
  connection(loop_context& context, std::uint64_t id);

  std::uint64_t id() const noexcept { return id_; }

  /// Bytes received from the peer.
  void on_received(const char* bytes, std::size_t count);
  /// The socket failed (reset, send error) or the drain deadline passed: close without more output.
  void abort() noexcept { close_now_ = true; }
  /// The peer closed its sending side (recv returned 0).
  void on_peer_closed();
  /// The status `responder::abort()` delivers: no handler answers it (HTTP has no status 0), and the
  /// connection closes without output when it arrives.
  static constexpr std::uint16_t abort_status = 0;
  /// A response for request `sequence`; fills its slot and flushes what is now in order. One with
  /// `abort_status` closes the connection instead.
  void on_response(std::uint32_t sequence, http_response&& response);
  /// Checks every deadline against the context's clock.
  void on_tick();
  /// The listener is at its connection limit: answer 503 overloaded and close.
  void reject_overloaded();
  /// The server started draining: idle connections close, others close after what is in flight.
  void on_drain();

  /// Bytes to send now (empty when nothing is pending or a send is already in flight). The view stays
  /// valid until `on_sent` is called.
  std::string_view next_send();
  bool send_in_flight() const noexcept { return send_in_flight_; }
  void on_sent(std::size_t count);

  /// The transport should stop reading (pipeline full, output backlog) until this turns false; after
  /// the peer closed its side it stays true.
  bool read_paused() const noexcept;
  /// The transport should shut down its sending side (all output sent, close requested) and keep
  /// discarding input until the peer closes or `should_close()`.
  bool should_shutdown_write() const noexcept;
  /// The transport should close the socket now.
  bool should_close() const noexcept { return close_now_; }
  /// Marks that the transport has done the write shutdown.
  void on_write_shut() noexcept;

private:
  struct slot {
    std::uint32_t sequence = 0;
    std::uint32_t route = listener_stats::unmatched_route;
    bool ready = false;
    bool head_request = false;
    bool close_after = false;
    std::int64_t deadline_ms = 0;
    std::uint64_t started_ns = 0;
    http_response response;
  };

  void parse_input();
  void dispatch(const http_request& request);
  void reject(std::uint16_t parse_status, std::string_view detail);
  void flush_ready();
  void answer_now(slot& s, http_response&& response);
  void begin_close_after_output() noexcept;
  bool output_backlogged() const noexcept;
  /// Pipeline full or output backlogged: buffered requests wait until responses drain.
  bool parsing_blocked() const noexcept;
  /// After the peer closed its side: close once every answerable request has been answered.
  void finish_if_peer_gone() noexcept;

  loop_context& context_;
  std::uint64_t id_;
  http_parser parser_;
  input_buffer input_;
  std::deque<slot> slots_;
  std::uint32_t next_sequence_ = 0;
  std::string output_;   ///< responses serialised, not yet handed to the transport
  std::string sending_;  ///< handed to the transport
  std::size_t sending_offset_ = 0;
  bool send_in_flight_ = false;
  std::int64_t send_started_ms_ = 0;

  // Deadlines (monotonic ms); 0 = not armed.
  std::int64_t request_started_ms_ = 0;
  std::int64_t headers_done_ms_ = 0;
  std::int64_t idle_since_ms_ = 0;
  std::int64_t linger_until_ms_ = 0;

  bool parsing_ = false;         ///< inside parse_input (handlers may re-enter through on_response)
  bool stop_parsing_ = false;   ///< a response will close the connection: ignore further requests
  bool close_requested_ = false; ///< close once all output is sent
  bool write_shut_ = false;
  bool peer_closed_ = false;
  bool close_now_ = false;
};

} // namespace steward::net
