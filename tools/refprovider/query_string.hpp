#pragma once

// Reading one parameter of a URL query string (`name=value&...`, RFC 3986 with the
// application/x-www-form-urlencoded convention that `+` is a space).

#include "core/api_messages.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace steward::refprovider {

/// Percent-decodes `text` (`+` becomes a space); empty when an escape is not `%` and two hex
/// digits.
std::optional<std::string> percent_decode(std::string_view text);

/// The decoded value of the first `name=` parameter of `query`. Empty when it is absent or its
/// value is not well-formed; `present` (when given) tells the two apart.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name,
                                           bool* present = nullptr);

/// Percent-encodes every byte outside RFC 3986's unreserved set (core's, shared with steward).
using core::percent_encode;

} // namespace steward::refprovider
