#include "net/http_client.hpp"

#include "core/assert.hpp"
#include "core/thread_identity.hpp"

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

namespace steward::net {

namespace {

using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

/// Bytes read from a connection at once; the parser copies out of it, so one buffer per connection.
constexpr std::size_t read_buffer_bytes = 16384;
/// Idempotency keys follow DESIGN 4.4: 1 to 255 printable characters.
constexpr std::size_t idempotency_key_bytes_max = 255;

constexpr std::array<std::string_view, client_error_count> error_names = {
  "invalid_request", "insecure_url",   "connect_failed", "tls_failed",
  "timeout",         "connection_lost", "protocol_error", "too_large",
  "circuit_open",    "pool_exhausted",  "stopped"};

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// Visible ASCII: what a URL and a field value written by this client may hold (no CTL, no
/// obs-text), with SP and HTAB allowed inside values only.
bool is_visible(char c) noexcept {
  return c > 0x20 && c < 0x7f;
}

bool valid_field_value(std::string_view value) noexcept {
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return is_visible(c) || c == ' ' || c == '\t'; });
}

/// Fields whose value only the client may decide: framing, the connection, and the key it resends.
bool reserved_field(std::string_view name) noexcept {
  for (std::string_view reserved : {"host", "content-length", "transfer-encoding", "connection",
                                    "idempotency-key", "upgrade", "te", "keep-alive"}) {
    if (iequals(name, reserved))
      return true;
  }
  return false;
}

bool valid_reg_name(std::string_view host) noexcept {
  // Letters, digits, '-', '.', '_': DNS names and IPv4 literals. Percent-encoding and the rarer
  // sub-delims are refused; no provider needs them.
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '.' || c == '_';
  });
}

bool is_ip_literal(const std::string& host) noexcept {
  asio::error_code ignored;
  asio::ip::make_address(host, ignored);
  return !ignored;
}

bool retryable_status(std::uint16_t status) noexcept {
  return status == 502 || status == 503 || status == 504;
}

client_error error_of(response_parse_error error) noexcept {
  switch (error) {
    case response_parse_error::head_too_large:
    case response_parse_error::body_too_large: return client_error::too_large;
    case response_parse_error::truncated: return client_error::connection_lost;
    case response_parse_error::malformed:
    case response_parse_error::none: break;
  }
  return client_error::protocol_error;
}

/// The request's bytes, or `invalid_request`.
std::variant<std::string, client_error> serialize(const client_request& request,
                                                  const client_url& url) {
  if (request.method == http_method::other || request.body.size() >
                                                core::limits::client_request_body_bytes_max)
    return client_error::invalid_request;
  const auto& key = request.idempotency_key;
  if (key.size() > idempotency_key_bytes_max ||
      !std::all_of(key.begin(), key.end(), [](char c) { return is_visible(c) || c == ' '; }))
    return client_error::invalid_request;
  std::string wire;
  wire.reserve(256 + request.body.size());
  wire.append(to_string(request.method)).append(" ").append(url.target).append(" HTTP/1.1\r\n");
  wire.append("Host: ").append(url.authority()).append("\r\n");
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar) || reserved_field(name) ||
        !valid_field_value(value))
      return client_error::invalid_request;
    wire.append(name).append(": ").append(value).append("\r\n");
  }
  if (!key.empty())
    wire.append("Idempotency-Key: ").append(key).append("\r\n");
  const bool body_expected = request.method == http_method::post ||
                             request.method == http_method::put ||
                             request.method == http_method::patch;
  if (body_expected || !request.body.empty())
    wire.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  wire.append("\r\n").append(request.body);
  return wire;
}

struct call;
struct connection;

/// The connections of one origin.
struct origin_pool {
  bool tls = true;
  std::string host;
  std::uint16_t port = 0;
  /// Connections counted against the limit: being established, busy or idle.
  std::uint32_t open = 0;
  std::vector<std::shared_ptr<connection>> idle; ///< most recently used at the back
  std::deque<std::shared_ptr<call>> waiting;
};

