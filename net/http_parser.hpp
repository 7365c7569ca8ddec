#pragma once

// A strict, incremental HTTP/1.1 request parser (RFC 9112, with the field rules of RFC 9110).
//
// Strict because the server sits behind load balancers and proxies: anything that two HTTP
// implementations could frame differently (request smuggling: Content-Length together with
// Transfer-Encoding, duplicate Content-Length, bare LF, obs-fold, whitespace before a colon) is
// rejected instead of guessed at. Incremental because bytes arrive in arbitrary pieces: the parser
// keeps offsets into the request and resumes where it stopped, so its work is linear in the bytes
// received however they are split.
//
// Buffer contract for the caller (the connection):
//  - Each `parse` call for one request passes the bytes of that request from its first byte, the
//    same bytes as before plus any new ones at the end. The buffer may move between calls.
//  - After `complete`, `request()` views the last input (and the parser's own buffer for a chunked
//    body); the caller keeps that input unchanged until it is done with the request.
//  - simdjson padding: a Content-Length body is a view into the input, so the connection guarantees
//    at least `body_padding_bytes` readable bytes after the end of its input buffer's data. A
//    chunked body lives in the parser's own buffer, which keeps the same padding behind it.

#include "core/limits.hpp"
#include "net/http_message.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace steward::net {

enum class parse_status : std::uint8_t { need_more, complete, error };

/// Bounds for one request. Configuration may lower them below the ceilings in `core/limits.hpp`.
struct parse_limits {
  std::size_t request_line_bytes_max = core::limits::request_line_bytes_max;
  /// The whole header section, request line and final empty line included.
  std::size_t header_bytes_max = core::limits::header_bytes_default;
  std::size_t header_count_max = core::limits::header_count_max;
  /// The body after de-chunking.
  std::size_t body_bytes_max = core::limits::body_bytes_default;
};

/// Readable bytes guaranteed behind every body (simdjson::SIMDJSON_PADDING is 64).
inline constexpr std::size_t body_padding_bytes = 64;

/// Empty lines (CRLF) tolerated before a request line (RFC 9112 2.2 asks servers to ignore at least
/// one, which some clients send after a POST body); more is a malformed request.
inline constexpr std::size_t leading_empty_lines_max = 4;

/// A chunked body buffer larger than this is released on `reset()` rather than kept for the next
/// request, so one large upload does not pin memory on an idle keep-alive connection.
inline constexpr std::size_t chunk_buffer_bytes_retained = 64u << 10;

/// Parses one request at a time from the front of a connection's input. Not thread-safe; one per
/// connection. Allocates only when a request has more headers or a larger chunked body than any
/// before it on this parser.
class http_parser {
public:
  explicit http_parser(const parse_limits& limits);

  /// Parses one request from the front of `input`. Successive calls for the same request pass the
  /// same bytes again, extended at the end (the buffer may have moved in memory between calls).
  /// After `complete` or `error` the parser keeps answering the same until `reset()`.
  parse_status parse(std::string_view input);

  /// The parsed request: valid after `complete` until `reset()` or the next `parse`. Its head
  /// (method, target, headers) is also valid once `headers_complete()`, viewing the last input.
  const http_request& request() const noexcept { return request_; }

  /// Bytes of `input` the complete request occupies, leading empty lines included; the next
  /// pipelined request starts there.
  std::size_t consumed() const noexcept { return consumed_; }

  /// 400, 413, 431, 501 or 505 after `error`; 0 otherwise.
  std::uint16_t error_status() const noexcept { return error_status_; }

  /// A short human-readable reason after `error`, e.g. "both Content-Length and Transfer-Encoding".
  /// Static storage: it stays valid after `reset()` and may be put into a response as is.
  std::string_view error_detail() const noexcept { return error_detail_; }

  /// At least one byte of a request has been seen. Empty lines before a request line do not count:
  /// they are not part of any request.
  bool in_progress() const noexcept { return request_started_; }

  /// The header section is done: the body (if any) is pending, or the request is complete.
  bool headers_complete() const noexcept;

  /// Forgets the request; call before parsing the next one. Keeps the header buffers and a chunk
  /// buffer of up to `chunk_buffer_bytes_retained`, so the next request does not allocate.
  void reset() noexcept;

