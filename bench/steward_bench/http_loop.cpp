#include "bench/steward_bench/http_loop.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <utility>

namespace steward::bench {
namespace {

constexpr std::size_t events_per_wait_max = 512;

} // namespace

std::int64_t monotonic_ns() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::string_view to_string(connection_failure failure) noexcept {
  switch (failure) {
  case connection_failure::connect: return "connect";
  case connection_failure::reset: return "reset";
  case connection_failure::closed: return "closed";
  case connection_failure::malformed: return "malformed";
  }
  return "?";
}

std::optional<endpoint> resolve_endpoint(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    error = "--url must start with http:// (got '" + std::string(url) + "')";
    return std::nullopt;
  }
  std::string_view authority = url.substr(scheme.size());
  if (!authority.empty() && authority.back() == '/')
    authority.remove_suffix(1);
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size() ||
      authority.find('/') != std::string_view::npos) {
    error = "--url must be http://HOST:PORT (got '" + std::string(url) + "')";
    return std::nullopt;
  }
  const std::string host(authority.substr(0, colon));
  const std::string port(authority.substr(colon + 1));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0 || !found) {
    error = "--url: cannot resolve " + host + ":" + port + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  endpoint out;
  out.url = std::string(url);
  out.host_header = std::string(authority);
  std::memcpy(&out.address, found->ai_addr, found->ai_addrlen);
  out.address_bytes = found->ai_addrlen;
  freeaddrinfo(found);
  return out;
}

http_loop::http_loop(const endpoint& server, std::size_t connections)
  : server_(server), connections_(connections) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    std::cerr << "steward-bench: epoll_create1: " << std::strerror(errno) << "\n";
    std::abort(); // nothing can run without it, and it only fails when the process is out of fds
  }
  for (auto& conn : connections_)
    conn.in.reserve(read_chunk_bytes);
}

http_loop::~http_loop() {
  close_all();
  if (epoll_fd_ >= 0)
    ::close(epoll_fd_);
}

void http_loop::close_all() noexcept {
  for (std::size_t c = 0; c < connections_.size(); ++c)
    close_connection(c);
  in_flight_ = 0;
}

std::string& http_loop::request_buffer(std::size_t c) noexcept {
  auto& conn = connections_[c];
  conn.out.clear();
  conn.out_sent = 0;
  return conn.out;
}

void http_loop::send(std::size_t c, std::int64_t) {
  auto& conn = connections_[c];
  if (conn.status != state::idle) {
    std::cerr << "steward-bench: internal error: send on a connection that is not idle\n";
    std::abort();
  }
  conn.status = state::busy;
  ++conn.timer_generation; // wakes asked for while idle no longer apply
  ++in_flight_;
  flush(c);
}

void http_loop::wake(std::size_t c, std::int64_t at_ns) {
  if (connections_[c].status == state::idle)
    schedule(c, at_ns);
}

void http_loop::schedule(std::size_t c, std::int64_t at_ns) {
  timers_.push(timer{at_ns, c, connections_[c].timer_generation});
}

void http_loop::open(std::size_t c, std::int64_t now_ns) {
  auto& conn = connections_[c];
  conn.fd = ::socket(server_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn.fd < 0) {
    fail(c, connection_failure::connect, errno, now_ns);
    return;
  }
  int one = 1;
  setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn.status = state::connecting;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT;
  event.data.u64 = c;
  conn.want_write = true;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &event) != 0) {
    fail(c, connection_failure::connect, errno, now_ns);
    return;
  }
  if (::connect(conn.fd, reinterpret_cast<const sockaddr*>(&server_.address),
                server_.address_bytes) != 0 &&
      errno != EINPROGRESS) {
    fail(c, connection_failure::connect, errno, now_ns);
    return;
  }
  // Completion (even an immediate one) is reported by EPOLLOUT.
}

void http_loop::on_connected(std::size_t c, std::int64_t now_ns) {
  auto& conn = connections_[c];
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
    error = errno;
  if (error != 0) {
    fail(c, connection_failure::connect, error, now_ns);
    return;
  }
  set_write_interest(c, false);
  conn.status = state::idle;
  become_idle(c, now_ns);
}

void http_loop::become_idle(std::size_t c, std::int64_t now_ns) {
  if (connections_[c].status == state::idle)
    handler_->on_idle(*this, c, now_ns);
}

void http_loop::set_write_interest(std::size_t c, bool want) {
  auto& conn = connections_[c];
  if (conn.want_write == want || conn.fd < 0)
    return;
  epoll_event event{};
  event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  event.data.u64 = c;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
  conn.want_write = want;
}

void http_loop::flush(std::size_t c) {
  auto& conn = connections_[c];
  while (conn.out_sent < conn.out.size()) {
    const ssize_t n = ::send(conn.fd, conn.out.data() + conn.out_sent,
                             conn.out.size() - conn.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      conn.out_sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_write_interest(c, true);
      return;
    }
    // Reported from the loop: `send` may have been called from inside a handler callback.
    broken_.push_back(broken_write{c, conn.timer_generation, n < 0 ? errno : EPIPE});
    return;
  }
  set_write_interest(c, false);
}