struct connection {
  connection(asio::io_context& io, asio::ssl::context* tls_context, const response_limits& limits)
    : socket(io), resolver(io), idle_timer(io), parser(limits) {
    if (tls_context != nullptr)
      tls = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *tls_context);
  }

  tcp::socket& lowest() noexcept { return tls ? tls->next_layer() : socket; }

  origin_pool* origin = nullptr;
  tcp::socket socket; ///< the transport of a plain connection; unused under TLS
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;
  tcp::resolver resolver;
  asio::steady_timer idle_timer;
  http_response_parser parser;
  std::array<char, read_buffer_bytes> buffer{};
  /// Bumped each time the connection goes idle or leaves idle, so that a stale idle handler
  /// recognises it is about an earlier idle period.
  std::uint64_t idle_generation = 0;
  bool idle = false;
  bool closed = false;
};

/// Runs `function` on the connection's byte stream, TLS or plain.
template <class Function>
void with_stream(connection& conn, Function&& function) {
  if (conn.tls)
    function(*conn.tls);
  else
    function(conn.socket);
}

/// One request, across its attempts.
struct call {
  call(asio::io_context& io, client_request r, client_callback d)
    : request(std::move(r)), done(std::move(d)), timer(io) {}

  client_request request;
  client_callback done;
  client_url url;
  std::string wire;
  asio::steady_timer timer; ///< the attempt's deadline, then the backoff before the next
  origin_pool* origin = nullptr;
  core::circuit_breaker* breaker = nullptr;
  core::breaker_ticket ticket;
  std::shared_ptr<connection> conn;
  std::list<std::shared_ptr<call>>::iterator position;
  std::uint32_t attempt = 0; ///< the current or last attempt, from 1
  bool attempt_active = false;
  bool queued = false;
  bool finished = false;
};

} // namespace

std::string_view to_string(client_error error) noexcept {
  const auto index = static_cast<std::size_t>(error);
  return index < error_names.size() ? error_names[index] : "unknown";
}

std::string_view client_response::header(std::string_view name) const noexcept {
  for (const auto& [field_name, value] : headers) {
    if (iequals(field_name, name))
      return value;
  }
  return {};
}

std::string_view validate(const client_options& options) noexcept {
  namespace limits = core::limits;
  if (options.connections_per_origin_max == 0 ||
      options.connections_per_origin_max > limits::client_connections_per_origin_max)
    return "connections_per_origin_max";
  if (options.queued_requests_per_origin_max > limits::client_queued_requests_per_origin_max)
    return "queued_requests_per_origin_max";
  if (options.idle_timeout_ms > limits::client_idle_timeout_ms_max)
    return "idle_timeout_ms";
  if (options.request_timeout_ms == 0 ||
      options.request_timeout_ms > limits::client_request_timeout_ms_max)
    return "request_timeout_ms";
  if (options.retries_max > limits::client_retries_max)
    return "retries_max";
  if (options.backoff_max_ms > limits::client_backoff_ms_max ||
      options.backoff_base_ms > options.backoff_max_ms)
    return "backoff_base_ms";
  if (options.response.header_bytes_max > limits::client_response_header_bytes_max ||
      options.response.header_count_max > limits::client_response_header_count_max ||
      options.response.body_bytes_max > limits::client_response_body_bytes_max)
    return "response";
  if (!core::validate(options.breaker, nullptr))
    return "breaker";
  return {};
}

bool is_loopback_host(std::string_view host) noexcept {
  if (iequals(host, "localhost"))
    return true;
  asio::error_code error;
  const auto address = asio::ip::make_address(std::string(host), error);
  if (error)
    return false;
  if (address.is_v4())
    return address.to_v4().is_loopback();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

std::string client_url::authority() const {
  std::string text = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80))
    text.append(":").append(std::to_string(port));
  return text;
}

