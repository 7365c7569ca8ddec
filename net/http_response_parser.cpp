#include "net/http_response_parser.hpp"

#include "net/http_message.hpp"

#include "core/hex.hpp"

#include <algorithm>

namespace steward::net {

namespace {

using core::hex_value;

constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr bool is_whitespace(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// HTAB, SP, VCHAR and obs-text: what a field value or reason phrase may hold (RFC 9110 5.5).
bool valid_text(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return c == '\t' || (byte >= 0x20 && byte != 0x7f);
  });
}

bool valid_token(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && is_whitespace(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_whitespace(text.back()))
    text.remove_suffix(1);
  return text;
}

/// Calls `visit` with each trimmed element of a comma-separated list; empty elements are skipped
/// (RFC 9110 5.6.1 asks recipients to accept them).
template <class Visit>
void for_each_element(std::string_view list, Visit&& visit) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto element = trim(list.substr(0, comma));
    if (!element.empty())
      visit(element);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
}

/// Decimal digits of a Content-Length; 19 digits at most, so the value fits without overflow.
constexpr std::size_t content_length_digits_max = 18;
/// Hex digits of a chunk size; 15 at most, so the value fits without overflow.
constexpr std::size_t chunk_size_digits_max = 15;

} // namespace

std::string_view parsed_response::header(std::string_view name) const noexcept {
  for (const auto& [field_name, value] : headers) {
    if (iequals(field_name, name))
      return value;
  }
  return {};
}

http_response_parser::http_response_parser(const response_limits& limits) : limits_(limits) {}

void http_response_parser::reset(bool head_request) {
  response_ = parsed_response{};
  line_.clear();
  content_length_ = 0;
  remaining_ = 0;
  head_bytes_ = 0;
  error_detail_ = {};
  interim_responses_ = 0;
  error_ = response_parse_error::none;
  state_ = state::status_line;
  head_request_ = head_request;
  started_ = false;
  has_content_length_ = false;
  has_transfer_encoding_ = false;
  chunked_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
}

response_parse_status http_response_parser::status() const noexcept {
  switch (state_) {
    case state::complete: return response_parse_status::complete;
    case state::error: return response_parse_status::error;
    default: return response_parse_status::need_more;
  }
}

response_parse_status http_response_parser::fail(response_parse_error error,
                                                 std::string_view detail) {
  state_ = state::error;
  error_ = error;
  error_detail_ = detail;
  return response_parse_status::error;
}

bool http_response_parser::take_line(std::string_view data, std::size_t& position,
                                     std::size_t line_bytes_max, bool& failed) {
  const auto rest = data.substr(position);
  const auto line_feed = rest.find('\n');
  const auto piece = line_feed == std::string_view::npos ? rest : rest.substr(0, line_feed + 1);
  if (line_.size() + piece.size() > line_bytes_max) {
    failed = true;
    return false;
  }
  line_.append(piece);
  position += piece.size();
  if (line_feed == std::string_view::npos)
    return false;
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
    fail(response_parse_error::malformed, "bare LF");
    failed = true;
    return false;
  }
  line_.resize(line_.size() - 2);
  return true;
}

bool http_response_parser::parse_status_line(std::string_view line) {
  // HTTP-version SP status-code SP [ reason-phrase ]; a missing final SP is tolerated because some
  // servers omit it when the reason is empty.
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    fail(response_parse_error::malformed, "malformed status line");
    return false;
  }
  if (line[7] != '0' && line[7] != '1') {
    fail(response_parse_error::malformed, "unsupported HTTP version");
    return false;
  }
  std::uint16_t status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      fail(response_parse_error::malformed, "malformed status code");
      return false;
    }
    status = static_cast<std::uint16_t>(status * 10 + (line[i] - '0'));
  }
  if (status < 100 || status > 599) {
    fail(response_parse_error::malformed, "status code out of range");
    return false;
  }
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ' || !valid_text(line.substr(13))) {
      fail(response_parse_error::malformed, "malformed reason phrase");
      return false;
    }
    reason = line.substr(13);
  }
  response_.status = status;
  response_.version_minor = static_cast<std::uint8_t>(line[7] - '0');
  response_.reason.assign(reason);
  return true;
}

