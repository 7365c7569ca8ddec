#include "net/http_parser.hpp"

#include "core/assert.hpp"
#include "core/hex.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace steward::net {

namespace {

using core::hex_value;

// One table lookup per byte classifies it for every grammar rule the parser checks.
enum char_class : std::uint8_t {
  class_tchar = 1,        ///< RFC 9110 5.6.2 token character
  class_field_value = 2,  ///< HTAB, SP, VCHAR, obs-text: allowed inside a field value
  class_target = 4,       ///< visible ASCII: allowed in a request target (no CTL, SP, DEL, >= 0x80)
  class_host = 8,         ///< uri-host and port characters (RFC 3986 reg-name, IP literal, ':')
  class_quoted_text = 16, ///< qdtext of a quoted-string (RFC 9110 5.6.4)
};

constexpr bool is_alpha_numeric(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

constexpr bool is_one_of(int c, std::string_view set) {
  for (char member : set) {
    if (static_cast<unsigned char>(member) == c)
      return true;
  }
  return false;
}

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t classes = 0;
    if (is_alpha_numeric(c) || is_one_of(c, "!#$%&'*+-.^_`|~"))
      classes |= class_tchar;
    if (c == '\t' || (c >= 0x20 && c != 0x7f))
      classes |= class_field_value;
    if (c > 0x20 && c < 0x7f)
      classes |= class_target;
    if (is_alpha_numeric(c) || is_one_of(c, "-._~!$&'()*+,;=%:[]"))
      classes |= class_host;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80)
      classes |= class_quoted_text;
    table[static_cast<std::size_t>(c)] = classes;
  }
  return table;
}

constexpr auto char_classes = make_char_classes();

constexpr bool has_class(char c, char_class wanted) noexcept {
  return (char_classes[static_cast<unsigned char>(c)] & wanted) != 0;
}

constexpr bool is_whitespace(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// True when every byte of `value` may appear in a field value (HTAB, SP, VCHAR, obs-text). Tested
/// eight bytes at a time: almost no value holds a control byte, so the common case is a few word
/// operations instead of a table lookup per byte.
bool valid_field_value(std::string_view value) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t high_bits = 0x8080808080808080ull;
  std::size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, value.data() + i, sizeof word);
    // A byte below 0x20 sets its high bit in `word - 0x20...` while its own high bit is clear
    // (obs-text bytes, >= 0x80, are masked out by `~word`); DEL becomes a zero byte after the xor.
    const std::uint64_t below_space = (word - ones * 0x20) & ~word & high_bits;
    const std::uint64_t del = word ^ (ones * 0x7f);
    const std::uint64_t is_del = (del - ones) & ~del & high_bits;
    if ((below_space | is_del) != 0) {
      // HTAB is allowed and also lands here: decide byte by byte.
      for (std::size_t j = i; j < i + 8; ++j) {
        if (!has_class(value[j], class_field_value))
          return false;
      }
    }
  }
  for (; i < value.size(); ++i) {
    if (!has_class(value[i], class_field_value))
      return false;
  }
  return true;
}

/// `token` equals `lowercase` ignoring ASCII case, for a `token` already checked to be a token and
/// a lowercase literal of letters and '-': then `c | 0x20` folds case exactly, because no token
/// character other than the letters maps onto a letter or '-' that way.
bool token_equals(std::string_view token, std::string_view lowercase) noexcept {
  if (token.size() != lowercase.size())
    return false;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if ((static_cast<unsigned char>(token[i]) | 0x20) != static_cast<unsigned char>(lowercase[i]))
      return false;
  }
  return true;
}