std::variant<client_url, client_error> parse_client_url(std::string_view url) {
  if (url.empty() || url.size() > core::limits::client_url_bytes_max ||
      !std::all_of(url.begin(), url.end(), is_visible) ||
      url.find('#') != std::string_view::npos)
    return client_error::invalid_request;
  client_url result;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    return client_error::invalid_request;
  const auto scheme = url.substr(0, scheme_end);
  if (iequals(scheme, "https"))
    result.tls = true;
  else if (iequals(scheme, "http"))
    result.tls = false;
  else
    return client_error::invalid_request;
  auto rest = url.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos)
    return client_error::invalid_request; // credentials never travel in a URL

  if (authority.empty())
    return client_error::invalid_request;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  const bool bracketed = authority.front() == '[';
  if (bracketed) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return client_error::invalid_request;
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return client_error::invalid_request;
      has_port = true;
      port_text = after.substr(1);
    }
    asio::error_code error;
    asio::ip::make_address_v6(std::string(host), error);
    if (error)
      return client_error::invalid_request;
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  result.host.reserve(host.size());
  for (char c : host)
    result.host.push_back(lower(c));
  if (!bracketed && !valid_reg_name(result.host))
    return client_error::invalid_request;

  result.port = result.tls ? 443 : 80;
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(), is_digit))
      return client_error::invalid_request;
    std::uint32_t port = 0;
    for (char c : port_text)
      port = port * 10 + static_cast<std::uint32_t>(c - '0');
    if (port == 0 || port > 65535)
      return client_error::invalid_request;
    result.port = static_cast<std::uint16_t>(port);
  }
  if (rest.empty())
    result.target = "/";
  else if (rest.front() == '?')
    result.target = "/" + std::string(rest);
  else
    result.target = std::string(rest);
  if (!result.tls && !is_loopback_host(result.host))
    return client_error::insecure_url;
  result.origin = std::string(result.tls ? "https://" : "http://") +
                  (result.host.find(':') != std::string::npos ? "[" + result.host + "]"
                                                              : result.host) +
                  ":" + std::to_string(result.port);
  return result;
}

// --- The client -------------------------------------------------------------------------------

struct http_client::impl {
  explicit impl(client_options options);

  // Caller threads.
  void request(client_request request, client_callback done);
  void stop();

  // The io thread only, from here on.
  void submit(std::shared_ptr<call> c);
  void start_attempt(const std::shared_ptr<call>& c);
  bool current(const call& c, std::uint32_t attempt) const noexcept {
    return !c.finished && c.attempt_active && c.attempt == attempt;
  }
  void acquire(const std::shared_ptr<call>& c);
  void open_connection(const std::shared_ptr<call>& c);
  void established(const std::shared_ptr<call>& c, const std::shared_ptr<connection>& conn);
  void send(const std::shared_ptr<call>& c, const std::shared_ptr<connection>& conn);
  void read(const std::shared_ptr<call>& c, const std::shared_ptr<connection>& conn);
  void on_read(const std::shared_ptr<call>& c, const std::shared_ptr<connection>& conn,
               asio::error_code error, std::size_t bytes);
  void on_response(const std::shared_ptr<call>& c, parsed_response response, bool reusable);
  /// Ends the attempt with an error: the connection is discarded, the breaker told, and the call
  /// retried or finished.
  void fail_attempt(const std::shared_ptr<call>& c, client_error error);
  /// Stops the attempt's deadline and takes the call out of its origin's queue.
  void end_attempt(call& c);
  bool may_retry(const call& c, bool connect_failure) const noexcept;
  void retry(const std::shared_ptr<call>& c);
  void record(call& c, bool success, bool abandoned);
  /// Keeps `breakers_open_` in step after a breaker call that may have changed its state.
  void track(const core::circuit_breaker& breaker, core::breaker_state before) noexcept;
  void finish(const std::shared_ptr<call>& c, client_result result);

  void release(const std::shared_ptr<connection>& conn, bool reusable);
  void make_idle(const std::shared_ptr<connection>& conn);
  /// By value: the caller's pointer may be the pool's own entry, which this erases.
  void drop_idle(std::shared_ptr<connection> conn);
  void discard(const std::shared_ptr<connection>& conn);
  void on_stop();

