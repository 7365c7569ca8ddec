#include "actors/webhook_sender.hpp"

#include "core/assert.hpp"
#include "core/hmac_signature.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <deque>
#include <random>
#include <variant>
#include <utility>
#include <vector>

namespace steward::actors {

namespace {

using steady = std::chrono::steady_clock;

// Bounds of the sender (STYLE.md, "Limits on everything"). They live here rather than in
// core/limits.hpp because nothing else uses them and none is configurable.

/// Outbox entries read per `read_outbox` call; the next page is read once these are delivered.
constexpr std::uint32_t outbox_page_entries_max = 100;
/// A response's status line and headers; more is a malformed response (a webhook acknowledgement
/// has no reason to be large).
constexpr std::size_t response_header_bytes_max = 16 * 1024;
/// A response's body, which is read (to let the receiver finish its answer) and discarded.
constexpr std::size_t response_body_bytes_max = 1u << 20;
/// Interim (1xx) responses skipped before the final one.
constexpr int interim_responses_max = 4;
/// Delivered ids whose deletion from the outbox failed, kept to try the delete again with the next
/// one. Past it the oldest is forgotten: it stays in the outbox and is sent again after a restart,
/// which the receiver deduplicates.
constexpr std::size_t completion_retry_ids_max = 512;

static_assert(outbox_page_entries_max <= core::limits::journal_read_outbox_max);
static_assert(completion_retry_ids_max + 1 <= core::limits::journal_read_outbox_max,
              "one complete_outbox carries the delivered id and every id kept for retry");

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// Printable ASCII without space: what may go into a header value built from an outbox entry.
bool is_token_text(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

} // namespace

/// The URL, split into what a request needs.
struct webhook_sender::target {
  std::string host;           ///< for getaddrinfo: a name, an IPv4 literal or an IPv6 literal without brackets
  std::string port = "80";    ///< decimal, for getaddrinfo
  std::string host_header;    ///< as written in the URL (brackets kept), with `:port` unless it is 80
  std::string request_target; ///< path and query; "/" when the URL has none
};

namespace {

std::optional<std::string> parse_url(std::string_view url, webhook_sender::target& out) {
  if (starts_with_ignoring_case(url, "https://"))
    return "webhook url: https is not supported yet: the webhook sender speaks plain HTTP until the "
           "outbound client with TLS (issue 4) replaces it; use an http:// URL (for example a "
           "TLS-terminating proxy on loopback)";
  if (!starts_with_ignoring_case(url, "http://")) {
    const auto scheme_end = url.find("://");
    if (scheme_end != std::string_view::npos)
      return "webhook url: scheme '" + std::string(url.substr(0, scheme_end)) +
             "' is not supported; use http://HOST[:PORT]/PATH";
    return "webhook url: must look like http://HOST[:PORT]/PATH";
  }
  std::string_view rest = url.substr(7);
  for (char c : rest)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return std::string("webhook url: contains a space or a control character");
  if (rest.find('#') != std::string_view::npos)
    return std::string("webhook url: a fragment (#...) is never sent; remove it");

  const auto authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path = authority_end == std::string_view::npos ? std::string_view{}
                                                                         : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos)
    return std::string("webhook url: credentials in the URL (user@host) are not supported");

  std::string_view host;
  std::string_view port_part; // after the ':' that separates the port, when there is one
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return std::string("webhook url: an IPv6 host must be closed with ']'");
    host = authority.substr(1, close - 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) { return is_hex(c) || c == ':' || c == '.'; }))
      return std::string("webhook url: invalid IPv6 host");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return std::string("webhook url: unexpected characters after the IPv6 host");
      has_port = true;
      port_part = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_part = authority.substr(colon + 1);
    }
    if (host.empty())
      return std::string("webhook url: has no host");
    if (!std::all_of(host.begin(), host.end(), is_host_char))
      return "webhook url: invalid character in host '" + std::string(host) + "'";
  }

  std::uint32_t port = 80;
  if (has_port) {
    const char* end = port_part.data() + port_part.size();
    const auto [ptr, ec] = std::from_chars(port_part.data(), end, port);
    if (port_part.empty() || port_part.size() > 5 || !std::all_of(port_part.begin(), port_part.end(), is_digit) ||
        ec != std::errc{} || ptr != end || port == 0 || port > 65535)
      return "webhook url: bad port '" + std::string(port_part) + "' (must be 1 to 65535)";
  }

  out.host = std::string(host);
  out.port = std::to_string(port);
  out.host_header = std::string(authority.substr(0, authority.size() - (has_port ? port_part.size() + 1 : 0)));
  if (port != 80)
    out.host_header += ":" + out.port;
  if (path.empty())
    out.request_target = "/";
  else if (path.front() == '?')
    out.request_target = "/" + std::string(path);
  else
    out.request_target = std::string(path);
  return std::nullopt;
}

