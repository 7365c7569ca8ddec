#pragma once

// base64url (RFC 4648 section 5) without padding, as steward writes it everywhere: tokens and
// secrets (`sst_…`, `spk_…`), key ids, JWS segments (RFC 7515 2). Decoding is strict: no `=`, no
// characters outside the alphabet, and the unused low bits of the last character must be zero, so
// that every byte string has exactly one accepted spelling.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

inline constexpr std::string_view base64url_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The 6-bit value of a base64url character, or -1.
constexpr int base64url_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/// Unpadded base64url of `bytes`.
std::string base64url_encode(std::span<const std::uint8_t> bytes);
std::string base64url_encode(std::string_view bytes);

/// Strict unpadded decoding (see the file comment). Replaces `out`; false, with `out`
/// unspecified, when `text` is not the canonical encoding of some byte string.
bool base64url_decode(std::string_view text, std::string& out);

} // namespace steward::core