  std::int64_t now_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - epoch_).count();
  }

  // Declared first, destroyed last: handlers that still own connections and calls are destroyed
  // with it, after everything else here.
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  client_options options_;
  asio::ssl::context tls_context_{asio::ssl::context::tls_client};
  bool tls_ready_ = false;
  steady::time_point epoch_ = steady::now();

  std::unique_ptr<core::metrics::registry> own_registry_;
  core::metrics::registry& registry_;
  core::metrics::counter& responses_;
  std::array<core::metrics::counter*, client_error_count> errors_{};
  core::metrics::counter& retries_;
  core::metrics::counter& breaker_opens_;
  core::metrics::counter& connections_opened_;
  core::metrics::gauge& connections_open_;
  core::metrics::gauge& connections_idle_;
  core::metrics::gauge& in_flight_;
  core::metrics::gauge& breakers_open_;

  std::mutex mutex_;
  bool accepting_ = true; ///< guarded by mutex_

  // Owned by the io thread.
  bool stopping_ = false;
  std::mt19937_64 random_;
  std::unordered_map<std::string, std::unique_ptr<origin_pool>> origins_;
  std::unordered_map<std::string, std::unique_ptr<core::circuit_breaker>> breakers_;
  std::list<std::shared_ptr<call>> calls_;

  std::thread thread_; ///< last: started once everything above exists
};

namespace {

core::metrics::registry& pick_registry(const client_options& options,
                                       std::unique_ptr<core::metrics::registry>& own) {
  if (options.metrics != nullptr)
    return *options.metrics;
  own = std::make_unique<core::metrics::registry>();
  return *own;
}

} // namespace

http_client::impl::impl(client_options options)
  : work_(asio::make_work_guard(io_)),
    options_(std::move(options)),
    registry_(pick_registry(options_, own_registry_)),
    responses_(registry_.add_counter(
      "steward_client_requests_total",
      "Outbound requests by outcome: a response (any status) or the client error.",
      {{"client", options_.metrics_name}, {"outcome", "response"}})),
    retries_(registry_.add_counter("steward_client_retries_total",
                                   "Outbound attempts after the first, same idempotency key.",
                                   {{"client", options_.metrics_name}})),
    breaker_opens_(registry_.add_counter("steward_client_breaker_opens_total",
                                         "Times a provider's circuit breaker opened.",
                                         {{"client", options_.metrics_name}})),
    connections_opened_(registry_.add_counter(
      "steward_client_connections_opened_total", "Outbound connections established.",
      {{"client", options_.metrics_name}})),
    connections_open_(registry_.add_gauge(
      "steward_client_connections", "Outbound connections, by state (open includes idle).",
      {{"client", options_.metrics_name}, {"state", "open"}})),
    connections_idle_(registry_.add_gauge(
      "steward_client_connections", "Outbound connections, by state (open includes idle).",
      {{"client", options_.metrics_name}, {"state", "idle"}})),
    in_flight_(registry_.add_gauge("steward_client_requests_in_flight",
                                   "Outbound requests not yet completed.",
                                   {{"client", options_.metrics_name}})),
    breakers_open_(registry_.add_gauge("steward_client_breakers_open",
                                       "Circuit breakers open or half-open (probing).",
                                       {{"client", options_.metrics_name}})) {
  STEWARD_ASSERT(validate(options_).empty());
  for (std::size_t i = 0; i < client_error_count; ++i)
    errors_[i] = &registry_.add_counter(
      "steward_client_requests_total",
      "Outbound requests by outcome: a response (any status) or the client error.",
      {{"client", options_.metrics_name}, {"outcome", std::string(error_names[i])}});

  SSL_CTX_set_min_proto_version(tls_context_.native_handle(), TLS1_2_VERSION);
  tls_context_.set_verify_mode(asio::ssl::verify_peer);
  asio::error_code error;
  if (options_.ca_file.empty())
    tls_context_.set_default_verify_paths(error);
  else
    tls_context_.load_verify_file(options_.ca_file, error);
  tls_ready_ = !error;

  if (!options_.random) {
    std::random_device device;
    random_.seed((std::uint64_t(device()) << 32) | device());
  }
  thread_ = std::thread([this] {
    core::name_this_thread("http-client");
    io_.run();
  });
}

void http_client::impl::request(client_request request, client_callback done) {
  std::unique_lock lock(mutex_);
  if (!accepting_) {
    lock.unlock();
    done(client_error::stopped);
    return;
  }
  // Posted under the lock, so that it is queued before the stop handler (FIFO on one thread).
  asio::post(io_, [this, request = std::move(request), done = std::move(done)]() mutable {
    submit(std::make_shared<call>(io_, std::move(request), std::move(done)));
  });
}