std::string_view trim_whitespace(std::string_view text) noexcept {
  while (!text.empty() && is_whitespace(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_whitespace(text.back()))
    text.remove_suffix(1);
  return text;
}

/// Calls `on_element` with each element of a comma-separated list (RFC 9110 5.6.1), whitespace
/// trimmed; empty elements are passed too, so the caller decides whether they are acceptable.
template <class OnElement>
void for_each_list_element(std::string_view list, OnElement&& on_element) {
  for (;;) {
    auto comma = list.find(',');
    on_element(trim_whitespace(list.substr(0, comma)));
    if (comma == std::string_view::npos)
      return;
    list.remove_prefix(comma + 1);
  }
}

http_method method_from_token(std::string_view token) noexcept {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is an unknown method, not GET.
  switch (token.size()) {
    case 3:
      if (token == "GET")
        return http_method::get;
      if (token == "PUT")
        return http_method::put;
      break;
    case 4:
      if (token == "HEAD")
        return http_method::head;
      if (token == "POST")
        return http_method::post;
      break;
    case 5:
      if (token == "PATCH")
        return http_method::patch;
      break;
    case 6:
      if (token == "DELETE")
        return http_method::delete_;
      break;
    case 7:
      if (token == "OPTIONS")
        return http_method::options;
      break;
    default: break;
  }
  return http_method::other;
}

/// Checks `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )` (RFC 9112 7.1.1), the text after a
/// chunk size. Extensions carry nothing steward uses, so they are only validated.
bool valid_chunk_extensions(std::string_view text) noexcept {
  std::size_t i = 0;
  auto skip_whitespace = [&] {
    while (i < text.size() && is_whitespace(text[i]))
      ++i;
  };
  auto skip_token = [&] {
    std::size_t start = i;
    while (i < text.size() && has_class(text[i], class_tchar))
      ++i;
    return i > start;
  };
  while (i < text.size()) {
    skip_whitespace();
    if (i == text.size() || text[i] != ';')
      return false;
    ++i;
    skip_whitespace();
    if (!skip_token())
      return false;
    std::size_t after_name = i;
    skip_whitespace();
    if (i == text.size() || text[i] != '=') {
      i = after_name; // no value: whitespace here must lead to the next ';'
      continue;
    }
    ++i;
    skip_whitespace();
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          // quoted-pair: the escaped byte must be HTAB, SP, VCHAR or obs-text.
          if (i + 1 == text.size() || !has_class(text[i + 1], class_field_value))
            return false;
          i += 2;
          continue;
        }
        if (!has_class(c, class_quoted_text))
          return false;
        ++i;
      }
      if (!closed)
        return false;
    } else if (!skip_token()) {
      return false;
    }
  }
  return true;
}

constexpr std::size_t initial_header_capacity = 16;

} // namespace

http_parser::http_parser(const parse_limits& limits) : limits_(limits) {
  fields_.reserve(initial_header_capacity);
  request_.headers.reserve(initial_header_capacity);
}

bool http_parser::headers_complete() const noexcept {
  return state_ >= state::body_length && state_ <= state::complete;
}

void http_parser::reset() noexcept {
  if (chunk_body_.size() > chunk_buffer_bytes_retained)
    std::vector<char>().swap(chunk_body_);
  fields_.clear();
  request_.method = http_method::other;
  request_.method_text = {};
  request_.target = {};
  request_.path = {};
  request_.query = {};
  request_.version_minor = 1;
  request_.keep_alive = true;
  request_.headers.clear();
  request_.body = {};

  input_data_ = nullptr;
  position_ = 0;
  scan_position_ = 0;
  head_start_ = 0;
  body_start_ = 0;
  trailer_start_ = 0;
  consumed_ = 0;
  content_length_ = 0;
  chunk_remaining_ = 0;
  chunk_body_size_ = 0;
  method_size_ = 0;
  target_offset_ = 0;
  target_size_ = 0;
  error_detail_ = {};
  error_status_ = 0;
  leading_lines_ = 0;
  host_count_ = 0;
  state_ = state::leading_lines;
  request_started_ = false;
  has_content_length_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  has_transfer_encoding_ = false;
  transfer_encoding_malformed_ = false;
  transfer_encoding_last_chunked_ = false;
  transfer_encoding_other_ = false;
  transfer_encoding_chunked_count_ = 0;
}

parse_status http_parser::fail(std::uint16_t status, std::string_view detail) noexcept {
  state_ = state::error;
  error_status_ = status;
  error_detail_ = detail;
  return parse_status::error;
}

