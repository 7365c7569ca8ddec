#pragma once

// The little of an HTTP/1.1 response that a load generator needs: the status code, where the body
// is (Content-Length framing) and whether the server will close the connection after it. stewardd
// always frames its answers with Content-Length; a chunked answer is reported as malformed rather
// than misread.

#include <cstddef>
#include <string_view>

namespace steward::bench {

/// Bytes of a response head (status line and headers) past which it is refused as malformed.
inline constexpr std::size_t response_head_bytes_max = 64 * 1024;
/// Largest body accepted; a benchmark's answers are a few hundred bytes.
inline constexpr std::size_t response_body_bytes_max = 16 * 1024 * 1024;

struct http_response {
  int status = 0;
  std::string_view body;   ///< a view into the parsed bytes
  std::size_t size = 0;    ///< bytes of the whole response, head and body
  bool close = false;      ///< `Connection: close`, or HTTP/1.0 without keep-alive
};

enum class response_parse { incomplete, complete, malformed };

/// Parses the response at the start of `bytes`. On `complete`, `out` describes it and its first
/// `out.size` bytes may be dropped; `incomplete` means more bytes are needed.
response_parse parse_response(std::string_view bytes, http_response& out) noexcept;

} // namespace steward::bench