void http_client::impl::stop() {
  // From a callback it would wait for its own thread to end.
  STEWARD_ASSERT(std::this_thread::get_id() != thread_.get_id());
  {
    std::lock_guard lock(mutex_);
    if (!accepting_)
      return;
    accepting_ = false;
  }
  asio::post(io_, [this] { on_stop(); });
  thread_.join();
}

void http_client::impl::submit(std::shared_ptr<call> c) {
  in_flight_.inc();
  calls_.push_back(c);
  c->position = std::prev(calls_.end());
  auto url = parse_client_url(c->request.url);
  if (auto* error = std::get_if<client_error>(&url))
    return finish(c, *error);
  c->url = std::move(std::get<client_url>(url));
  auto wire = serialize(c->request, c->url);
  if (auto* error = std::get_if<client_error>(&wire))
    return finish(c, *error);
  c->wire = std::move(std::get<std::string>(wire));

  auto origin = origins_.find(c->url.origin);
  if (origin == origins_.end()) {
    if (origins_.size() >= core::limits::client_origins_max)
      return finish(c, client_error::pool_exhausted);
    auto pool = std::make_unique<origin_pool>();
    pool->tls = c->url.tls;
    pool->host = c->url.host;
    pool->port = c->url.port;
    origin = origins_.emplace(c->url.origin, std::move(pool)).first;
  }
  c->origin = origin->second.get();
  const auto& breaker_key = c->request.provider.empty() ? c->url.origin : c->request.provider;
  auto breaker = breakers_.find(breaker_key);
  if (breaker == breakers_.end()) {
    if (breakers_.size() >= core::limits::client_origins_max)
      return finish(c, client_error::pool_exhausted);
    breaker = breakers_
                .emplace(breaker_key, std::make_unique<core::circuit_breaker>(options_.breaker))
                .first;
  }
  c->breaker = breaker->second.get();
  start_attempt(c);
}

void http_client::impl::start_attempt(const std::shared_ptr<call>& c) {
  ++c->attempt;
  const auto before = c->breaker->state();
  c->ticket = c->breaker->admit(now_ms());
  track(*c->breaker, before);
  if (!c->ticket.admitted())
    return finish(c, client_error::circuit_open);
  c->attempt_active = true;
  const auto timeout_ms = std::min(
    c->request.timeout_ms == 0 ? options_.request_timeout_ms : c->request.timeout_ms,
    core::limits::client_request_timeout_ms_max);
  c->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  c->timer.async_wait([this, c, attempt = c->attempt](asio::error_code error) {
    if (!error && current(*c, attempt))
      fail_attempt(c, client_error::timeout);
  });
  acquire(c);
}

void http_client::impl::acquire(const std::shared_ptr<call>& c) {
  origin_pool& origin = *c->origin;
  if (!origin.idle.empty()) {
    auto conn = std::move(origin.idle.back());
    origin.idle.pop_back();
    connections_idle_.dec();
    conn->idle = false;
    ++conn->idle_generation;
    conn->idle_timer.cancel();
    asio::error_code ignored;
    conn->lowest().cancel(ignored); // the wait for the peer closing it while idle
    return send(c, conn);
  }
  if (origin.open < options_.connections_per_origin_max)
    return open_connection(c);
  if (origin.waiting.size() >= options_.queued_requests_per_origin_max)
    return fail_attempt(c, client_error::pool_exhausted);
  origin.waiting.push_back(c);
  c->queued = true;
}

