#include "net/server.hpp"

#include "core/thread_identity.hpp"
#include "net/epoll_transport.hpp"
#include "net/uring_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

namespace steward::net {

namespace {

constexpr int listen_backlog = 4096;

/// Creates a listening socket on host:port with SO_REUSEPORT; returns the fd or an error text.
int open_listener(const std::string& host, std::uint16_t port, std::string& error) {
  sockaddr_storage address{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
  } else {
    error = "not an IP address: " + host;
    return -1;
  }
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(fd, listen_backlog) != 0) {
    error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  if (address.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

} // namespace

std::string_view to_string(io_backend backend) noexcept {
  switch (backend) {
  case io_backend::auto_select: return "auto";
  case io_backend::io_uring: return "io_uring";
  case io_backend::epoll: return "epoll";
  }
  return "?";
}

struct server::loop_slot {
  std::unique_ptr<uring_loop> uring;
  std::unique_ptr<epoll_loop> epoll;
  std::thread thread;

  io_loop& loop() { return uring ? static_cast<io_loop&>(*uring) : static_cast<io_loop&>(*epoll); }
};

server::server(server_config config, route_table routes, listener_stats& stats)
  : config_(std::move(config)), routes_(std::move(routes)), stats_(stats) {}

server::~server() {
  drain();
  wait();
}

std::optional<std::string> server::start(std::string* fallback_note) {
  backend_ = config_.backend;
  if (backend_ != io_backend::epoll) {
    auto problem = probe_io_uring();
    if (problem) {
      if (backend_ == io_backend::io_uring)
        return "--io-backend=io_uring: io_uring is not usable here: " + *problem;
      if (fallback_note != nullptr)
        *fallback_note = "io_uring is not usable here (" + *problem + "); using the epoll transport";
      backend_ = io_backend::epoll;
    } else {
      backend_ = io_backend::io_uring;
    }
  }

  auto budget = std::make_shared<connection_budget>();
  budget->max = config_.connections_max;

  std::vector<int> fds;
  std::string error;
  std::uint16_t port = config_.port;
  for (std::uint32_t i = 0; i < config_.io_threads; ++i) {
    int fd = open_listener(config_.host, port, error);
    if (fd < 0) {
      for (int open : fds)
        ::close(open);
      return error;
    }
    if (i == 0)
      port = bound_port(fd);
    fds.push_back(fd);
  }
  port_ = port;
  budget_ = budget;

  for (std::uint32_t i = 0; i < config_.io_threads; ++i) {
    auto slot = std::make_unique<loop_slot>();
    std::promise<std::optional<std::string>> ready;
    auto ready_future = ready.get_future();
    if (backend_ == io_backend::io_uring)
      slot->uring = std::make_unique<uring_loop>(config_.connection, routes_, stats_, fds[i],
                                                 *budget_, config_.drain_timeout_ms);
    else
      slot->epoll = std::make_unique<epoll_loop>(config_.connection, routes_, stats_, fds[i],
                                                 *budget_, config_.drain_timeout_ms);
    auto* raw = slot.get();
    // The ring is single-issuer, so it is set up on the thread that will drive it.
    slot->thread = std::thread([raw, &ready, name = "io-" + config_.name + "-" + std::to_string(i),
                                nice = config_.thread_nice] {
      core::name_this_thread(name);
      core::nice_this_thread(nice);
      auto problem = raw->uring ? raw->uring->setup() : raw->epoll->setup();
      bool ok = !problem;
      ready.set_value(std::move(problem));
      if (!ok)
        return;
      if (raw->uring)
        raw->uring->run();
      else
        raw->epoll->run();
    });
    auto problem = ready_future.get();
    loops_.push_back(std::move(slot));
    if (problem) {
      for (std::uint32_t j = i + 1; j < config_.io_threads; ++j)
        ::close(fds[j]);
      drain();
      wait();
      return std::string(to_string(backend_)) + " transport: " + *problem;
    }
  }
  return std::nullopt;
}

std::string server::bound_address() const {
  if (config_.host.find(':') != std::string::npos)
    return "[" + config_.host + "]:" + std::to_string(port_);
  return config_.host + ":" + std::to_string(port_);
}

void server::drain() noexcept {
  draining_.store(true, std::memory_order_relaxed);
  for (auto& slot : loops_)
    slot->loop().request_drain();
}

void server::wait() {
  for (auto& slot : loops_)
    if (slot->thread.joinable())
      slot->thread.join();
}

std::size_t server::open_connections() const noexcept {
  std::size_t total = 0;
  for (auto& slot : loops_)
    total += slot->loop().open_connections();
  return total;
}

} // namespace steward::net