  /// Input bytes the parser has looked at since construction (scanned, validated or copied). A
  /// diagnostic for tests that check the work stays linear under byte-by-byte delivery.
  std::uint64_t bytes_examined() const noexcept { return bytes_examined_; }

private:
  enum class state : std::uint8_t {
    leading_lines,
    request_line,
    field_lines,
    body_length,
    chunk_line,
    chunk_data,
    chunk_data_end,
    trailer_lines,
    complete,
    error,
  };

  /// A header field as offsets into the input, because the input may move between calls.
  struct field_span {
    std::uint32_t name_offset;
    std::uint32_t name_size;
    std::uint32_t value_offset;
    std::uint32_t value_size;
  };

  parse_status fail(std::uint16_t status, std::string_view detail) noexcept;
  /// `fail` for the helpers that answer with a bool.
  bool fail_field(std::uint16_t status, std::string_view detail) noexcept {
    fail(status, detail);
    return false;
  }
  parse_status parse_leading_lines(std::string_view input) noexcept;
  parse_status parse_request_line(std::string_view input) noexcept;
  parse_status check_request_line(std::string_view input, std::size_t line_end) noexcept;
  /// Result of looking for the next CRLF-terminated line of a header or trailer section.
  struct line_scan {
    parse_status status; ///< complete: a line ends at `line_end` (its LF); else need_more or error
    std::size_t line_end;
  };
  /// Finds the end of the line at `position_`, scanning each byte once across calls, within a
  /// section that may not extend past `section_limit` (431 `too_large` past it); bare LF is 400.
  line_scan next_line(std::string_view input, std::size_t section_limit,
                      std::string_view too_large) noexcept;
  parse_status parse_field_lines(std::string_view input);
  /// Validates the field line ending at `line_end` (RFC 9110 5.1, 5.5) and locates its name and
  /// value; false after recording the error.
  bool check_field_line(std::string_view input, std::size_t line_end, field_span& span) noexcept;
  /// Applies the fields that frame the message (Host, Content-Length, Transfer-Encoding,
  /// Connection); false after recording the error.
  bool apply_field(std::string_view name, std::string_view value) noexcept;
  parse_status finish_head(std::string_view input) noexcept;
  parse_status parse_body_length(std::string_view input) noexcept;
  parse_status parse_chunk_line(std::string_view input);
  parse_status parse_chunk_data(std::string_view input);
  parse_status parse_chunk_data_end(std::string_view input) noexcept;
  parse_status parse_trailer_lines(std::string_view input) noexcept;
  parse_status finish(std::size_t end) noexcept;
  void reserve_chunk_body(std::size_t body_bytes);
  void build_head_views(std::string_view input) noexcept;

  parse_limits limits_;
  http_request request_;
  std::vector<field_span> fields_;
  /// De-chunked body plus padding; its size only grows (zero-filled once), so padding bytes are
  /// real, initialised elements.
  std::vector<char> chunk_body_;
  std::uint64_t bytes_examined_ = 0;

  // Everything below describes the current request and is cleared by reset().
  const char* input_data_ = nullptr; ///< where the views in `request_` point; rebuilt when it moves
  std::size_t position_ = 0;         ///< start of the element (line, chunk) being parsed
  std::size_t scan_position_ = 0;    ///< where the search for the next LF resumes
  std::size_t head_start_ = 0;       ///< first byte of the request line
  std::size_t body_start_ = 0;
  std::size_t trailer_start_ = 0;
  std::size_t consumed_ = 0;
  std::uint64_t content_length_ = 0;
  std::uint64_t chunk_remaining_ = 0; ///< bytes of the current chunk's data still to copy
  std::size_t chunk_body_size_ = 0;   ///< de-chunked bytes so far
  std::uint32_t method_size_ = 0;
  std::uint32_t target_offset_ = 0;
  std::uint32_t target_size_ = 0;
  std::string_view error_detail_;
  std::uint16_t error_status_ = 0;
  std::uint8_t leading_lines_ = 0;
  std::uint8_t host_count_ = 0;
  state state_ = state::leading_lines;
  bool request_started_ = false;
  bool has_content_length_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  // Transfer-Encoding, accumulated over all its field lines as one list.
  bool has_transfer_encoding_ = false;
  bool transfer_encoding_malformed_ = false;
  bool transfer_encoding_last_chunked_ = false;
  bool transfer_encoding_other_ = false;
  std::uint8_t transfer_encoding_chunked_count_ = 0;
};

} // namespace steward::net