parse_status http_parser::parse(std::string_view input) {
  if (state_ == state::error)
    return parse_status::error;
  // The caller passes the same request again, extended: a shorter input means it broke the
  // contract, and the offsets kept from earlier calls would point past the end.
  if (!STEWARD_SURVIVABLE(input.size() >= position_ && input.size() >= scan_position_))
    return fail(400, "parser input shrank between calls");

  if (input.data() != input_data_) {
    input_data_ = input.data();
    if (headers_complete())
      build_head_views(input);
    if (state_ == state::complete && !has_transfer_encoding_)
      request_.body = input.substr(body_start_, content_length_);
  }

  // Each step either runs out of bytes, finishes, fails, or moves to another state; the loop goes on
  // only while the state changes, so a call does work proportional to the new bytes only.
  for (;;) {
    state before = state_;
    parse_status status = parse_status::need_more;
    switch (state_) {
      case state::leading_lines: status = parse_leading_lines(input); break;
      case state::request_line: status = parse_request_line(input); break;
      case state::field_lines: status = parse_field_lines(input); break;
      case state::body_length: status = parse_body_length(input); break;
      case state::chunk_line: status = parse_chunk_line(input); break;
      case state::chunk_data: status = parse_chunk_data(input); break;
      case state::chunk_data_end: status = parse_chunk_data_end(input); break;
      case state::trailer_lines: status = parse_trailer_lines(input); break;
      case state::complete: return parse_status::complete;
      case state::error: return parse_status::error;
    }
    if (status != parse_status::need_more || state_ == before)
      return status;
  }
}

parse_status http_parser::parse_leading_lines(std::string_view input) noexcept {
  while (position_ < input.size()) {
    char c = input[position_];
    if (c == '\r') {
      if (position_ + 1 == input.size())
        return parse_status::need_more;
      if (input[position_ + 1] != '\n')
        return fail(400, "bare CR");
      if (leading_lines_ == leading_empty_lines_max)
        return fail(400, "too many empty lines before the request line");
      ++leading_lines_;
      position_ += 2;
      bytes_examined_ += 2;
      continue;
    }
    if (c == '\n')
      return fail(400, "bare LF");
    head_start_ = position_;
    scan_position_ = position_;
    request_started_ = true;
    state_ = state::request_line;
    return parse_status::need_more;
  }
  return parse_status::need_more;
}

parse_status http_parser::parse_request_line(std::string_view input) noexcept {
  // The scan never looks past the limit, so an endless line costs at most the limit to reject.
  const std::size_t line_limit =
    head_start_ + std::min(limits_.request_line_bytes_max, limits_.header_bytes_max);
  const std::size_t window_end = std::min(input.size(), line_limit);
  if (scan_position_ < window_end) {
    const void* found = std::memchr(input.data() + scan_position_, '\n', window_end - scan_position_);
    if (found != nullptr) {
      auto line_end = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
      bytes_examined_ += line_end + 1 - scan_position_;
      return check_request_line(input, line_end);
    }
    bytes_examined_ += window_end - scan_position_;
    scan_position_ = window_end;
  }
  if (input.size() >= line_limit)
    return fail(431, "request line too long");
  return parse_status::need_more;
}

parse_status http_parser::check_request_line(std::string_view input, std::size_t line_end) noexcept {
  if (line_end == head_start_ || input[line_end - 1] != '\r')
    return fail(400, "bare LF");
  std::string_view line = input.substr(head_start_, line_end - 1 - head_start_);
  bytes_examined_ += line.size();

  std::size_t method_end = 0;
  while (method_end < line.size() && has_class(line[method_end], class_tchar))
    ++method_end;
  if (method_end == 0 || method_end == line.size() || line[method_end] != ' ')
    return fail(400, "malformed method");

  const std::size_t target_begin = method_end + 1;
  std::size_t target_end = target_begin;
  while (target_end < line.size() && has_class(line[target_end], class_target))
    ++target_end;
  if (target_end == target_begin)
    return fail(400, "malformed request target");
  if (target_end == line.size() || line[target_end] != ' ')
    return fail(400, "invalid byte in request target");

  std::string_view version = line.substr(target_end + 1);
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7]))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return fail(505, "unsupported HTTP version");

  std::string_view method_text = line.substr(0, method_end);
  std::string_view target = line.substr(target_begin, target_end - target_begin);
  http_method method = method_from_token(method_text);
  // Only origin-form is served; absolute-form is for proxies and authority-form for CONNECT.
  if (target.front() != '/' && !(target == "*" && method == http_method::options))
    return fail(400, "request target not in origin form");

  request_.method = method;
  request_.version_minor = static_cast<std::uint8_t>(version[7] - '0');
  method_size_ = static_cast<std::uint32_t>(method_end);
  target_offset_ = static_cast<std::uint32_t>(head_start_ + target_begin);
  target_size_ = static_cast<std::uint32_t>(target.size());
  position_ = line_end + 1;
  scan_position_ = position_;
  state_ = state::field_lines;
  return parse_status::need_more;
}

