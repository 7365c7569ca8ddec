#pragma once

// Maps a method and a request path to a route registered at start-up. Patterns are literal
// segments and `{name}` segments, e.g. `/v1/users/{id}/sessions`; a `{name}` segment matches one
// non-empty path segment. Paths are matched as received: percent-encoded bytes are not decoded, so
// `%2F` never acts as a separator and a parameter value may contain escapes for its handler to decode.
//
// Routes are added during start-up (allocates); `match` runs per request and never allocates.

#include "net/http_message.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace steward::net {

using route_id = std::uint16_t;

/// Parameters a pattern may have; a longer pattern is a programmer error caught by `router::add`.
inline constexpr std::size_t route_params_max = 8;

/// The `{name}` values of a match, viewing the pattern (names) and the request path (values).
struct route_params {
  struct param {
    std::string_view name;
    std::string_view value;
  };

  /// The value of parameter `name`, or empty when the route has no such parameter.
  std::string_view get(std::string_view name) const noexcept;
  std::size_t size() const noexcept { return size_; }
  const param& operator[](std::size_t index) const noexcept { return items_[index]; }
  void clear() noexcept { size_ = 0; }

  std::array<param, route_params_max> items_{};
  std::size_t size_ = 0;
};

struct route_match {
  enum class kind : std::uint8_t { found, not_found, method_not_allowed };
  kind result = kind::not_found;
  route_id id = 0; ///< valid when `found`
  /// For `method_not_allowed`: the methods the path does allow, as an `Allow` header value
  /// ("GET, HEAD, POST"); static storage, valid forever.
  std::string_view allow;
};

class router {
public:
  /// Registers `pattern` for `method` and returns its id (dense, from 0, in order of adding).
  /// A malformed pattern, a duplicate (method, pattern shape), `http_method::other` or more than
  /// `route_params_max` parameters is a programmer error and aborts.
  route_id add(http_method method, std::string_view pattern);

  /// Finds the route for `method` and `path` (the target without its query). A literal segment
  /// beats a parameter at the same position; HEAD uses the GET route unless HEAD has its own. On
  /// `found`, `params` holds the route's parameters; otherwise it is cleared. Never allocates.
  route_match match(http_method method, std::string_view path, route_params& params) const noexcept;

  /// The pattern as registered, e.g. "/v1/users/{id}" (the metrics label of the route).
  std::string_view pattern(route_id id) const noexcept;

  /// The method the route was added for.
  http_method method(route_id id) const noexcept;

  /// Number of routes added.
  std::size_t size() const noexcept { return routes_.size(); }

private:
  static constexpr std::uint32_t no_node = 0xffffffff;
  static constexpr route_id no_route = 0xffff;
  static constexpr std::size_t method_count = 7; ///< http_method values below `other`

  struct literal_edge {
    std::string segment;
    std::uint32_t child;
  };

  struct node {
    std::vector<literal_edge> literals;
    std::uint32_t param_child = no_node;
    std::array<route_id, method_count> routes;
    std::uint8_t method_mask = 0; ///< bit per method with a route ending here

    node() { routes.fill(no_route); }
  };

  struct route {
    http_method method = http_method::other;
    std::string pattern;
    std::array<std::string_view, route_params_max> param_names{}; ///< view `pattern`
    std::size_t param_count = 0;
  };

  struct search;
  bool walk(search& state, std::uint32_t node_index, std::size_t segment_start,
            std::size_t param_count) const noexcept;

  std::vector<node> nodes_ = std::vector<node>(1); ///< nodes_[0] is the root
  /// A deque, so that the param names viewing each pattern stay valid as routes are added.
  std::deque<route> routes_;
};

} // namespace steward::net