void http_client::impl::open_connection(const std::shared_ptr<call>& c) {
  origin_pool& origin = *c->origin;
  if (origin.tls && !tls_ready_)
    return fail_attempt(c, client_error::tls_failed);
  auto conn = std::make_shared<connection>(io_, origin.tls ? &tls_context_ : nullptr,
                                           options_.response);
  conn->origin = &origin;
  ++origin.open;
  connections_open_.inc();
  c->conn = conn;
  conn->resolver.async_resolve(
    origin.host, std::to_string(origin.port),
    [this, c, conn, attempt = c->attempt](asio::error_code error,
                                          tcp::resolver::results_type endpoints) {
      if (!current(*c, attempt))
        return;
      if (error)
        return fail_attempt(c, client_error::connect_failed);
      asio::async_connect(
        conn->lowest(), endpoints,
        [this, c, conn, attempt](asio::error_code connect_error, const tcp::endpoint&) {
          if (!current(*c, attempt))
            return;
          if (connect_error)
            return fail_attempt(c, client_error::connect_failed);
          asio::error_code ignored;
          conn->lowest().set_option(tcp::no_delay(true), ignored);
          if (!conn->tls)
            return established(c, conn);
          const std::string& host = conn->origin->host;
          // SNI carries names only (RFC 6066 3); the certificate is checked against the host
          // either way, as a name or as an IP address.
          if (!is_ip_literal(host))
            SSL_set_tlsext_host_name(conn->tls->native_handle(), host.c_str());
          conn->tls->set_verify_callback(asio::ssl::host_name_verification(host));
          conn->tls->async_handshake(asio::ssl::stream_base::client,
                                     [this, c, conn, attempt](asio::error_code tls_error) {
                                       if (!current(*c, attempt))
                                         return;
                                       if (tls_error)
                                         return fail_attempt(c, client_error::tls_failed);
                                       established(c, conn);
                                     });
        });
    });
}

void http_client::impl::established(const std::shared_ptr<call>& c,
                                    const std::shared_ptr<connection>& conn) {
  connections_opened_.inc();
  send(c, conn);
}

void http_client::impl::send(const std::shared_ptr<call>& c,
                             const std::shared_ptr<connection>& conn) {
  c->conn = conn;
  conn->parser.reset(c->request.method == http_method::head);
  with_stream(*conn, [&](auto& stream) {
    asio::async_write(stream, asio::buffer(c->wire),
                      [this, c, conn, attempt = c->attempt](asio::error_code error, std::size_t) {
                        if (!current(*c, attempt))
                          return;
                        if (error)
                          return fail_attempt(c, client_error::connection_lost);
                        read(c, conn);
                      });
  });
}

void http_client::impl::read(const std::shared_ptr<call>& c,
                             const std::shared_ptr<connection>& conn) {
  with_stream(*conn, [&](auto& stream) {
    stream.async_read_some(asio::buffer(conn->buffer),
                           [this, c, conn, attempt = c->attempt](asio::error_code error,
                                                                 std::size_t bytes) {
                             if (current(*c, attempt))
                               on_read(c, conn, error, bytes);
                           });
  });
}

void http_client::impl::on_read(const std::shared_ptr<call>& c,
                                const std::shared_ptr<connection>& conn, asio::error_code error,
                                std::size_t bytes) {
  http_response_parser& parser = conn->parser;
  response_parse_status status = response_parse_status::need_more;
  std::size_t used = 0;
  if (!error) {
    status = parser.feed(std::string_view(conn->buffer.data(), bytes), used);
  } else if (error == asio::error::eof) {
    // A clean end: TCP FIN on a plain connection, close_notify under TLS. A TLS connection cut
    // without close_notify (stream_truncated) may have lost the end of a close-delimited body,
    // so it is a lost connection, not the end of the body.
    status = parser.finish();
  } else {
    return fail_attempt(c, client_error::connection_lost);
  }
  switch (status) {
    case response_parse_status::need_more: return read(c, conn);
    case response_parse_status::error: return fail_attempt(c, error_of(parser.error()));
    case response_parse_status::complete: {
      // Bytes after the response were not asked for (no pipelining): the peer is confused and
      // the connection is not reused.
      const bool reusable = !error && used == bytes && parser.response().keep_alive;
      return on_response(c, parser.take_response(), reusable);
    }
  }
}

void http_client::impl::on_response(const std::shared_ptr<call>& c, parsed_response response,
                                    bool reusable) {
  end_attempt(*c);
  auto conn = std::move(c->conn);
  release(conn, reusable);
  record(*c, response.status < 500, false);
  if (retryable_status(response.status) && may_retry(*c, false))
    return retry(c);
  client_response result;
  result.status = response.status;
  result.headers = std::move(response.headers);
  result.body = std::move(response.body);
  result.attempts = c->attempt;
  finish(c, std::move(result));
}