void http_loop::on_readable(std::size_t c, std::int64_t now_ns) {
  static thread_local std::array<char, read_chunk_bytes> scratch;
  auto& conn = connections_[c];
  bool end_of_stream = false;
  for (;;) {
    const ssize_t n = ::recv(conn.fd, scratch.data(), scratch.size(), 0);
    if (n > 0) {
      conn.in.append(scratch.data(), static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < scratch.size())
        break; // drained for now; level-triggered epoll reports the rest
      continue;
    }
    if (n == 0) {
      end_of_stream = true;
      break;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    fail(c, connection_failure::reset, errno, now_ns);
    return;
  }

  while (conn.in_parsed < conn.in.size()) {
    http_response response;
    const auto parsed =
      parse_response(std::string_view(conn.in).substr(conn.in_parsed), response);
    if (parsed == response_parse::incomplete)
      break;
    if (parsed == response_parse::malformed || conn.status != state::busy) {
      fail(c, connection_failure::malformed, 0, now_ns);
      return;
    }
    conn.status = state::idle;
    conn.reconnect_pause_ns = reconnect_pause_min_ns;
    --in_flight_;
    handler_->on_response(*this, c, response, now_ns);
    conn.in_parsed += response.size;
    if (response.close) {
      // Not a failure: the server said so. Reconnect at once.
      close_connection(c);
      schedule(c, now_ns);
      return;
    }
  }
  if (conn.in_parsed == conn.in.size()) {
    conn.in.clear();
    conn.in_parsed = 0;
  } else if (conn.in_parsed > 0) {
    conn.in.erase(0, conn.in_parsed);
    conn.in_parsed = 0;
  }

  if (end_of_stream) {
    if (conn.status == state::busy || !conn.in.empty()) {
      fail(c, connection_failure::closed, 0, now_ns);
    } else {
      close_connection(c); // an idle keep-alive connection closed by the server
      schedule(c, now_ns);
    }
    return;
  }
  become_idle(c, now_ns);
}

void http_loop::fail(std::size_t c, connection_failure failure, int error, std::int64_t now_ns) {
  auto& conn = connections_[c];
  const bool in_flight = conn.status == state::busy;
  if (in_flight)
    --in_flight_;
  close_connection(c);
  handler_->on_failure(*this, c, failure, error, in_flight, now_ns);
  schedule(c, now_ns + conn.reconnect_pause_ns);
  conn.reconnect_pause_ns = std::min(conn.reconnect_pause_ns * 2, reconnect_pause_max_ns);
}

void http_loop::close_connection(std::size_t c) noexcept {
  auto& conn = connections_[c];
  if (conn.fd >= 0)
    ::close(conn.fd); // also leaves the epoll set: the fd is never duplicated
  conn.fd = -1;
  conn.status = state::disconnected;
  conn.want_write = false;
  conn.out.clear();
  conn.out_sent = 0;
  conn.in.clear();
  conn.in_parsed = 0;
  ++conn.timer_generation;
}

std::optional<std::string> http_loop::run(loop_handler& handler) {
  handler_ = &handler;
  if (!started_) {
    started_ = true;
    const auto now = monotonic_ns();
    for (std::size_t c = 0; c < connections_.size(); ++c)
      open(c, now);
  }
  std::array<epoll_event, events_per_wait_max> events{};
  for (;;) {
    auto now = monotonic_ns();
    while (!timers_.empty() && timers_.top().at_ns <= now) {
      const timer due = timers_.top();
      timers_.pop();
      auto& conn = connections_[due.c];
      if (due.generation != conn.timer_generation)
        continue;
      if (conn.status == state::disconnected)
        open(due.c, now);
      else if (conn.status == state::idle)
        handler.on_idle(*this, due.c, now);
    }
    while (!broken_.empty()) {
      auto broken = std::move(broken_);
      broken_.clear();
      for (const auto& write : broken)
        if (connections_[write.c].timer_generation == write.generation &&
            connections_[write.c].fd >= 0)
          fail(write.c, connection_failure::reset, write.error, now);
    }
    if (!handler.on_tick(*this, now))
      return std::nullopt;

    std::int64_t next = now + tick_ns;
    if (!timers_.empty())
      next = std::min(next, timers_.top().at_ns);
    const std::int64_t wait_ns = std::max<std::int64_t>(0, next - now);
    const timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000),
                           static_cast<long>(wait_ns % 1'000'000'000)};
    const int n = epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()),
                               &timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return std::string("epoll_pwait2: ") + std::strerror(errno);
    }
    now = monotonic_ns();
    for (int i = 0; i < n; ++i) {
      const auto c = static_cast<std::size_t>(events[i].data.u64);
      const auto flags = events[i].events;
      auto& conn = connections_[c];
      if (conn.status == state::connecting) {
        if (flags & (EPOLLOUT | EPOLLERR | EPOLLHUP))
          on_connected(c, now);
        continue;
      }
      if (conn.status == state::disconnected)
        continue; // an event of a socket closed earlier in this batch
      if ((flags & EPOLLOUT) && conn.out_sent < conn.out.size())
        flush(c);
      if (flags & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c, now);
    }
  }
}

} // namespace steward::bench