bool http_response_parser::parse_field_line(std::string_view line) {
  if (is_whitespace(line.front())) {
    fail(response_parse_error::malformed, "obs-fold");
    return false;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !valid_token(line.substr(0, colon))) {
    fail(response_parse_error::malformed, "malformed field name");
    return false;
  }
  const auto name = line.substr(0, colon);
  const auto value = trim(line.substr(colon + 1));
  if (!valid_text(value)) {
    fail(response_parse_error::malformed, "invalid byte in field value");
    return false;
  }
  if (state_ == state::trailer_lines)
    return true; // validated, not kept
  if (response_.headers.size() >= limits_.header_count_max) {
    fail(response_parse_error::head_too_large, "too many fields");
    return false;
  }
  if (!apply_framing_field(name, value))
    return false;
  response_.headers.emplace_back(std::string(name), std::string(value));
  return true;
}

bool http_response_parser::apply_framing_field(std::string_view name, std::string_view value) {
  if (iequals(name, "content-length")) {
    if (value.empty() || value.size() > content_length_digits_max ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail(response_parse_error::malformed, "malformed Content-Length");
      return false;
    }
    std::uint64_t length = 0;
    for (char c : value)
      length = length * 10 + static_cast<std::uint64_t>(c - '0');
    if (has_content_length_ && length != content_length_) {
      fail(response_parse_error::malformed, "conflicting Content-Length");
      return false;
    }
    has_content_length_ = true;
    content_length_ = length;
  } else if (iequals(name, "transfer-encoding")) {
    bool ok = true;
    for_each_element(value, [&](std::string_view coding) {
      // Only chunked, once: steward never asks for a compressed transfer, so any other coding
      // means a peer this client cannot frame safely.
      if (!iequals(coding, "chunked") || chunked_)
        ok = false;
      chunked_ = true;
    });
    if (!ok || !chunked_) {
      fail(response_parse_error::malformed, "unsupported Transfer-Encoding");
      return false;
    }
    has_transfer_encoding_ = true;
  } else if (iequals(name, "connection")) {
    for_each_element(value, [&](std::string_view option) {
      if (iequals(option, "close"))
        connection_close_ = true;
      else if (iequals(option, "keep-alive"))
        connection_keep_alive_ = true;
    });
  }
  return true;
}

response_parse_status http_response_parser::finish_head() {
  if (response_.status < 200) {
    if (response_.status == 101)
      return fail(response_parse_error::malformed, "unexpected protocol switch");
    if (++interim_responses_ > core::limits::client_interim_responses_max)
      return fail(response_parse_error::malformed, "too many interim responses");
    // An interim response's fields describe nothing about the final one.
    response_.headers.clear();
    has_content_length_ = has_transfer_encoding_ = chunked_ = false;
    connection_close_ = connection_keep_alive_ = false;
    content_length_ = 0;
    state_ = state::status_line;
    return response_parse_status::need_more;
  }
  if (has_content_length_ && has_transfer_encoding_)
    return fail(response_parse_error::malformed, "both Content-Length and Transfer-Encoding");
  if (has_transfer_encoding_ && response_.version_minor == 0)
    return fail(response_parse_error::malformed, "Transfer-Encoding in an HTTP/1.0 response");
  response_.keep_alive = response_.version_minor == 1
                           ? !connection_close_
                           : connection_keep_alive_ && !connection_close_;
  if (head_request_ || response_.status == 204 || response_.status == 304) {
    state_ = state::complete;
    return response_parse_status::complete;
  }
  if (chunked_) {
    state_ = state::chunk_line;
    return response_parse_status::need_more;
  }
  if (has_content_length_) {
    if (content_length_ > limits_.body_bytes_max)
      return fail(response_parse_error::body_too_large, "Content-Length past the body limit");
    if (content_length_ == 0) {
      state_ = state::complete;
      return response_parse_status::complete;
    }
    response_.body.reserve(static_cast<std::size_t>(content_length_));
    remaining_ = content_length_;
    state_ = state::body_length;
    return response_parse_status::need_more;
  }
  response_.keep_alive = false;
  state_ = state::body_close;
  return response_parse_status::need_more;
}