http_parser::line_scan http_parser::next_line(std::string_view input, std::size_t section_limit,
                                              std::string_view too_large) noexcept {
  const std::size_t window_end = std::min(input.size(), section_limit);
  const void* found = nullptr;
  if (scan_position_ < window_end)
    found = std::memchr(input.data() + scan_position_, '\n', window_end - scan_position_);
  if (found == nullptr) {
    if (scan_position_ < window_end)
      bytes_examined_ += window_end - scan_position_;
    scan_position_ = std::max(scan_position_, window_end);
    if (input.size() >= section_limit)
      return {fail(431, too_large), 0};
    return {parse_status::need_more, 0};
  }
  auto line_end = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
  bytes_examined_ += line_end + 1 - scan_position_;
  if (line_end == position_ || input[line_end - 1] != '\r')
    return {fail(400, "bare LF"), 0};
  return {parse_status::complete, line_end};
}

parse_status http_parser::parse_field_lines(std::string_view input) {
  const std::size_t head_limit = head_start_ + limits_.header_bytes_max;
  for (;;) {
    auto [status, line_end] = next_line(input, head_limit, "header section too large");
    if (status != parse_status::complete)
      return status;
    if (line_end - 1 == position_) {
      position_ = line_end + 1;
      scan_position_ = position_;
      return finish_head(input);
    }
    if (fields_.size() >= limits_.header_count_max)
      return fail(431, "too many header fields");
    field_span span{};
    if (!check_field_line(input, line_end, span) ||
        !apply_field(input.substr(span.name_offset, span.name_size),
                     input.substr(span.value_offset, span.value_size)))
      return parse_status::error;
    fields_.push_back(span);
    position_ = line_end + 1;
    scan_position_ = position_;
  }
}

bool http_parser::check_field_line(std::string_view input, std::size_t line_end,
                                   field_span& span) noexcept {
  std::string_view line = input.substr(position_, line_end - 1 - position_);
  bytes_examined_ += line.size();
  if (is_whitespace(line.front()))
    return fail_field(400, "obsolete line folding");
  std::size_t name_end = 0;
  while (name_end < line.size() && has_class(line[name_end], class_tchar))
    ++name_end;
  if (name_end == line.size() || line[name_end] != ':') {
    if (name_end < line.size() && is_whitespace(line[name_end]))
      return fail_field(400, "whitespace before the colon of a header field");
    return fail_field(400, "malformed header field name");
  }
  if (name_end == 0)
    return fail_field(400, "empty header field name");

  std::string_view raw_value = line.substr(name_end + 1);
  std::string_view value = trim_whitespace(raw_value);
  if (!valid_field_value(value))
    return fail_field(400, "invalid byte in header field value");
  const auto value_offset =
    position_ + name_end + 1 + static_cast<std::size_t>(value.data() - raw_value.data());
  span.name_offset = static_cast<std::uint32_t>(position_);
  span.name_size = static_cast<std::uint32_t>(name_end);
  span.value_offset = static_cast<std::uint32_t>(value_offset);
  span.value_size = static_cast<std::uint32_t>(value.size());
  return true;
}

