#pragma once

// A tiny HTTP server for the system tests that stands in for a platform receiving webhooks: it
// accepts connections on a loopback port, reads one request per connection (headers and a
// Content-Length body), records it, answers the next status of a script (200 when the script is
// used up) and closes.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace steward::test_support {

struct received_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::uint16_t answered = 0;

  /// First header with this name (ASCII case-insensitive), or empty.
  std::string header(std::string_view name) const;
};

class hook_receiver {
public:
  /// Listens on 127.0.0.1 and an ephemeral port; answers `script` in order, then 200.
  explicit hook_receiver(std::deque<std::uint16_t> script = {});
  ~hook_receiver();
  hook_receiver(const hook_receiver&) = delete;
  hook_receiver& operator=(const hook_receiver&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  /// Waits until at least `count` requests were received, or `seconds` passed; all received.
  std::vector<received_request> wait_for(std::size_t count, int seconds);

private:
  void serve();

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<std::uint16_t> script_;
  std::vector<received_request> received_;
  bool stopping_ = false;
};

} // namespace steward::test_support
