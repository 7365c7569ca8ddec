#include "core/card_number.hpp"

namespace steward::core {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_separator(char c) { return c == ' ' || c == '-'; }

} // namespace

bool luhn_valid(std::string_view text) noexcept {
  // From the rightmost digit, every second digit is doubled (and 9 subtracted when it exceeds 9).
  unsigned sum = 0;
  bool doubled = false;
  bool any = false;
  for (auto it = text.rbegin(); it != text.rend(); ++it) {
    if (!is_digit(*it)) continue;
    unsigned digit = static_cast<unsigned>(*it - '0');
    if (doubled) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    doubled = !doubled;
    any = true;
  }
  return any && sum % 10 == 0;
}

card_number_match find_card_number(std::string_view text) noexcept {
  const std::size_t n = text.size();
  std::size_t start = 0;
  while (start < n) {
    if (!is_digit(text[start])) {
      ++start;
      continue;
    }
    // `start` begins a group. Extend the candidate group by group while it can still be a PAN.
    // A start stops at the first group that takes it past 19 digits, so a byte is scanned by at
    // most 20 starts (19 one-digit groups before it, and its own): the search is linear.
    std::size_t end = start;
    std::size_t digits = 0;
    while (true) {
      while (end < n && is_digit(text[end])) {
        ++end;
        ++digits;
      }
      if (digits > card_number_digits_max) break;
      if (digits >= card_number_digits_min && luhn_valid(text.substr(start, end - start)))
        return {true, start, end - start};
      if (end + 1 < n && is_separator(text[end]) && is_digit(text[end + 1])) {
        ++end;
        continue;
      }
      break;
    }
    // The next candidate starts at the next group.
    while (start < n && is_digit(text[start])) ++start;
  }
  return {};
}

bool contains_card_number(std::string_view text) noexcept { return find_card_number(text).found; }

} // namespace steward::core
