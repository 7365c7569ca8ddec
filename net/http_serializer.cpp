#include "net/http_serializer.hpp"

#include "core/assert.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>

namespace steward::net {

namespace {

std::atomic<std::uint64_t> dropped_headers{0};

constexpr std::int64_t seconds_per_day = 86400;
/// 9999-12-31T23:59:59Z, the last instant with a four-digit year.
constexpr std::int64_t http_date_seconds_max = 253402300799;
/// Days in any 400 consecutive Gregorian years (97 of them leap years).
constexpr std::int64_t days_per_400_years = 400 * 365 + 97;

constexpr bool is_leap_year(std::int64_t year) noexcept {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

void write_two_digits(char* out, unsigned value) noexcept {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

bool is_token(std::string_view text) noexcept {
  if (text.empty())
    return false;
  for (char c : text) {
    const bool alpha_numeric =
      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alpha_numeric && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
      return false;
  }
  return true;
}

/// CR and LF would end the header line early and let the rest of the value forge headers or a
/// second response; NUL is invalid in a field value and truncates it in some clients.
bool is_safe_value(std::string_view value) noexcept {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  }
  return true;
}

/// Headers that `append_response` writes itself from the response and the connection state.
bool is_owned_header(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || iequals(name, "date");
}

bool emits_extra_header(const std::pair<std::string, std::string>& header) noexcept {
  if (STEWARD_SURVIVABLE(is_token(header.first) && is_safe_value(header.second) &&
                         !is_owned_header(header.first)))
    return true;
  dropped_headers.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[20];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

/// Makes room for `extra` more bytes without giving up geometric growth: `reserve(size + extra)`
/// on every call would reallocate for each pipelined response appended to the same buffer.
void grow_for(std::string& out, std::size_t extra) {
  const std::size_t needed = out.size() + extra;
  if (needed > out.capacity())
    out.reserve(std::max(needed, out.capacity() * 2));
}

} // namespace

void format_http_date(std::int64_t unix_seconds, char (&out)[http_date_size]) noexcept {
  static constexpr char weekday_names[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::int64_t seconds = std::clamp<std::int64_t>(unix_seconds, 0, http_date_seconds_max);
  std::int64_t days = seconds / seconds_per_day;
  const auto second_of_day = static_cast<unsigned>(seconds % seconds_per_day);
  const auto weekday = static_cast<std::size_t>(days % 7); // 1970-01-01 was a Thursday

  // Whole 400-year cycles first (each has the same number of days whatever year it starts in),
  // then single years and months; this runs once per second per io thread, so clarity wins.
  std::int64_t year = 1970 + 400 * (days / days_per_400_years);
  days %= days_per_400_years;
  while (days >= (is_leap_year(year) ? 366 : 365)) {
    days -= is_leap_year(year) ? 366 : 365;
    ++year;
  }
  static constexpr int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  std::size_t month = 0;
  for (; month < 11; ++month) {
    const int length = month_days[month] + (month == 1 && is_leap_year(year) ? 1 : 0);
    if (days < length)
      break;
    days -= length;
  }

  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::memcpy(out, weekday_names[weekday], 3);
  out[3] = ',';
  out[4] = ' ';
  write_two_digits(out + 5, static_cast<unsigned>(days + 1));
  out[7] = ' ';
  std::memcpy(out + 8, month_names[month], 3);
  out[11] = ' ';
  write_two_digits(out + 12, static_cast<unsigned>(year / 100));
  write_two_digits(out + 14, static_cast<unsigned>(year % 100));
  out[16] = ' ';
  write_two_digits(out + 17, second_of_day / 3600);
  out[19] = ':';
  write_two_digits(out + 20, second_of_day / 60 % 60);
  out[22] = ':';
  write_two_digits(out + 23, second_of_day % 60);
  std::memcpy(out + 25, " GMT", 4);
}

void append_response(std::string& out, const http_response& response, bool close,
                     bool head_request, std::string_view http_date) {
  std::uint16_t status = response.status;
  if (!STEWARD_SURVIVABLE(status >= 100 && status <= 999))
    status = 500;
  // RFC 9110 6.4.1: 1xx, 204 and 304 never carry content, and 204/1xx must not send Content-Length.
  const bool bodyless = status < 200 || status == 204 || status == 304;
  const bool send_body = !bodyless && !head_request;
  bool send_content_type =
    !bodyless && !response.content_type.empty() && (!response.body.empty() || head_request);
  if (send_content_type && !STEWARD_SURVIVABLE(is_safe_value(response.content_type))) {
    dropped_headers.fetch_add(1, std::memory_order_relaxed);
    send_content_type = false;
  }
  const std::string_view reason = reason_phrase(status);

  std::size_t extra_bytes = 0;
  for (const auto& [name, value] : response.headers)
    extra_bytes += name.size() + value.size() + 4;
  grow_for(out, 96 + reason.size() + http_date.size() + response.content_type.size() + extra_bytes +
                  (send_body ? response.body.size() : 0));

  out += "HTTP/1.1 ";
  char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10)};
  out.append(code, 3);
  out += ' ';
  out += reason;
  out += "\r\nDate: ";
  out += http_date;
  out += "\r\n";
  if (send_content_type) {
    out += "Content-Type: ";
    out += response.content_type;
    out += "\r\n";
  }
  if (!bodyless) {
    out += "Content-Length: ";
    append_decimal(out, response.body.size());
    out += "\r\n";
  }
  for (const auto& header : response.headers) {
    if (!emits_extra_header(header))
      continue;
    out += header.first;
    out += ": ";
    out += header.second;
    out += "\r\n";
  }
  if (close)
    out += "Connection: close\r\n";
  out += "\r\n";
  if (send_body)
    out += response.body;
}

std::uint64_t dropped_response_headers() noexcept {
  return dropped_headers.load(std::memory_order_relaxed);
}

} // namespace steward::net
