#include "tests/support/hook_receiver.hpp"

#include "tests/support/raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace steward::test_support {

std::string received_request::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

hook_receiver::hook_receiver(std::deque<std::uint16_t> script) : script_(std::move(script)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0)
    std::abort();
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

hook_receiver::~hook_receiver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  thread_.join();
  ::close(listener_);
}

std::vector<received_request> hook_receiver::wait_for(std::size_t count, int seconds) {
  std::unique_lock lock(mutex_);
  arrived_.wait_for(lock, std::chrono::seconds(seconds), [&] { return received_.size() >= count; });
  return received_;
}

namespace {

/// Reads one request from `fd` (deadline 5 s): false on a close or timeout before it is whole.
bool read_request(int fd, received_request& out) {
  std::string data;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::size_t header_end = std::string::npos;
  std::size_t body_length = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::size_t line_end = data.find("\r\n");
        std::string line = data.substr(0, line_end);
        auto first = line.find(' ');
        auto second = line.find(' ', first + 1);
        out.method = line.substr(0, first);
        out.target = line.substr(first + 1, second - first - 1);
        std::size_t at = line_end + 2;
        while (at < header_end) {
          std::size_t end = data.find("\r\n", at);
          std::string field = data.substr(at, end - at);
          auto colon = field.find(':');
          std::string value = field.substr(colon + 1);
          while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
          out.headers.emplace_back(field.substr(0, colon), value);
          at = end + 2;
        }
        body_length = std::strtoull(out.header("Content-Length").c_str(), nullptr, 10);
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + body_length) {
      out.body = data.substr(header_end + 4, body_length);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  until - std::chrono::steady_clock::now())
                  .count();
    pollfd ready{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&ready, 1, static_cast<int>(left)) <= 0)
      return false;
    char buffer[4096];
    auto got = ::recv(fd, buffer, sizeof(buffer), 0);
    if (got <= 0)
      return false;
    data.append(buffer, static_cast<std::size_t>(got));
  }
}

} // namespace

void hook_receiver::serve() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_)
        return;
    }
    pollfd ready{listener_, POLLIN, 0};
    if (::poll(&ready, 1, 50) <= 0)
      continue;
    int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    received_request request;
    if (read_request(fd, request)) {
      std::uint16_t status = 200;
      {
        std::lock_guard lock(mutex_);
        if (!script_.empty()) {
          status = script_.front();
          script_.pop_front();
        }
      }
      std::string response = "HTTP/1.1 " + std::to_string(status) +
                             " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
      request.answered = status;
      std::lock_guard lock(mutex_);
      received_.push_back(std::move(request));
      arrived_.notify_all();
    }
    ::close(fd);
  }
}

} // namespace steward::test_support