bool http_response_parser::parse_chunk_line(std::string_view line) {
  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  if (digits == 0 || digits > chunk_size_digits_max) {
    fail(response_parse_error::malformed, "malformed chunk size");
    return false;
  }
  // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): extensions are ignored, but only
  // after a ';' and only with bytes a field value could hold.
  auto rest = line.substr(digits);
  while (!rest.empty() && is_whitespace(rest.front()))
    rest.remove_prefix(1);
  if (!rest.empty() && (rest.front() != ';' || !valid_text(rest))) {
    fail(response_parse_error::malformed, "malformed chunk extension");
    return false;
  }
  if (size > limits_.body_bytes_max - response_.body.size()) {
    fail(response_parse_error::body_too_large, "chunked body past the body limit");
    return false;
  }
  remaining_ = size;
  return true;
}

response_parse_status http_response_parser::feed(std::string_view data, std::size_t& consumed) {
  std::size_t position = 0;
  if (!data.empty() && state_ != state::complete && state_ != state::error)
    started_ = true;
  while (position < data.size()) {
    bool failed = false;
    switch (state_) {
      case state::status_line:
      case state::field_lines:
      case state::trailer_lines: {
        const std::size_t budget = limits_.header_bytes_max - std::min(head_bytes_,
                                                                       limits_.header_bytes_max);
        if (!take_line(data, position, budget, failed)) {
          if (failed && state_ != state::error)
            fail(response_parse_error::head_too_large, state_ == state::trailer_lines
                                                         ? "trailer section too large"
                                                         : "response head too large");
          break;
        }
        head_bytes_ += line_.size() + 2;
        if (state_ == state::status_line) {
          if (parse_status_line(line_))
            state_ = state::field_lines;
        } else if (line_.empty()) {
          if (state_ == state::trailer_lines) {
            state_ = state::complete;
          } else {
            line_.clear();
            finish_head();
            break;
          }
        } else {
          parse_field_line(line_);
        }
        line_.clear();
        break;
      }
      case state::body_length:
      case state::chunk_data: {
        const auto piece = static_cast<std::size_t>(
          std::min<std::uint64_t>(remaining_, data.size() - position));
        response_.body.append(data.substr(position, piece));
        position += piece;
        remaining_ -= piece;
        if (remaining_ == 0)
          state_ = state_ == state::body_length ? state::complete : state::chunk_data_end;
        break;
      }
      case state::body_close: {
        const auto piece = data.size() - position;
        if (piece > limits_.body_bytes_max - response_.body.size()) {
          fail(response_parse_error::body_too_large, "body past the body limit");
          break;
        }
        response_.body.append(data.substr(position));
        position = data.size();
        break;
      }
      case state::chunk_line: {
        if (!take_line(data, position, core::limits::client_chunk_line_bytes_max, failed)) {
          if (failed && state_ != state::error)
            fail(response_parse_error::malformed, "chunk size line too long");
          break;
        }
        if (parse_chunk_line(line_)) {
          if (remaining_ == 0) {
            head_bytes_ = 0; // the trailer section has its own budget
            state_ = state::trailer_lines;
          } else {
            state_ = state::chunk_data;
          }
        }
        line_.clear();
        break;
      }
      case state::chunk_data_end: {
        if (!take_line(data, position, 2, failed)) {
          if (failed && state_ != state::error)
            fail(response_parse_error::malformed, "chunk data longer than its size");
          break;
        }
        if (!line_.empty()) {
          fail(response_parse_error::malformed, "chunk data longer than its size");
          break;
        }
        state_ = state::chunk_line;
        break;
      }
      case state::complete:
      case state::error: consumed = position; return status();
    }
    if (state_ == state::complete || state_ == state::error)
      break;
  }
  consumed = position;
  return status();
}

response_parse_status http_response_parser::finish() {
  if (state_ == state::body_close) {
    state_ = state::complete;
    return response_parse_status::complete;
  }
  if (state_ == state::complete || state_ == state::error)
    return status();
  return fail(response_parse_error::truncated, "connection closed before the response ended");
}

} // namespace steward::net
