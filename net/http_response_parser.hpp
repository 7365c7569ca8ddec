#pragma once

// A strict, incremental HTTP/1.1 response parser (RFC 9112, field rules of RFC 9110) for the
// outbound client. The bytes come from providers, so they are untrusted: anything two HTTP
// implementations could frame differently (Content-Length together with Transfer-Encoding,
// conflicting Content-Lengths, bare LF, obs-fold, whitespace before a colon, a transfer coding
// other than chunked) is an error rather than a guess, and every part is bounded.
//
// Unlike the request parser it copies what it keeps (status, fields, body) into the response it
// builds: the client hands that response to another thread, so it must own its bytes anyway, and
// copying lets the caller reuse its read buffer after every `feed`. Each input byte is looked at a
// bounded number of times however the input is split.
//
// Framing (RFC 9112 6.3): interim 1xx responses are skipped (101 is an error: the client never asks
// to switch protocols); a response to HEAD, and 204 and 304, have no body whatever their fields
// say; then chunked, then Content-Length, else the body runs until the peer closes (`finish`).

#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace steward::net {

enum class response_parse_status : std::uint8_t { need_more, complete, error };

enum class response_parse_error : std::uint8_t {
  none,
  malformed,     ///< not HTTP/1.x as RFC 9112 frames it, or framing that could be read two ways
  head_too_large, ///< status line and fields (or the trailers) past `header_bytes_max`/count
  body_too_large, ///< the body (declared or received) past `body_bytes_max`
  truncated,     ///< the peer closed before the response was complete
};

/// Bounds for one response. Configuration may lower them below the ceilings in `core/limits.hpp`.
struct response_limits {
  /// Status line, fields and the final empty line, interim responses included; trailers separately.
  std::size_t header_bytes_max = core::limits::client_response_header_bytes_default;
  std::size_t header_count_max = core::limits::client_response_header_count_max;
  /// The body after de-chunking.
  std::size_t body_bytes_max = core::limits::client_response_body_bytes_default;
};

/// A complete response, owning its bytes.
struct parsed_response {
  std::uint16_t status = 0;
  std::uint8_t version_minor = 1;
  std::string reason;
  /// Fields in order as received: names as sent, values with surrounding whitespace removed.
  /// Trailer fields are not kept (nothing steward reads is sent as a trailer).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// The connection may carry another request (RFC 9112 9.3); false for a close-delimited body.
  bool keep_alive = true;

  /// First field with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const noexcept;
};

class http_response_parser {
public:
  explicit http_response_parser(const response_limits& limits = {});

  /// Prepares for the response to a new request. `head_request`: the request was HEAD, so the
  /// response has no body.
  void reset(bool head_request = false);

  /// Consumes bytes from the front of `data`, the next bytes the peer sent, and returns where the
  /// response stands. `consumed` is set to the bytes used: all of them while `need_more`; after
  /// `complete` any bytes left in `data` came after the response (on a connection without
  /// pipelining they mean the peer is confused); after `error` it means nothing. After `complete`
  /// or `error` the parser answers the same until `reset()`.
  response_parse_status feed(std::string_view data, std::size_t& consumed);

  /// The peer closed its side. Completes a close-delimited body; any other unfinished response is
  /// an error (`truncated`).
  response_parse_status finish();

  /// Valid after `complete`; the caller may move it out (`take_response`).
  const parsed_response& response() const noexcept { return response_; }
  parsed_response take_response() noexcept { return std::move(response_); }

  /// At least one byte of a response has arrived since the last `reset`.
  bool started() const noexcept { return started_; }
  response_parse_status status() const noexcept;
  response_parse_error error() const noexcept { return error_; }
  /// A short static reason after `error`, e.g. "both Content-Length and Transfer-Encoding".
  std::string_view error_detail() const noexcept { return error_detail_; }

private:
  enum class state : std::uint8_t {
    status_line,
    field_lines,
    body_length,
    body_close,
    chunk_line,
    chunk_data,
    chunk_data_end,
    trailer_lines,
    complete,
    error,
  };

  response_parse_status fail(response_parse_error error, std::string_view detail);
  /// Appends bytes of the current line up to and including its LF into `line_`; true when the line
  /// is complete (CR LF stripped). `line_bytes_max` bounds the line with its CR LF. Sets `failed`
  /// past that bound (the caller records which limit it was) or on a bare LF (recorded here).
  bool take_line(std::string_view data, std::size_t& position, std::size_t line_bytes_max,
                 bool& failed);
  bool parse_status_line(std::string_view line);
  bool parse_field_line(std::string_view line);
  bool apply_framing_field(std::string_view name, std::string_view value);
  /// After the empty line ending a head: skips an interim response or decides the body framing.
  response_parse_status finish_head();
  bool parse_chunk_line(std::string_view line);

  response_limits limits_;
  parsed_response response_;
  std::string line_;
  std::uint64_t content_length_ = 0;
  std::uint64_t remaining_ = 0; ///< body or chunk bytes still to come
  std::size_t head_bytes_ = 0;  ///< of the current head section (or trailer section)
  std::string_view error_detail_;
  std::uint32_t interim_responses_ = 0;
  response_parse_error error_ = response_parse_error::none;
  state state_ = state::status_line;
  bool head_request_ = false;
  bool started_ = false;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool chunked_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
};

} // namespace steward::net