// --- The HTTP client ---------------------------------------------------------------------------
//
// One request per connection (`Connection: close`), every wait a poll() on the socket and the
// sender's stop eventfd with the attempt's deadline, so that neither a silent receiver nor stop()
// waits longer than it must. Name resolution is the exception: getaddrinfo(3) has no deadline of
// its own and is bounded by the resolver's timeouts (resolv.conf), not by `timeout`. Numeric
// hosts (the usual case for a platform on the same network) never reach a resolver.

enum class wait_result : std::uint8_t { ready, timeout, stopped, error };

wait_result wait_for(int fd, short events, steady::time_point deadline, int stop_fd) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0)
      return wait_result::timeout;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 60'000)));
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      return wait_result::error;
    }
    if (fds[1].revents != 0)
      return wait_result::stopped;
    if (fds[0].revents != 0)
      return wait_result::ready; // including POLLERR/POLLHUP: the next call on fd says what happened
  }
}

/// A socket closed when it goes out of scope.
class socket_fd {
public:
  socket_fd() = default;
  explicit socket_fd(int fd) noexcept : fd_(fd) {}
  socket_fd(socket_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  socket_fd& operator=(socket_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~socket_fd() { reset(); }
  void reset() noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }
  int get() const noexcept { return fd_; }

private:
  int fd_ = -1;
};

/// How one attempt ended.
struct attempt_outcome {
  enum class kind : std::uint8_t { delivered, failed, abandoned } result = kind::failed;
  /// For a failure, a short reason. Nothing logs it yet (steward has no logger); it is meant for
  /// the log line and the per-reason metric that come with the outbound client of issue 4.
  std::string_view why;
};

attempt_outcome failed(std::string_view why) { return {attempt_outcome::kind::failed, why}; }
attempt_outcome abandoned() { return {attempt_outcome::kind::abandoned, "stopped"}; }

std::optional<attempt_outcome> from_wait(wait_result result, std::string_view timeout_why) {
  switch (result) {
    case wait_result::ready: return std::nullopt;
    case wait_result::timeout: return failed(timeout_why);
    case wait_result::stopped: return abandoned();
    case wait_result::error: return failed("poll failed");
  }
  return failed("poll failed");
}

/// Connects to the first address of `t` that accepts, or says why none did.
std::variant<socket_fd, attempt_outcome> connect_to(const webhook_sender::target& t, steady::time_point deadline,
                                                    int stop_fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &found) != 0 || found == nullptr)
    return failed("cannot resolve host");
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    socket_fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0)
      continue;
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0)
      return fd;
    if (errno != EINPROGRESS)
      continue;
    const auto waited = wait_for(fd.get(), POLLOUT, deadline, stop_fd);
    if (waited == wait_result::timeout || waited == wait_result::stopped)
      return *from_wait(waited, "connect timed out"); // no time left for another address
    if (waited == wait_result::error)
      continue;
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0)
      return fd;
  }
  return failed("connect failed");
}

std::optional<attempt_outcome> send_all(int fd, std::string_view bytes, steady::time_point deadline, int stop_fd) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto stop = from_wait(wait_for(fd, POLLOUT, deadline, stop_fd), "send timed out"))
        return stop;
      continue;
    }
    return failed("send failed");
  }
  return std::nullopt;
}

