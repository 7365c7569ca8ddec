#include "core/ids.hpp"
#include "core/limits.hpp"

#include <algorithm>

#include "core/assert.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <atomic>
#include <climits>
#include <cstring>

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
  // value * 62 + d must not wrap: 62^22 exceeds 2^128, so the top of the range is reachable.
  // Compared with constants: a 128-bit division per character was most of checking an id.
  constexpr uint128 max = ~uint128{0};
  constexpr uint128 max_before_digit = max / 62;
  constexpr auto max_last_digit = static_cast<int>(max % 62);
  uint128 value = 0;
  for (char c : digits) {
    int d = digit_value(c);
    if (d < 0) return std::nullopt;
    if (value > max_before_digit || (value == max_before_digit && d > max_last_digit))
      return std::nullopt;
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

namespace {

/// Bumped in a forked child, so that a child never hands out bytes its parent also holds.
std::atomic<std::uint64_t> fork_generation{0};

/// A thread's unused CSPRNG output, drawn 1 KiB at a time: one RAND_bytes call costs about
/// 0.65 us whatever its size up to that, which made it most of minting an id (0.78 us; 0.20 with
/// the buffer, bench/crypto.bench.cpp). Bytes handed out are wiped from the buffer, and what is
/// left is wiped when the thread ends or a fork happens.
class random_buffer {
public:
  ~random_buffer() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

  bool take(std::span<std::uint8_t> out) noexcept {
    const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (generation != generation_) {
      OPENSSL_cleanse(bytes_.data(), bytes_.size());
      used_ = bytes_.size();
      generation_ = generation;
    }
    if (bytes_.size() - used_ < out.size()) {
      if (RAND_bytes(bytes_.data(), static_cast<int>(bytes_.size())) != 1)
        return false;
      used_ = 0;
    }
    std::memcpy(out.data(), bytes_.data() + used_, out.size());
    OPENSSL_cleanse(bytes_.data() + used_, out.size());
    used_ += out.size();
    return true;
  }

  static constexpr std::size_t request_max = 64;

private:
  std::array<std::uint8_t, 1024> bytes_{};
  std::size_t used_ = bytes_.size();
  std::uint64_t generation_ = 0;
};

} // namespace

bool openssl_random::fill(std::span<std::uint8_t> out) noexcept {
  if (out.empty()) return true;
  if (out.size() > static_cast<std::size_t>(INT_MAX)) return false;
  if (out.size() > random_buffer::request_max)
    return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
  static const bool fork_watched = [] {
    ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)fork_watched;
  thread_local random_buffer buffer;
  return buffer.take(out);
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

bool is_time_ordered(id_kind kind) noexcept { return kind == id_kind::charge; }

std::string format_time_ordered_id(id_kind kind, std::uint64_t unix_ms, const id_bits& bits) {
  std::string id = format_id(kind, bits);
  std::string time(id_time_chars, '0');
  for (std::size_t i = id_time_chars; i > 0 && unix_ms != 0; --i) {
    time[i - 1] = alphabet[static_cast<std::size_t>(unix_ms % 62)];
    unix_ms /= 62;
  }
  // 62^8 ms is past the year 8900; a later clock keeps only the low digits, which stays valid.
  id.insert(id_prefix_bytes, time);
  return id;
}

std::optional<std::string> make_id_at(id_kind kind, random_source& random, std::uint64_t unix_ms) {
  id_bits bits{};
  if (!random.fill(bits)) return std::nullopt;
  return is_time_ordered(kind) ? format_time_ordered_id(kind, unix_ms, bits) : format_id(kind, bits);
}

bool is_valid(id_kind kind, std::string_view text) noexcept {
  if (text.size() < id_bytes || text.substr(0, id_prefix_bytes) != prefix(kind)) return false;
  if (text.size() == time_ordered_id_bytes && is_time_ordered(kind)) {
    for (char c : text.substr(id_prefix_bytes, id_time_chars))
      if (digit_value(c) < 0) return false;
  } else if (text.size() != id_bytes) {
    return false;
  }
  return decode_random_part(text.substr(text.size() - id_random_chars)).has_value();
}

bool is_valid(std::string_view prefix_text, std::string_view text) noexcept {
  for (std::size_t i = 0; i < id_kind_count; ++i)
    if (prefixes[i] == prefix_text) return is_valid(static_cast<id_kind>(i), text);
  return false;
}

std::optional<id_kind> parse_id(std::string_view text) noexcept {
  for (std::size_t i = 0; i < id_kind_count; ++i) {
    if (!text.starts_with(prefixes[i])) continue;
    const auto kind = static_cast<id_kind>(i);
    if (!is_valid(kind, text)) return std::nullopt;
    return kind;
  }
  return std::nullopt;
}

std::optional<id_bits> id_value(std::string_view text) noexcept {
  if (!parse_id(text)) return std::nullopt;
  uint128 value = *decode_random_part(text.substr(text.size() - id_random_chars));
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
