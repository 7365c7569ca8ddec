#pragma once

// Splitting a query string (without its `?`) into its `name=value` pairs, still percent-encoded.
// Each reader of a query (pagination, the catalog's filters, approvals' status, the OAuth
// callback, numbers) decodes and checks the pairs its own way; this is the part they share.

#include <optional>
#include <string_view>

namespace steward::core {

/// One pair of a query string as written. A bare `name` has `has_value` false and an empty value;
/// an empty pair (`a=1&&b=2`) has an empty name.
struct raw_query_pair {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

/// Takes the next pair (up to the next `&`) off the front of `query`; nullopt once it is empty.
inline std::optional<raw_query_pair> next_query_pair(std::string_view& query) noexcept {
  if (query.empty())
    return std::nullopt;
  auto const amp = query.find('&');
  std::string_view const pair = query.substr(0, amp);
  query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  raw_query_pair out;
  auto const equals = pair.find('=');
  out.name = pair.substr(0, equals);
  if (equals != std::string_view::npos) {
    out.value = pair.substr(equals + 1);
    out.has_value = true;
  }
  return out;
}

} // namespace steward::core