/// Reads more bytes into `buffer` (at most `max` in all): true with data, false at EOF; an outcome
/// on timeout, stop or error.
std::variant<bool, attempt_outcome> receive(int fd, std::string& buffer, std::size_t max,
                                            std::string_view too_large_why, steady::time_point deadline,
                                            int stop_fd) {
  char chunk[4096];
  for (;;) {
    const std::size_t room = std::min(sizeof chunk, max - buffer.size());
    if (room == 0)
      return failed(too_large_why);
    const ssize_t got = ::recv(fd, chunk, room, 0);
    if (got > 0) {
      buffer.append(chunk, static_cast<std::size_t>(got));
      return true;
    }
    if (got == 0)
      return false;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return failed("receive failed");
    if (auto stop = from_wait(wait_for(fd, POLLIN, deadline, stop_fd), "response timed out"))
      return *stop;
  }
}

/// The parts of a response head the client needs.
struct response_head {
  int status = 0;
  std::optional<std::size_t> content_length;
};

/// Parses a status line and header fields (without the final empty line); nullopt when malformed.
std::optional<response_head> parse_head(std::string_view head) {
  const auto line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.x SSS[ reason]"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || !is_digit(status_line[7]) ||
      status_line[8] != ' ' || !is_digit(status_line[9]) || !is_digit(status_line[10]) ||
      !is_digit(status_line[11]) || (status_line.size() > 12 && status_line[12] != ' '))
    return std::nullopt;
  response_head out;
  out.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (out.status < 100)
    return std::nullopt;

  std::string_view fields = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  bool chunked = false;
  while (!fields.empty()) {
    const auto end = fields.find("\r\n");
    const std::string_view field = fields.substr(0, end);
    fields = end == std::string_view::npos ? std::string_view{} : fields.substr(end + 2);
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return std::nullopt;
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::size_t length = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() ||
          (out.content_length && *out.content_length != length))
        return std::nullopt;
      out.content_length = length;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = true;
    }
  }
  // A chunked body is read until the close instead (we ask for `Connection: close`), so its length
  // is ignored, as RFC 9112 6.3 requires when both are present.
  if (chunked)
    out.content_length.reset();
  return out;
}

/// Reads the final response and its body; delivered on 2xx.
attempt_outcome read_response(int fd, steady::time_point deadline, int stop_fd) {
  std::string buffer;
  for (int interim = 0; interim <= interim_responses_max; ++interim) {
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      auto got = receive(fd, buffer, response_header_bytes_max, "response head too large", deadline, stop_fd);
      if (auto* outcome = std::get_if<attempt_outcome>(&got))
        return *outcome;
      if (!std::get<bool>(got))
        return failed("connection closed before the response head");
    }
    const auto head = parse_head(std::string_view(buffer).substr(0, head_end));
    if (!head)
      return failed("malformed response head");
    buffer.erase(0, head_end + 4);
    if (head->status < 200)
      continue; // 1xx: the final response follows

    const bool delivered = head->status < 300;
    const bool no_body = head->status == 204 || head->status == 304;
    if (!no_body) {
      // The body is read so that the receiver finishes its answer, then discarded.
      if (head->content_length) {
        if (*head->content_length > response_body_bytes_max)
          return failed("response body too large");
        while (buffer.size() < *head->content_length) {
          auto got = receive(fd, buffer, response_body_bytes_max, "response body too large", deadline, stop_fd);
          if (auto* outcome = std::get_if<attempt_outcome>(&got))
            return *outcome;
          if (!std::get<bool>(got))
            return failed("connection closed before the response body");
        }
      } else {
        for (;;) {
          auto got = receive(fd, buffer, response_body_bytes_max, "response body too large", deadline, stop_fd);
          if (auto* outcome = std::get_if<attempt_outcome>(&got))
            return *outcome;
          if (!std::get<bool>(got))
            break; // the close ends the body
        }
      }
    }
    return delivered ? attempt_outcome{attempt_outcome::kind::delivered, {}} : failed("non-2xx status");
  }
  return failed("too many interim responses");
}

