#pragma once

// Responses as bytes: the status line, the headers the transport owns (Date, Content-Type,
// Content-Length, Connection) and the handler's own, then the body. Hot path: one pass of appends
// into the connection's output buffer, no iostreams, no formatting library.

#include "net/http_message.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace steward::net {

/// Length of an IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t http_date_size = 29;

/// Writes an IMF-fixdate (RFC 9110 5.6.7) into `out` (29 chars) for `unix_seconds`. Times before
/// 1970 or after 9999 are clamped to those years: the format has a four-digit year, and a server
/// clock outside that range is not worth a failure path.
void format_http_date(std::int64_t unix_seconds, char (&out)[http_date_size]) noexcept;

/// Appends status line, Date, Content-Type (when body non-empty or content_type set for HEAD),
/// Content-Length, the extra headers, `Connection: close` when `close`, CRLF, and the body
/// (omitted when `head_request`, but Content-Length still states its size; 1xx, 204 and 304 get
/// no Content-Length and no body). Appends after what `out` already holds, so pipelined responses
/// can share one buffer.
///
/// An extra header whose name is not a token or whose value holds CR, LF or NUL is dropped (it
/// could split the response), and so is one that would duplicate the framing headers this function
/// owns (Content-Length, Transfer-Encoding, Connection, Date). Both are handler bugs: each drop is
/// reported through STEWARD_SURVIVABLE and counted in `dropped_response_headers()`.
void append_response(std::string& out, const http_response& response, bool close,
                     bool head_request, std::string_view http_date);

/// Extra headers dropped by `append_response` since start (process-wide).
std::uint64_t dropped_response_headers() noexcept;

} // namespace steward::net