bool http_parser::apply_field(std::string_view name, std::string_view value) noexcept {
  // Dispatch on the length first: most fields are none of the four that frame the message.
  switch (name.size()) {
    case 4:
      if (token_equals(name, "host")) {
        if (++host_count_ > 1)
          return fail_field(400, "duplicate Host header");
        for (char c : value) {
          if (!has_class(c, class_host))
            return fail_field(400, "invalid Host header");
        }
      }
      break;
    case 10:
      if (token_equals(name, "connection")) {
        for_each_list_element(value, [&](std::string_view option) {
          if (iequals(option, "close"))
            connection_close_ = true;
          else if (iequals(option, "keep-alive"))
            connection_keep_alive_ = true;
        });
      }
      break;
    case 14:
      if (token_equals(name, "content-length")) {
        // Even an equal duplicate is rejected: a proxy in front may have framed by the other one.
        if (has_content_length_)
          return fail_field(400, "duplicate Content-Length");
        has_content_length_ = true;
        if (value.empty())
          return fail_field(400, "invalid Content-Length");
        std::uint64_t length = 0;
        for (char c : value) {
          if (c < '0' || c > '9')
            return fail_field(400, "invalid Content-Length");
          auto digit = static_cast<std::uint64_t>(c - '0');
          if (length > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
            return fail_field(400, "Content-Length overflow");
          length = length * 10 + digit;
        }
        content_length_ = length;
      }
      break;
    case 17:
      if (token_equals(name, "transfer-encoding")) {
        has_transfer_encoding_ = true;
        for_each_list_element(value, [&](std::string_view coding) {
          if (coding.empty()) {
            transfer_encoding_malformed_ = true;
          } else if (iequals(coding, "chunked")) {
            ++transfer_encoding_chunked_count_;
            transfer_encoding_last_chunked_ = true;
          } else {
            transfer_encoding_other_ = true;
            transfer_encoding_last_chunked_ = false;
          }
        });
      }
      break;
    default: break;
  }
  return true;
}

parse_status http_parser::finish_head(std::string_view input) noexcept {
  if (request_.version_minor == 1 && host_count_ == 0)
    return fail(400, "missing Host header");
  if (has_transfer_encoding_) {
    if (request_.version_minor == 0)
      return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (has_content_length_)
      return fail(400, "both Content-Length and Transfer-Encoding");
    if (transfer_encoding_malformed_)
      return fail(400, "malformed Transfer-Encoding");
    if (!transfer_encoding_last_chunked_)
      return fail(400, "chunked is not the final transfer coding");
    if (transfer_encoding_chunked_count_ > 1)
      return fail(400, "chunked applied more than once");
    if (transfer_encoding_other_)
      return fail(501, "unsupported transfer coding");
  }
  // Rejected before a single body byte is read, so an oversized upload costs nothing.
  if (has_content_length_ && content_length_ > limits_.body_bytes_max)
    return fail(413, "Content-Length above the body limit");

  request_.keep_alive = request_.version_minor == 1 ? !connection_close_
                                                    : connection_keep_alive_ && !connection_close_;
  build_head_views(input);
  body_start_ = position_;
  if (has_transfer_encoding_) {
    state_ = state::chunk_line;
    return parse_status::need_more;
  }
  if (has_content_length_ && content_length_ > 0) {
    state_ = state::body_length;
    return parse_status::need_more;
  }
  request_.body = input.substr(position_, 0);
  return finish(position_);
}

void http_parser::build_head_views(std::string_view input) noexcept {
  request_.method_text = input.substr(head_start_, method_size_);
  request_.target = input.substr(target_offset_, target_size_);
  auto question = request_.target.find('?');
  request_.path = request_.target.substr(0, question);
  request_.query =
    question == std::string_view::npos ? std::string_view{} : request_.target.substr(question + 1);
  // Capacity only ever grows to the largest header count seen, so this does not allocate in the
  // steady state (and cannot exceed header_count_max).
  request_.headers.clear();
  for (const auto& span : fields_) {
    request_.headers.push_back(http_header{input.substr(span.name_offset, span.name_size),
                                           input.substr(span.value_offset, span.value_size)});
  }
}

parse_status http_parser::parse_body_length(std::string_view input) noexcept {
  if (input.size() - body_start_ < content_length_)
    return parse_status::need_more;
  request_.body = input.substr(body_start_, content_length_);
  return finish(body_start_ + content_length_);
}

parse_status http_parser::parse_chunk_line(std::string_view input) {
  const std::size_t line_limit = position_ + core::limits::chunk_line_bytes_max;
  const std::size_t window_end = std::min(input.size(), line_limit);
  const void* found = nullptr;
  if (scan_position_ < window_end) {
    found = std::memchr(input.data() + scan_position_, '\n', window_end - scan_position_);
    if (found == nullptr) {
      bytes_examined_ += window_end - scan_position_;
      scan_position_ = window_end;
    }
  }
  if (found == nullptr) {
    if (input.size() >= line_limit)
      return fail(400, "chunk line too long");
    return parse_status::need_more;
  }
  auto line_end = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
  bytes_examined_ += line_end + 1 - scan_position_;
  if (line_end == position_ || input[line_end - 1] != '\r')
    return fail(400, "bare LF");
  std::string_view line = input.substr(position_, line_end - 1 - position_);
  bytes_examined_ += line.size();

  std::uint64_t size = 0;
  std::size_t digits = 0;
  for (; digits < line.size(); ++digits) {
    int digit = hex_value(line[digits]);
    if (digit < 0)
      break;
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4))
      return fail(400, "chunk size overflow");
    size = (size << 4) | static_cast<std::uint64_t>(digit);
  }
  if (digits == 0)
    return fail(400, "malformed chunk size");
  if (!valid_chunk_extensions(line.substr(digits)))
    return fail(400, "malformed chunk extension");

  position_ = line_end + 1;
  scan_position_ = position_;
  if (size == 0) {
    reserve_chunk_body(chunk_body_size_);
    trailer_start_ = position_;
    state_ = state::trailer_lines;
    return parse_status::need_more;
  }
  // Checked against the declared size, before the data arrives.
  if (size > limits_.body_bytes_max - chunk_body_size_)
    return fail(413, "chunked body above the body limit");
  reserve_chunk_body(chunk_body_size_ + size);
  chunk_remaining_ = size;
  state_ = state::chunk_data;
  return parse_status::need_more;
}

