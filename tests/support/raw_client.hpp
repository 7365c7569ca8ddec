#pragma once

// A deliberately small, blocking HTTP/1.1 client for the system tests. It writes exactly the bytes
// a test gives it (malformed requests included) and reads responses with a deadline on every call,
// so a server that hangs makes a test fail instead of stalling the suite. It is not a general HTTP
// client: it understands Content-Length, chunked and read-until-close bodies, and nothing else.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace steward::test_support {

using clock = std::chrono::steady_clock;
using deadline = clock::time_point;

/// The point in time `duration` from now.
inline deadline deadline_in(clock::duration duration) {
  return clock::now() + duration;
}

/// One response as received.
struct http_response {
  std::string version; ///< "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers; ///< in order, values trimmed
  std::string body;

  /// First header with this name (ASCII case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  /// How many times a header with this name occurs.
  std::size_t header_count(std::string_view name) const;
  /// True when a `Connection` header lists the token `close`.
  bool connection_close() const;
  /// The media type of `Content-Type`, lower-cased, without parameters (`text/plain`).
  std::string media_type() const;
};

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// A TCP connection to 127.0.0.1. Every operation takes a deadline and never blocks past it. The
/// socket is non-blocking; waiting is done with poll(2).
class raw_client {
public:
  /// Connects to 127.0.0.1:`port`. On failure returns nullopt and, when `error_out` is given,
  /// stores the errno (ETIMEDOUT when the deadline passed).
  static std::optional<raw_client> connect(std::uint16_t port, deadline until,
                                           int* error_out = nullptr);

  raw_client(raw_client&& other) noexcept;
  raw_client& operator=(raw_client&& other) noexcept;
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client();

  /// Writes all of `bytes`; false when the peer closed or reset, or the deadline passed.
  bool send_all(std::string_view bytes, deadline until);

  /// Reads one response. `no_body` is for responses to HEAD, whose Content-Length describes a body
  /// that is not sent. Returns nullopt on timeout, on a close before the response was complete or
  /// on bytes that are not a response; `last_error()` then says which.
  std::optional<http_response> read_response(deadline until, bool no_body = false);

  /// Reads until the peer closes the connection (EOF or reset). Bytes that arrive meanwhile are
  /// kept in `pending()`. Returns false if the deadline passed first.
  bool read_until_eof(deadline until);

  /// Waits until a byte or a close is readable; false at the deadline. Consumes nothing.
  bool wait_readable(deadline until) const;

  /// Half-closes the sending side (the server sees EOF on read).
  void shutdown_write();
  /// Closes the socket now.
  void close();

  int fd() const noexcept { return fd_; }
  /// Received bytes not yet consumed by `read_response`.
  const std::string& pending() const noexcept { return buffer_; }
  /// True once the peer closed the connection (EOF or reset) during a read.
  bool peer_closed() const noexcept { return peer_closed_; }
  /// True if that close was a reset (ECONNRESET) rather than an orderly FIN.
  bool reset_seen() const noexcept { return reset_seen_; }
  /// Why the last failed call failed ("timeout", "eof", "reset", "malformed: ...").
  const std::string& last_error() const noexcept { return last_error_; }

private:
  explicit raw_client(int fd) noexcept : fd_(fd) {}

  enum class fill_result { data, closed, timeout };
  /// Appends at least one byte to `buffer_`, or reports a close or the deadline.
  fill_result fill(deadline until);

  int fd_ = -1;
  std::string buffer_;
  bool peer_closed_ = false;
  bool reset_seen_ = false;
  std::string last_error_;
};

/// A request with the given method and target, `Host: 127.0.0.1`, `extra_headers` (each line ending
/// in CRLF) and, when `body` is not empty, a Content-Length for it.
std::string make_request(std::string_view method, std::string_view target,
                         std::string_view extra_headers = {}, std::string_view body = {});

/// Opens a connection, sends `GET path` with `Connection: close` and reads the response.
std::optional<http_response> http_get(std::uint16_t port, std::string_view path, deadline until);

} // namespace steward::test_support
