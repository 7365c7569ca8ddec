#include "bench/steward_bench/http_response.hpp"

#include <charconv>
#include <cstdint>

namespace steward::bench {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

} // namespace

response_parse parse_response(std::string_view bytes, http_response& out) noexcept {
  const auto head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    return bytes.size() > response_head_bytes_max ? response_parse::malformed
                                                   : response_parse::incomplete;
  if (head_end + 4 > response_head_bytes_max)
    return response_parse::malformed;
  std::string_view head = bytes.substr(0, head_end + 2); // every line ends with CRLF

  // Status line: HTTP/1.x SP 3DIGIT (SP reason)?
  const auto line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." ||
      !is_digit(status_line[7]) || status_line[8] != ' ' || !is_digit(status_line[9]) ||
      !is_digit(status_line[10]) || !is_digit(status_line[11]) ||
      (status_line.size() > 12 && status_line[12] != ' '))
    return response_parse::malformed;
  const bool http10 = status_line[7] == '0';
  const int status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 +
                     (status_line[11] - '0');
  if (status < 100)
    return response_parse::malformed;

  bool have_length = false;
  std::uint64_t length = 0;
  bool close = false;
  bool keep_alive = false;
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    const auto end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return response_parse::malformed;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::uint64_t parsed = 0;
      auto [ptr, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (error != std::errc() || ptr != value.data() + value.size() || value.empty() ||
          (have_length && parsed != length))
        return response_parse::malformed;
      have_length = true;
      length = parsed;
    } else if (iequals(name, "transfer-encoding")) {
      return response_parse::malformed; // stewardd never sends it; see the header comment
    } else if (iequals(name, "connection")) {
      std::string_view rest = value;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view option = trim(rest.substr(0, comma));
        close = close || iequals(option, "close");
        keep_alive = keep_alive || iequals(option, "keep-alive");
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
  }
  if (!have_length) {
    if (status == 204 || status == 304)
      length = 0;
    else
      return response_parse::malformed; // would be framed by closing: not supported
  }
  if (length > response_body_bytes_max)
    return response_parse::malformed;
  const std::size_t total = head_end + 4 + static_cast<std::size_t>(length);
  if (bytes.size() < total)
    return response_parse::incomplete;
  out.status = status;
  out.body = bytes.substr(head_end + 4, static_cast<std::size_t>(length));
  out.size = total;
  out.close = close || (http10 && !keep_alive);
  return response_parse::complete;
}

} // namespace steward::bench
