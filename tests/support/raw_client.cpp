#include "tests/support/raw_client.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace steward::test_support {

namespace {

/// A response's header section larger than this is treated as malformed: stewardd never sends one.
constexpr std::size_t response_header_bytes_max = 64 * 1024;

int remaining_ms(deadline until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
  if (left.count() <= 0) {
    return 0;
  }
  return static_cast<int>(std::min<long long>(left.count(), 60'000));
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<std::size_t> parse_size(std::string_view text, int base) {
  std::size_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (ec != std::errc{} || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

std::size_t http_response::header_count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(),
                    [&](const auto& field) { return iequals(field.first, name); }));
}

bool http_response::connection_close() const {
  for (const auto& [key, value] : headers) {
    if (!iequals(key, "connection")) {
      continue;
    }
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), "close")) {
        return true;
      }
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return false;
}

std::string http_response::media_type() const {
  const auto value = header("content-type");
  if (!value) {
    return {};
  }
  std::string_view type = *value;
  type = trim(type.substr(0, type.find(';')));
  std::string out(type);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

std::optional<raw_client> raw_client::connect(std::uint16_t port, deadline until, int* error_out) {
  auto fail = [&](int error) -> std::optional<raw_client> {
    if (error_out != nullptr) {
      *error_out = error;
    }
    return std::nullopt;
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail(errno);
  }
  raw_client client(fd);
  // Tests write requests in pieces on purpose; Nagle would merge or delay them.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    return client;
  }
  if (errno != EINPROGRESS) {
    return fail(errno);
  }
  pollfd waiter{fd, POLLOUT, 0};
  while (true) {
    const int ready = ::poll(&waiter, 1, remaining_ms(until));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return fail(ready == 0 ? ETIMEDOUT : errno);
    }
    break;
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    return fail(errno);
  }
  if (error != 0) {
    return fail(error);
  }
  return client;
}

raw_client::raw_client(raw_client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      peer_closed_(other.peer_closed_),
      reset_seen_(other.reset_seen_),
      last_error_(std::move(other.last_error_)) {}

raw_client& raw_client::operator=(raw_client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    peer_closed_ = other.peer_closed_;
    reset_seen_ = other.reset_seen_;
    last_error_ = std::move(other.last_error_);
  }
  return *this;
}

raw_client::~raw_client() {
  close();
}

void raw_client::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void raw_client::shutdown_write() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
  }
}

bool raw_client::send_all(std::string_view bytes, deadline until) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd waiter{fd_, POLLOUT, 0};
      const int ready = ::poll(&waiter, 1, remaining_ms(until));
      if (ready == 0) {
        last_error_ = "timeout";
        return false;
      }
      continue;
    }
    last_error_ = (errno == ECONNRESET || errno == EPIPE) ? "reset" : "send error";
    return false;
  }
  return true;
}

bool raw_client::wait_readable(deadline until) const {
  if (!buffer_.empty()) {
    return true;
  }
  pollfd waiter{fd_, POLLIN, 0};
  while (true) {
    const int ready = ::poll(&waiter, 1, remaining_ms(until));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    return ready > 0;
  }
}

raw_client::fill_result raw_client::fill(deadline until) {
  if (peer_closed_) {
    return fill_result::closed;
  }
  char chunk[16384];
  while (true) {
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(got));
      return fill_result::data;
    }
    if (got == 0) {
      peer_closed_ = true;
      return fill_result::closed;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd waiter{fd_, POLLIN, 0};
      const int ready = ::poll(&waiter, 1, remaining_ms(until));
      if (ready == 0) {
        return fill_result::timeout;
      }
      continue;
    }
    // ECONNRESET and friends: the server is gone from this connection either way.
    peer_closed_ = true;
    reset_seen_ = errno == ECONNRESET;
    return fill_result::closed;
  }
}

