#pragma once

// The outbound HTTP(S) client steward uses to call providers (DESIGN 2 and 5).
//
// One client object owns an asio io_context (epoll reactor) and the thread that runs it. Every
// request completes exactly once, on that thread, with a response or a `client_error`; an actor
// forwards the result to itself as a message. Nothing here blocks the caller: `request` only posts.
//
// - TLS through OpenSSL 3 with the peer verified against the system trust store (or a CA file the
//   options name), hostname checked, SNI sent. `http://` is refused unless the host is a loopback
//   address (127.0.0.0/8, ::1, localhost): plain HTTP exists for tests on loopback only.
// - A pool per origin (scheme, host, port): at most `connections_per_origin_max` connections, idle
//   ones kept for `idle_timeout_ms` and reused; requests beyond the pool wait in a bounded queue.
// - Each attempt has a deadline (`timeout_ms`) covering queueing, DNS, connect, TLS and the answer.
// - Bounded retries, only for requests that are safe to repeat: GET and HEAD, or any request that
//   carries an idempotency key (sent again unchanged, so the provider applies it at most once).
//   Retried: connection failures, a connection lost before the answer, 502/503/504, timeouts.
//   Backoff doubles from `backoff_base_ms` with jitter.
// - A circuit breaker (core/circuit_breaker.hpp) per provider name, or per origin when the request
//   names none; an open breaker fails requests with `circuit_open` without touching the network.
// - Metrics: `steward_client_*` series: requests by outcome, retries, breaker opens and breakers
//   open now, connections opened, open and idle, requests in flight.

#include "core/circuit_breaker.hpp"
#include "core/limits.hpp"
#include "core/metrics.hpp"
#include "net/http_message.hpp"
#include "net/http_response_parser.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace steward::net {

enum class client_error : std::uint8_t {
  invalid_request, ///< bad URL, method, header or body size: nothing was sent
  insecure_url,    ///< `http://` to a host that is not loopback: nothing was sent
  connect_failed,  ///< DNS or TCP connect failed: nothing was sent
  tls_failed,      ///< TLS handshake or peer verification failed: nothing was sent
  timeout,         ///< the attempt's deadline passed; the provider may have acted on it
  connection_lost, ///< the connection closed before the whole response; the provider may have acted
  protocol_error,  ///< the response was not HTTP/1.1 as this client frames it
  too_large,       ///< the response head or body passed its limit
  circuit_open,    ///< the provider's breaker is open: nothing was sent
  pool_exhausted,  ///< the origin's pool and its wait queue are full: nothing was sent
  stopped,         ///< the client stopped before the request completed
};
inline constexpr std::size_t client_error_count = 11;

/// The error's name, as used in the `outcome` label of `steward_client_requests_total`.
std::string_view to_string(client_error error) noexcept;

struct client_request {
  http_method method = http_method::get;
  /// Absolute `https://host[:port]/path?query` (or `http://` to loopback); no userinfo, no
  /// fragment.
  std::string url;
  /// Extra fields. Host, Content-Length, Transfer-Encoding, Connection and Idempotency-Key are the
  /// client's to write; giving one here is `invalid_request`.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Sent as `Idempotency-Key`, unchanged on every attempt; makes the request retryable.
  std::string idempotency_key;
  /// Per attempt; 0 takes the client's default. Capped at `limits::client_request_timeout_ms_max`.
  std::uint32_t timeout_ms = 0;
  /// Breaker key: the provider's slug. Empty: the origin.
  std::string provider;
};

struct client_response {
  std::uint16_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::uint32_t attempts = 1; ///< attempts it took, retries included

  /// First field with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const noexcept;
};

using client_result = std::variant<client_response, client_error>;
/// Called exactly once per request, on the client's thread (or, after `stop()`, on the caller's).
using client_callback = std::function<void(client_result)>;

struct client_options {
  std::uint32_t connections_per_origin_max = core::limits::client_connections_per_origin_default;
  std::uint32_t queued_requests_per_origin_max =
    core::limits::client_queued_requests_per_origin_default;
  std::uint32_t idle_timeout_ms = core::limits::client_idle_timeout_ms_default;
  std::uint32_t request_timeout_ms = core::limits::client_request_timeout_ms_default;
  std::uint32_t retries_max = core::limits::client_retries_default;
  std::uint32_t backoff_base_ms = core::limits::client_backoff_base_ms_default;
  std::uint32_t backoff_max_ms = core::limits::client_backoff_ms_max;
  response_limits response;
  core::circuit_breaker_config breaker;
  /// PEM file of CA certificates to trust instead of the system store (tests, private CAs).
  std::string ca_file;
  /// Where the series go; nullptr keeps them in a registry private to the client (still readable
  /// through `stats()`). Must outlive the client.
  core::metrics::registry* metrics = nullptr;
  /// The `client` label of every series, so that several clients can share a registry.
  std::string metrics_name = "provider";
  /// Jitter source, called on the client's thread; empty: a generator seeded from random_device.
  std::function<std::uint64_t()> random;
};

/// Empty when `options` is within its ceilings; otherwise the name of the first bad member.
std::string_view validate(const client_options& options) noexcept;

/// A parsed absolute URL.
struct client_url {
  bool tls = true;
  std::string host;   ///< lower-cased; an IPv6 literal without its brackets
  std::uint16_t port = 443;
  std::string target; ///< origin-form: path and query, "/" when the URL has none
  std::string origin; ///< "https://host:port", the pool's key

  /// The Host field value: host, bracketed for IPv6, with the port unless it is the default.
  std::string authority() const;
};

/// Parses and checks a URL: `invalid_request` when it is not an absolute http(s) URL this client
/// can send, `insecure_url` when it is `http://` to a host that is not loopback.
std::variant<client_url, client_error> parse_client_url(std::string_view url);

/// True for 127.0.0.0/8, ::1 and `localhost` (any case), as written in a URL's host.
bool is_loopback_host(std::string_view host) noexcept;

/// Counters behind the metrics, for tests and `stewardctl`.
struct client_stats {
  std::uint64_t responses = 0;     ///< requests that ended with a response, any status
  std::uint64_t errors[client_error_count] = {};
  std::uint64_t retries = 0;
  std::uint64_t breaker_opens = 0;
  std::uint64_t connections_opened = 0; ///< TCP connections established (after TLS, if any)
  std::int64_t connections_open = 0;    ///< busy and idle, including those being established
  std::int64_t connections_idle = 0;
  std::int64_t requests_in_flight = 0;
  std::int64_t breakers_open = 0; ///< open or half-open
};

class http_client {
public:
  /// Starts the client's thread. `options` must pass `validate` (checked: a bad one aborts). A CA
  /// file that cannot be loaded makes every TLS request fail with `tls_failed`.
  explicit http_client(client_options options = {});
  /// Calls `stop()`.
  ~http_client();

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends `request` and calls `done` exactly once with the outcome. Thread-safe. After `stop()`
  /// has begun, `done` is called at once, on the caller's thread, with `stopped`.
  void request(client_request request, client_callback done);

  /// Completes every outstanding request with `stopped` (on the client's thread), closes every
  /// connection and joins the thread. Idempotent; must not be called from a callback.
  void stop();

  client_stats stats() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace steward::net
