#include "core/ids.hpp"
#include "core/limits.hpp"

#include <algorithm>

#include "core/assert.hpp"

#include <openssl/rand.h>

#include <climits>

namespace steward::core {
namespace {

constexpr std::array<std::string_view, id_kind_count> prefixes{
  "usr_", "ses_", "ptk_", "hld_", "chg_", "rfd_", "res_", "apr_", "lnk_", "evt_",
};

constexpr std::string_view alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static_assert(alphabet.size() == 62);

using uint128 = unsigned __int128;

/// The digit value of a base62 character, or -1.
constexpr int digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  if (c >= 'a' && c <= 'z') return c - 'a' + 36;
  return -1;
}

/// Decodes the 22 characters after the prefix; empty when a character is not base62 or the value
/// does not fit in 128 bits.
std::optional<uint128> decode_random_part(std::string_view digits) noexcept {
  if (digits.size() != id_random_chars) return std::nullopt;
  constexpr uint128 max = ~uint128{0};
  uint128 value = 0;
  for (char c : digits) {
    int d = digit_value(c);
    if (d < 0) return std::nullopt;
    // value * 62 + d must not wrap: 62^22 exceeds 2^128, so the top of the range is reachable.
    if (value > (max - static_cast<uint128>(d)) / 62) return std::nullopt;
    value = value * 62 + static_cast<uint128>(d);
  }
  return value;
}

} // namespace

std::string_view prefix(id_kind kind) noexcept {
  auto index = static_cast<std::size_t>(kind);
  STEWARD_ASSERT(index < id_kind_count);
  return prefixes[index];
}

bool openssl_random::fill(std::span<std::uint8_t> out) noexcept {
  if (out.empty()) return true;
  if (out.size() > static_cast<std::size_t>(INT_MAX)) return false;
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

std::string format_id(id_kind kind, const id_bits& bits) {
  uint128 value = 0;
  for (std::uint8_t byte : bits) value = (value << 8) | byte;
  std::string id(id_bytes, '0');
  std::string_view p = prefix(kind);
  id.replace(0, p.size(), p);
  for (std::size_t i = id_bytes; i > id_prefix_bytes; --i) {
    id[i - 1] = alphabet[static_cast<std::size_t>(value % 62)];
    value /= 62;
  }
  STEWARD_DEBUG_ASSERT(value == 0);
  return id;
}

std::optional<std::string> make_id(id_kind kind, random_source& random) {
  id_bits bits{};
  if (!random.fill(bits)) return std::nullopt;
  return format_id(kind, bits);
}

bool is_valid(id_kind kind, std::string_view text) noexcept {
  return text.size() == id_bytes && text.substr(0, id_prefix_bytes) == prefix(kind) &&
         decode_random_part(text.substr(id_prefix_bytes)).has_value();
}

bool is_valid(std::string_view prefix_text, std::string_view text) noexcept {
  for (std::size_t i = 0; i < id_kind_count; ++i)
    if (prefixes[i] == prefix_text) return is_valid(static_cast<id_kind>(i), text);
  return false;
}

std::optional<id_kind> parse_id(std::string_view text) noexcept {
  if (text.size() != id_bytes) return std::nullopt;
  for (std::size_t i = 0; i < id_kind_count; ++i) {
    if (text.substr(0, id_prefix_bytes) != prefixes[i]) continue;
    if (!decode_random_part(text.substr(id_prefix_bytes))) return std::nullopt;
    return static_cast<id_kind>(i);
  }
  return std::nullopt;
}

std::optional<id_bits> id_value(std::string_view text) noexcept {
  if (!parse_id(text)) return std::nullopt;
  uint128 value = *decode_random_part(text.substr(id_prefix_bytes));
  id_bits bits{};
  for (std::size_t i = bits.size(); i > 0; --i) {
    bits[i - 1] = static_cast<std::uint8_t>(value & 0xff);
    value >>= 8;
  }
  return bits;
}

bool is_valid_provider_slug(std::string_view slug) noexcept {
  if (slug.empty() || slug.size() > limits::provider_slug_bytes_max || slug.front() == '-')
    return false;
  return std::all_of(slug.begin(), slug.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

} // namespace steward::core