attempt_outcome post(const webhook_sender::target& t, std::string_view request, steady::time_point deadline,
                     int stop_fd) {
  auto connected = connect_to(t, deadline, stop_fd);
  if (auto* outcome = std::get_if<attempt_outcome>(&connected))
    return *outcome;
  const socket_fd fd = std::move(std::get<socket_fd>(connected));
  if (auto outcome = send_all(fd.get(), request, deadline, stop_fd))
    return *outcome;
  return read_response(fd.get(), deadline, stop_fd);
}

// --- Requests ----------------------------------------------------------------------------------

/// Why `entry` cannot be sent as a request, or nullptr. Entries are written by steward itself, so a
/// bad one is a programmer error; but it must not inject header lines or stall the whole outbox.
const char* entry_problem(const storage::outbox_entry& entry) {
  if (entry.id.empty() || entry.id.size() > storage::outbox_id_bytes_max || !is_token_text(entry.id))
    return "id is not a valid Idempotency-Key";
  if (entry.type.empty() || entry.type.size() > storage::outbox_type_bytes_max || !is_token_text(entry.type))
    return "type is not a valid header value";
  if (entry.payload.empty())
    return "payload is empty";
  return nullptr;
}

/// `{"id","object":"event","type","created","data"}`; `data` is the entry's payload as stored.
std::string event_body(const storage::outbox_entry& entry) {
  std::string body;
  core::json_writer w(body);
  w.begin_object()
      .member("id", std::string_view(entry.id))
      .member("object", std::string_view("event"))
      .member("type", std::string_view(entry.type))
      .member("created", entry.created_at)
      .key("data")
      .raw(entry.payload)
      .end_object();
  return body;
}

std::string make_request(const webhook_sender::target& t, const storage::outbox_entry& entry,
                         std::string_view secret, std::int64_t now) {
  const std::string body = event_body(entry);
  const std::string signature =
      core::sign(secret, now, core::signed_request{"POST", t.request_target, entry.id, body});
  std::string request;
  request.reserve(256 + t.request_target.size() + t.host_header.size() + signature.size() + body.size());
  request.append("POST ").append(t.request_target).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(t.host_header).append("\r\n");
  request.append("Content-Type: application/json\r\n");
  request.append("Idempotency-Key: ").append(entry.id).append("\r\n");
  request.append("Steward-Event: ").append(entry.type).append("\r\n");
  request.append(core::signature_header_name).append(": ").append(signature).append("\r\n");
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  request.append("Connection: close\r\n\r\n");
  request.append(body);
  return request;
}

// --- Backoff -----------------------------------------------------------------------------------

/// Backoff that doubles from `initial` up to `max`; each wait is jittered by ±20 % and never
/// exceeds `max`.
class backoff {
public:
  backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial), random_(std::random_device{}()) {}

  /// The wait before the next retry; the one after it is twice as long (up to the cap).
  std::chrono::milliseconds next() {
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto base = next_;
    next_ = next_ >= max_ / 2 ? max_ : next_ * 2;
    const auto jittered =
        std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * jitter(random_)));
    return std::clamp(jittered, std::chrono::milliseconds(1), max_);
  }
  void reset() noexcept { next_ = initial_; }

private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::mt19937_64 random_;
};

} // namespace

std::optional<std::string> validate_webhook_url(std::string_view url) {
  webhook_sender::target ignored;
  return parse_url(url, ignored);
}

// --- The sender --------------------------------------------------------------------------------

struct webhook_sender::completion_state {
  std::mutex mutex;
  /// Delivered ids whose delete failed, oldest first; sent again with the next delete.
  std::deque<std::string> retry_ids;

  void keep_for_retry(std::vector<std::string> ids) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& id : ids)
      retry_ids.push_back(std::move(id));
    while (retry_ids.size() > completion_retry_ids_max)
      retry_ids.pop_front();
  }
  void take(std::vector<std::string>& into) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& id : retry_ids)
      into.push_back(std::move(id));
    retry_ids.clear();
  }
};

