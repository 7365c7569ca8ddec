#include "net/router.hpp"

#include "core/assert.hpp"

namespace steward::net {

namespace {

constexpr std::size_t method_index(http_method method) noexcept {
  return static_cast<std::size_t>(method);
}

constexpr std::uint8_t method_bit(http_method method) noexcept {
  return static_cast<std::uint8_t>(1u << method_index(method));
}

/// `Allow` header values for every set of methods, built at compile time so that a 405 answer
/// needs neither allocation nor formatting.
struct allow_text {
  char text[48];
  std::uint8_t size;
};

constexpr std::array<allow_text, 128> make_allow_table() {
  constexpr std::string_view names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  std::array<allow_text, 128> table{};
  for (std::size_t mask = 0; mask < table.size(); ++mask) {
    auto& entry = table[mask];
    std::size_t size = 0;
    auto append = [&](std::string_view text) {
      for (char c : text)
        entry.text[size++] = c;
    };
    for (std::size_t bit = 0; bit < std::size(names); ++bit) {
      if ((mask & (1u << bit)) == 0)
        continue;
      if (size != 0)
        append(", ");
      append(names[bit]);
    }
    entry.size = static_cast<std::uint8_t>(size);
  }
  return table;
}

constexpr auto allow_table = make_allow_table();
static_assert(std::size(allow_table[127].text) > 44, "all seven method names must fit");

bool is_param_name(std::string_view name) noexcept {
  if (name.empty())
    return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

} // namespace

std::string_view route_params::get(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < size_; ++i) {
    if (items_[i].name == name)
      return items_[i].value;
  }
  return {};
}

route_id router::add(http_method method, std::string_view pattern) {
  STEWARD_ASSERT(method != http_method::other);
  STEWARD_ASSERT(routes_.size() < no_route);
  STEWARD_ASSERT(!pattern.empty() && pattern.front() == '/');

  const auto id = static_cast<route_id>(routes_.size());
  route& entry = routes_.emplace_back();
  entry.method = method;
  entry.pattern.assign(pattern);
  const std::string_view text = entry.pattern;

  std::uint32_t current = 0;
  std::size_t start = 1;
  for (;;) {
    std::size_t end = text.find('/', start);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view segment = text.substr(start, end - start);
    if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
      std::string_view name = segment.substr(1, segment.size() - 2);
      STEWARD_ASSERT(is_param_name(name));
      STEWARD_ASSERT(entry.param_count < route_params_max);
      for (std::size_t i = 0; i < entry.param_count; ++i)
        STEWARD_ASSERT(entry.param_names[i] != name);
      entry.param_names[entry.param_count++] = name;
      if (nodes_[current].param_child == no_node) {
        nodes_.emplace_back();
        nodes_[current].param_child = static_cast<std::uint32_t>(nodes_.size() - 1);
      }
      current = nodes_[current].param_child;
    } else {
      // Only the root pattern "/" has an empty segment; "//" or a trailing '/' is a typo.
      STEWARD_ASSERT(!segment.empty() || text == "/");
      STEWARD_ASSERT(segment.find_first_of("{}?#") == std::string_view::npos);
      std::uint32_t child = no_node;
      for (const auto& edge : nodes_[current].literals) {
        if (edge.segment == segment)
          child = edge.child;
      }
      if (child == no_node) {
        nodes_.emplace_back();
        child = static_cast<std::uint32_t>(nodes_.size() - 1);
        nodes_[current].literals.push_back(literal_edge{std::string(segment), child});
      }
      current = child;
    }
    if (end == text.size())
      break;
    start = end + 1;
  }

  node& target = nodes_[current];
  // Same method and same shape (parameter names aside) would make one of the two unreachable.
  STEWARD_ASSERT(target.routes[method_index(method)] == no_route);
  target.routes[method_index(method)] = id;
  target.method_mask |= method_bit(method);
  return id;
}

struct router::search {
  std::string_view path;
  http_method method;
  std::array<std::string_view, route_params_max> values{};
  route_id found = no_route;
  std::uint8_t allow_mask = 0; ///< methods of every node the path reached, for a 405
};

bool router::walk(search& state, std::uint32_t node_index, std::size_t segment_start,
                  std::size_t param_count) const noexcept {
  const std::string_view path = state.path;
  std::size_t segment_end = path.find('/', segment_start);
  const bool last = segment_end == std::string_view::npos;
  if (last)
    segment_end = path.size();
  const std::string_view segment = path.substr(segment_start, segment_end - segment_start);

  auto enter = [&](std::uint32_t child, std::size_t count) {
    if (!last)
      return walk(state, child, segment_end + 1, count);
    const node& end_node = nodes_[child];
    route_id id = no_route;
    if (state.method != http_method::other)
      id = end_node.routes[method_index(state.method)];
    if (id == no_route && state.method == http_method::head)
      id = end_node.routes[method_index(http_method::get)];
    if (id != no_route) {
      state.found = id;
      return true;
    }
    state.allow_mask |= end_node.method_mask;
    return false;
  };

  // Literal first, then the parameter: backtracking to the parameter when the literal branch
  // fails further down keeps `/a/b/x` reachable for `/a/{p}/x` next to `/a/b/y`.
  const node& current = nodes_[node_index];
  for (const auto& edge : current.literals) {
    if (edge.segment == segment) {
      if (enter(edge.child, param_count))
        return true;
      break;
    }
  }
  if (current.param_child != no_node && !segment.empty() && param_count < route_params_max) {
    state.values[param_count] = segment;
    if (enter(current.param_child, param_count + 1))
      return true;
  }
  return false;
}

route_match router::match(http_method method, std::string_view path,
                          route_params& params) const noexcept {
  params.clear();
  route_match result;
  if (path.empty() || path.front() != '/')
    return result;
  search state{path, method};
  if (walk(state, 0, 1, 0)) {
    const route& found = routes_[state.found];
    for (std::size_t i = 0; i < found.param_count; ++i)
      params.items_[i] = route_params::param{found.param_names[i], state.values[i]};
    params.size_ = found.param_count;
    result.result = route_match::kind::found;
    result.id = state.found;
    return result;
  }
  if (state.allow_mask != 0) {
    std::uint8_t mask = state.allow_mask;
    if ((mask & method_bit(http_method::get)) != 0)
      mask |= method_bit(http_method::head);
    const auto& text = allow_table[mask];
    result.result = route_match::kind::method_not_allowed;
    result.allow = std::string_view(text.text, text.size);
  }
  return result;
}

http_method router::method(route_id id) const noexcept {
  if (id >= routes_.size())
    return http_method::other;
  return routes_[id].method;
}

std::string_view router::pattern(route_id id) const noexcept {
  if (id >= routes_.size())
    return {};
  return routes_[id].pattern;
}

} // namespace steward::net