void http_client::impl::fail_attempt(const std::shared_ptr<call>& c, client_error error) {
  end_attempt(*c);
  if (auto conn = std::move(c->conn))
    discard(conn);
  const bool says_nothing = error == client_error::pool_exhausted ||
                            error == client_error::stopped;
  record(*c, false, says_nothing);
  const bool connect_failure = error == client_error::connect_failed;
  const bool retryable = connect_failure || error == client_error::timeout ||
                         error == client_error::connection_lost;
  if (retryable && may_retry(*c, connect_failure))
    return retry(c);
  finish(c, error);
}

void http_client::impl::end_attempt(call& c) {
  c.attempt_active = false;
  c.timer.cancel();
  if (c.queued) {
    auto& waiting = c.origin->waiting;
    const auto found =
      std::find_if(waiting.begin(), waiting.end(),
                   [&](const std::shared_ptr<call>& other) { return other.get() == &c; });
    if (STEWARD_SURVIVABLE(found != waiting.end()))
      waiting.erase(found);
    c.queued = false;
  }
}

bool http_client::impl::may_retry(const call& c, bool connect_failure) const noexcept {
  if (stopping_ || c.attempt > options_.retries_max)
    return false;
  // A failed connect sent nothing, so any request may try again. Otherwise the provider may have
  // acted on it, and only a request that is safe to repeat is sent again: GET and HEAD, or one
  // whose idempotency key makes the provider answer a repeat with the first outcome.
  return connect_failure || c.request.method == http_method::get ||
         c.request.method == http_method::head || !c.request.idempotency_key.empty();
}

void http_client::impl::retry(const std::shared_ptr<call>& c) {
  retries_.inc();
  // Exponential from the base, capped, with jitter over the upper half, so that clients that
  // failed together do not come back together.
  const std::uint32_t shift = std::min<std::uint32_t>(c->attempt - 1, 20);
  const std::uint64_t ceiling =
    std::min<std::uint64_t>(std::uint64_t(options_.backoff_base_ms) << shift,
                            options_.backoff_max_ms);
  const std::uint64_t random = options_.random ? options_.random() : random_();
  const std::uint64_t delay_ms = ceiling - ceiling / 2 + random % (ceiling / 2 + 1);
  c->timer.expires_after(std::chrono::milliseconds(delay_ms));
  c->timer.async_wait([this, c, attempt = c->attempt](asio::error_code error) {
    if (error || c->finished || c->attempt != attempt || c->attempt_active)
      return;
    start_attempt(c);
  });
}

void http_client::impl::record(call& c, bool success, bool abandoned) {
  if (c.breaker == nullptr || !c.ticket.admitted())
    return;
  const auto opens = c.breaker->opens();
  const auto before = c.breaker->state();
  if (abandoned)
    c.breaker->record_abandoned(c.ticket);
  else if (success)
    c.breaker->record_success(c.ticket, now_ms());
  else
    c.breaker->record_failure(c.ticket, now_ms());
  if (c.breaker->opens() != opens)
    breaker_opens_.inc();
  track(*c.breaker, before);
  c.ticket = {}; // one outcome per ticket
}

void http_client::impl::track(const core::circuit_breaker& breaker,
                              core::breaker_state before) noexcept {
  const bool was_closed = before == core::breaker_state::closed;
  const bool is_closed = breaker.state() == core::breaker_state::closed;
  if (was_closed && !is_closed)
    breakers_open_.inc();
  else if (!was_closed && is_closed)
    breakers_open_.dec();
}

void http_client::impl::finish(const std::shared_ptr<call>& c, client_result result) {
  if (c->finished)
    return;
  c->finished = true;
  c->attempt_active = false;
  c->timer.cancel();
  calls_.erase(c->position);
  in_flight_.dec();
  if (std::holds_alternative<client_response>(result))
    responses_.inc();
  else
    errors_[static_cast<std::size_t>(std::get<client_error>(result))]->inc();
  auto done = std::move(c->done);
  done(std::move(result));
}

