#pragma once

// What the server calls for a routed request. A handler either answers at once through the
// responder (on the io thread) or hands the responder to an actor and returns; it never blocks.

#include "net/http_message.hpp"
#include "net/responder.hpp"
#include "net/router.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace steward::net {

/// The request and its path parameters are valid only during the call: copy what you keep.
using handler = std::function<void(const http_request&, const route_params&, responder)>;

/// A router plus the handler of each route, indexed by route id.
struct route_table {
  router routes;
  std::vector<handler> handlers;
  /// Per route: how much longer than the server's actor timeout its answer may take (a
  /// long-poll's longest wait); 0 for most routes.
  std::vector<std::uint32_t> extra_wait_ms;

  void add(http_method method, std::string_view pattern, handler h,
           std::uint32_t extra_wait = 0) {
    auto id = routes.add(method, pattern);
    if (handlers.size() <= id) {
      handlers.resize(id + 1);
      extra_wait_ms.resize(id + 1);
    }
    handlers[id] = std::move(h);
    extra_wait_ms[id] = extra_wait;
  }
};

} // namespace steward::net