std::optional<http_response> raw_client::read_response(deadline until, bool no_body) {
  auto failed = [&](fill_result why) -> std::optional<http_response> {
    last_error_ = why == fill_result::timeout ? "timeout" : (reset_seen_ ? "reset" : "eof");
    return std::nullopt;
  };
  auto malformed = [&](std::string what) -> std::optional<http_response> {
    last_error_ = "malformed: " + what;
    return std::nullopt;
  };

  std::size_t header_end = 0;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > response_header_bytes_max) {
      return malformed("header section too large");
    }
    if (const auto result = fill(until); result != fill_result::data) {
      return failed(result);
    }
  }

  http_response response;
  std::string_view head(buffer_.data(), header_end);
  const auto status_line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, status_line_end);
  {
    const auto first_space = status_line.find(' ');
    if (first_space == std::string_view::npos || !status_line.starts_with("HTTP/1.")) {
      return malformed("status line '" + std::string(status_line) + "'");
    }
    response.version = std::string(status_line.substr(0, first_space));
    const auto code_text = status_line.substr(first_space + 1, 3);
    const auto code = parse_size(code_text, 10);
    if (!code || code_text.size() != 3) {
      return malformed("status code in '" + std::string(status_line) + "'");
    }
    response.status = static_cast<int>(*code);
    if (status_line.size() > first_space + 5) {
      response.reason = std::string(status_line.substr(first_space + 5));
    }
  }
  std::string_view lines = status_line_end == std::string_view::npos
                               ? std::string_view{}
                               : head.substr(status_line_end + 2);
  while (!lines.empty()) {
    const auto line_end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, line_end);
    lines = line_end == std::string_view::npos ? std::string_view{} : lines.substr(line_end + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return malformed("header line '" + std::string(line) + "'");
    }
    response.headers.emplace_back(std::string(line.substr(0, colon)),
                                  std::string(trim(line.substr(colon + 1))));
  }
  buffer_.erase(0, header_end + 4);

  const bool bodiless =
      no_body || response.status == 204 || response.status == 304 || response.status / 100 == 1;
  if (bodiless) {
    return response;
  }

  const auto transfer_encoding = response.header("transfer-encoding");
  if (transfer_encoding && iequals(trim(*transfer_encoding), "chunked")) {
    // Chunked: size line, data, CRLF, ..., a zero-size chunk, trailers, CRLF.
    while (true) {
      std::size_t line_end = 0;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
        if (const auto result = fill(until); result != fill_result::data) {
          return failed(result);
        }
      }
      std::string_view size_text(buffer_.data(), line_end);
      size_text = trim(size_text.substr(0, size_text.find(';')));
      const auto size = parse_size(size_text, 16);
      if (!size) {
        return malformed("chunk size '" + std::string(size_text) + "'");
      }
      if (*size == 0) {
        std::size_t trailer_end = 0;
        // The size line's own CRLF followed by the CRLF that ends the (usually empty) trailers.
        while ((trailer_end = buffer_.find("\r\n\r\n", line_end)) == std::string::npos) {
          if (const auto result = fill(until); result != fill_result::data) {
            return failed(result);
          }
        }
        buffer_.erase(0, trailer_end + 4);
        return response;
      }
      while (buffer_.size() < line_end + 2 + *size + 2) {
        if (const auto result = fill(until); result != fill_result::data) {
          return failed(result);
        }
      }
      response.body.append(buffer_, line_end + 2, *size);
      buffer_.erase(0, line_end + 2 + *size + 2);
    }
  }

  if (const auto length_text = response.header("content-length")) {
    const auto length = parse_size(*length_text, 10);
    if (!length) {
      return malformed("content-length '" + *length_text + "'");
    }
    while (buffer_.size() < *length) {
      if (const auto result = fill(until); result != fill_result::data) {
        return failed(result);
      }
    }
    response.body = buffer_.substr(0, *length);
    buffer_.erase(0, *length);
    return response;
  }

  // No framing: the body runs until the server closes the connection.
  while (true) {
    const auto result = fill(until);
    if (result == fill_result::closed) {
      break;
    }
    if (result == fill_result::timeout) {
      return failed(result);
    }
  }
  response.body = std::move(buffer_);
  buffer_.clear();
  return response;
}

bool raw_client::read_until_eof(deadline until) {
  while (true) {
    const auto result = fill(until);
    if (result == fill_result::closed) {
      return true;
    }
    if (result == fill_result::timeout) {
      last_error_ = "timeout";
      return false;
    }
  }
}

std::string make_request(std::string_view method, std::string_view target,
                         std::string_view extra_headers, std::string_view body) {
  std::string request;
  request.reserve(64 + target.size() + extra_headers.size() + body.size());
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  request.append(extra_headers);
  if (!body.empty()) {
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  return request;
}

std::optional<http_response> http_get(std::uint16_t port, std::string_view path, deadline until) {
  auto client = raw_client::connect(port, until);
  if (!client) {
    return std::nullopt;
  }
  if (!client->send_all(make_request("GET", path, "Connection: close\r\n"), until)) {
    return std::nullopt;
  }
  return client->read_response(until);
}

} // namespace steward::test_support
