#pragma once

// The request and response types that the parser, the router, the transports and the handlers share.
// A parsed request only views bytes owned by its connection: it is valid during the handler call and
// must be copied by anything that keeps it longer (an actor message, for instance).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace steward::net {

enum class http_method : std::uint8_t { get, head, post, put, patch, delete_, options, other };

std::string_view to_string(http_method method) noexcept;

struct http_header {
  std::string_view name;  ///< as received; compare with `iequals`
  std::string_view value; ///< leading and trailing whitespace removed
};

/// ASCII case-insensitive equality, for header names and tokens.
bool iequals(std::string_view a, std::string_view b) noexcept;

struct http_request {
  http_method method = http_method::other;
  std::string_view method_text;  ///< the method token as received
  std::string_view target;       ///< origin-form request target: path plus optional `?query`
  std::string_view path;         ///< target up to `?`, not percent-decoded
  std::string_view query;        ///< after `?`, empty when absent
  std::uint8_t version_minor = 1; ///< HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  bool keep_alive = true;        ///< after RFC 9112 9.3: 1.1 default on, 1.0 default off, `Connection`
  std::vector<http_header> headers;
  /// The body, de-chunked. Points into the connection's buffer, or into the parser's own buffer
  /// for chunked bodies; either way simdjson padding is available behind it (see http_parser.hpp).
  std::string_view body;

  /// First header with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const noexcept;
};

/// A response as handlers produce it. The transport adds the status line, `Date`, `Content-Length`
/// and, when the connection will close, `Connection: close`.
struct http_response {
  std::uint16_t status = 200;
  /// Always a literal or other static storage: a view keeps the hot path free of an allocation.
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers; ///< extra headers
  std::string body;
  bool close = false; ///< close the connection after this response
};

/// Reason phrase for a status code ("OK", "Not Found", ...); "Unknown" for codes it does not know.
std::string_view reason_phrase(std::uint16_t status) noexcept;

} // namespace steward::net