webhook_sender::webhook_sender(webhook_config config)
    : config_(std::move(config)), target_(std::make_unique<target>()),
      completions_(std::make_shared<completion_state>()) {
  STEWARD_ASSERT(!parse_url(config_.url, *target_).has_value());
  STEWARD_ASSERT(config_.journal != nullptr);
  STEWARD_ASSERT(!config_.secret.empty());
  STEWARD_ASSERT(config_.timeout.count() > 0);
  STEWARD_ASSERT(config_.backoff_initial.count() > 0 && config_.backoff_initial <= config_.backoff_max);
  if (!config_.clock)
    config_.clock = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  STEWARD_ASSERT(stop_fd_ >= 0);
  thread_ = std::thread([this] { run(); });
}

webhook_sender::~webhook_sender() {
  stop();
  ::close(stop_fd_);
}

void webhook_sender::notify() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    notified_ = true;
  }
  wake_.notify_one();
}

void webhook_sender::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      const std::uint64_t one = 1;
      // Wakes a poll() of an attempt in flight. It cannot fail short of a bug: the counter is far
      // from overflowing and the fd is open until the destructor.
      [[maybe_unused]] const auto written = ::write(stop_fd_, &one, sizeof one);
    }
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void webhook_sender::run() {
  std::deque<storage::outbox_entry> queue; // read, not yet delivered, ascending n
  std::uint64_t after_n = 0;               // the highest n read so far
  bool read_more = false;                  // the last page was full: read the next before waiting
  bool backing_off = false;                // after a failure: wait until `retry_at`
  steady::time_point retry_at{};
  backoff delays(config_.backoff_initial, config_.backoff_max);

  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (backing_off) {
        // A notify does not end a backoff: the head of the queue is retried first anyway.
        wake_.wait_until(lock, retry_at, [this] { return stopping_; });
      } else {
        wake_.wait(lock, [&] { return stopping_ || notified_ || read_more || !queue.empty(); });
      }
      if (stopping_)
        return;
      if (notified_) {
        notified_ = false;
        read_more = true;
      }
    }
    backing_off = false;

    if (queue.empty() && read_more) {
      auto page = config_.journal->read_outbox(after_n, outbox_page_entries_max);
      if (!page) {
        backing_off = true;
        retry_at = steady::now() + delays.next();
        continue;
      }
      read_more = page.value().size() >= outbox_page_entries_max;
      for (auto& entry : page.value()) {
        if (!STEWARD_SURVIVABLE(entry.n > after_n))
          continue; // not ascending: already read (or a journal bug); never loop on it
        after_n = entry.n;
        queue.push_back(std::move(entry));
        pending_.fetch_add(1, std::memory_order_relaxed);
      }
      delays.reset();
    }
    if (queue.empty())
      continue;

    const storage::outbox_entry& entry = queue.front();
    if (!STEWARD_SURVIVABLE(entry_problem(entry) == nullptr)) {
      // Left in the outbox for an operator to see; retrying it would stall every entry behind it.
      queue.pop_front();
      pending_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }

    const auto request = make_request(*target_, entry, config_.secret, config_.clock());
    const auto outcome = post(*target_, request, steady::now() + config_.timeout, stop_fd_);
    switch (outcome.result) {
      case attempt_outcome::kind::abandoned:
        return; // stop(): the entry stays in the outbox
      case attempt_outcome::kind::failed:
        failed_attempts_.fetch_add(1, std::memory_order_relaxed);
        backing_off = true;
        retry_at = steady::now() + delays.next();
        break;
      case attempt_outcome::kind::delivered: {
        std::vector<std::string> ids{entry.id};
        queue.pop_front();
        pending_.fetch_sub(1, std::memory_order_relaxed);
        delivered_.fetch_add(1, std::memory_order_relaxed);
        delays.reset();
        completions_->take(ids);
        // The callback runs on the journal's writer thread, possibly after this sender is gone:
        // it holds the shared state, never `this`.
        config_.journal->complete_outbox(ids, [state = completions_, ids](storage::append_outcome done) mutable {
          if (!done.durable())
            state->keep_for_retry(std::move(ids));
        });
        break;
      }
    }
  }
}

} // namespace steward::actors