parse_status http_parser::parse_chunk_data(std::string_view input) {
  const std::size_t take =
    static_cast<std::size_t>(std::min<std::uint64_t>(input.size() - position_, chunk_remaining_));
  if (take > 0) {
    std::memcpy(chunk_body_.data() + chunk_body_size_, input.data() + position_, take);
    chunk_body_size_ += take;
    position_ += take;
    chunk_remaining_ -= take;
    bytes_examined_ += take;
  }
  if (chunk_remaining_ == 0)
    state_ = state::chunk_data_end;
  return parse_status::need_more;
}

parse_status http_parser::parse_chunk_data_end(std::string_view input) noexcept {
  if (position_ == input.size())
    return parse_status::need_more;
  if (input[position_] != '\r')
    return fail(400, "chunk data not followed by CRLF");
  if (position_ + 1 == input.size())
    return parse_status::need_more;
  if (input[position_ + 1] != '\n')
    return fail(400, "chunk data not followed by CRLF");
  position_ += 2;
  scan_position_ = position_;
  state_ = state::chunk_line;
  return parse_status::need_more;
}

parse_status http_parser::parse_trailer_lines(std::string_view input) noexcept {
  const std::size_t trailer_limit = trailer_start_ + core::limits::trailer_bytes_max;
  for (;;) {
    auto [status, line_end] = next_line(input, trailer_limit, "trailer section too large");
    if (status != parse_status::complete)
      return status;
    if (line_end - 1 == position_) {
      request_.body = std::string_view(chunk_body_.data(), chunk_body_size_);
      return finish(line_end + 1);
    }
    // Trailer fields are checked like header fields and then dropped: nothing in steward reads
    // them, and merging them into the headers would let them override framing decisions.
    field_span span{};
    if (!check_field_line(input, line_end, span))
      return parse_status::error;
    position_ = line_end + 1;
    scan_position_ = position_;
  }
}

parse_status http_parser::finish(std::size_t end) noexcept {
  consumed_ = end;
  state_ = state::complete;
  return parse_status::complete;
}

void http_parser::reserve_chunk_body(std::size_t body_bytes) {
  const std::size_t needed = body_bytes + body_padding_bytes;
  if (chunk_body_.size() >= needed)
    return;
  // Grow geometrically so a body of many small chunks is copied O(1) times per byte, but never
  // past what the body limit can require.
  const std::size_t ceiling = limits_.body_bytes_max + body_padding_bytes;
  chunk_body_.resize(std::max(needed, std::min(chunk_body_.size() * 2, ceiling)));
}

} // namespace steward::net