void http_client::impl::release(const std::shared_ptr<connection>& conn, bool reusable) {
  if (!reusable || stopping_ || options_.idle_timeout_ms == 0)
    return discard(conn);
  origin_pool& origin = *conn->origin;
  // A request waiting for this origin takes the connection at once.
  while (!origin.waiting.empty()) {
    auto next = std::move(origin.waiting.front());
    origin.waiting.pop_front();
    next->queued = false;
    if (!next->finished && next->attempt_active)
      return send(next, conn);
  }
  make_idle(conn);
}

void http_client::impl::make_idle(const std::shared_ptr<connection>& conn) {
  conn->idle = true;
  const auto generation = ++conn->idle_generation;
  conn->origin->idle.push_back(conn);
  connections_idle_.inc();
  conn->idle_timer.expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
  conn->idle_timer.async_wait([this, conn, generation](asio::error_code error) {
    if (!error && conn->idle && conn->idle_generation == generation)
      drop_idle(conn);
  });
  // An idle connection should stay silent; readable means the peer closed it (or is confused), so
  // it is dropped now instead of failing the next request that would pick it.
  conn->lowest().async_wait(tcp::socket::wait_read,
                            [this, conn, generation](asio::error_code error) {
                              if (error != asio::error::operation_aborted && conn->idle &&
                                  conn->idle_generation == generation)
                                drop_idle(conn);
                            });
}

void http_client::impl::drop_idle(std::shared_ptr<connection> conn) {
  auto& idle = conn->origin->idle;
  idle.erase(std::find(idle.begin(), idle.end(), conn));
  connections_idle_.dec();
  conn->idle = false;
  ++conn->idle_generation;
  discard(conn);
}

void http_client::impl::discard(const std::shared_ptr<connection>& conn) {
  if (conn->closed)
    return;
  conn->closed = true;
  origin_pool& origin = *conn->origin;
  --origin.open;
  connections_open_.dec(); // before the close, so that a peer seeing it finds the gauge down
  asio::error_code ignored;
  conn->resolver.cancel();
  conn->idle_timer.cancel();
  // No TLS close_notify: the connection is abandoned, and waiting for the peer's answer to a
  // shutdown could only delay this. Closing cancels every pending operation on it.
  conn->lowest().close(ignored);
  // The freed slot goes to the first request waiting for one.
  while (!stopping_ && !origin.waiting.empty() &&
         origin.open < options_.connections_per_origin_max) {
    auto next = std::move(origin.waiting.front());
    origin.waiting.pop_front();
    next->queued = false;
    if (!next->finished && next->attempt_active) {
      open_connection(next);
      break;
    }
  }
}

void http_client::impl::on_stop() {
  stopping_ = true;
  while (!calls_.empty()) {
    auto c = calls_.front();
    if (c->attempt_active) {
      end_attempt(*c);
      if (auto conn = std::move(c->conn))
        discard(conn);
      record(*c, false, true);
    }
    finish(c, client_error::stopped);
  }
  for (auto& [key, origin] : origins_) {
    while (!origin->idle.empty())
      drop_idle(origin->idle.back());
  }
  // Handlers still queued (the aborted operations of closed connections) are destroyed with the
  // io_context; they find their calls finished, so none would do anything.
  work_.reset();
  io_.stop();
}

http_client::http_client(client_options options)
  : impl_(std::make_unique<impl>(std::move(options))) {}

http_client::~http_client() {
  stop();
}

void http_client::request(client_request request, client_callback done) {
  impl_->request(std::move(request), std::move(done));
}

void http_client::stop() {
  impl_->stop();
}

client_stats http_client::stats() const noexcept {
  client_stats stats;
  stats.responses = impl_->responses_.value();
  for (std::size_t i = 0; i < client_error_count; ++i)
    stats.errors[i] = impl_->errors_[i]->value();
  stats.retries = impl_->retries_.value();
  stats.breaker_opens = impl_->breaker_opens_.value();
  stats.connections_opened = impl_->connections_opened_.value();
  stats.connections_open = impl_->connections_open_.value();
  stats.connections_idle = impl_->connections_idle_.value();
  stats.requests_in_flight = impl_->in_flight_.value();
  stats.breakers_open = impl_->breakers_open_.value();
  return stats;
}

} // namespace steward::net
