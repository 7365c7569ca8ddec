#include "core/base64url.hpp"

namespace steward::core {

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group =
      (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += base64url_alphabet[(group >> 18) & 63];
    out += base64url_alphabet[(group >> 12) & 63];
    out += base64url_alphabet[(group >> 6) & 63];
    out += base64url_alphabet[group & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t group = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) group |= std::uint32_t{bytes[i + 1]} << 8;
    out += base64url_alphabet[(group >> 18) & 63];
    out += base64url_alphabet[(group >> 12) & 63];
    if (rest == 2) out += base64url_alphabet[(group >> 6) & 63];
  }
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  return base64url_encode(std::span<const std::uint8_t>(
    reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  // A lone character after the last full group carries 6 bits, not enough for a byte.
  if (text.size() % 4 == 1) return false;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t group = 0;
  int bits = 0;
  for (char c : text) {
    const int value = base64url_value(c);
    if (value < 0) return false;
    group = (group << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((group >> bits) & 0xFF);
    }
  }
  // The bits left over (2 or 4, after a partial group) must be zero: otherwise several texts
  // would decode to the same bytes.
  return (group & ((1u << bits) - 1)) == 0;
}

} // namespace steward::core
