#include "core/secret_token.hpp"

#include "core/base64url.hpp"
#include "core/hex.hpp"

#include "core/sha256.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <climits>

namespace steward::core {

namespace {

using digest = sha256_digest;

bool is_base64url_char(char c) { return base64url_value(c) >= 0; }

bool is_token68_char(char c) {
  return is_base64url_char(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

} // namespace

bool system_random(std::span<std::uint8_t> out) noexcept {
  if (out.size() > static_cast<std::size_t>(INT_MAX)) return false;
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

std::optional<minted_token> mint_session_token(const random_fill& random) {
  std::array<std::uint8_t, session_token_random_bytes> bytes{};
  if (!random || !random(bytes)) return std::nullopt;
  minted_token minted;
  minted.token.reserve(session_token_chars);
  minted.token += session_token_prefix;
  minted.token += base64url_encode(bytes);
  STEWARD_DEBUG_ASSERT(minted.token.size() == session_token_chars);
  minted.hash = hash_token(minted.token);
  // The random bytes are the secret; do not leave them on the stack.
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return minted;
}

bool is_session_token(std::string_view text) noexcept {
  if (text.size() != session_token_chars || !text.starts_with(session_token_prefix)) return false;
  text.remove_prefix(session_token_prefix.size());
  for (char c : text)
    if (!is_base64url_char(c)) return false;
  // 32 bytes are 256 bits in 43 six-bit characters: the last character's 2 low bits are unused.
  // A canonical encoding has them zero, so exactly one spelling of each token is accepted.
  const char last = text.back();
  const auto position = static_cast<std::size_t>(
    base64url_alphabet.find(last));
  return (position & 0x03) == 0;
}

std::string hash_token(std::string_view token) {
  auto const hash = sha256(token);
  // The span-taking encoder, named explicitly: core has array overloads of `to_hex` too.
  return core::to_hex(std::span<const std::uint8_t>(hash));
}

bool verify_token(std::string_view presented, std::string_view stored_hash) {
  if (stored_hash.size() != token_hash_chars) return false;
  const std::string presented_hash = hash_token(presented);
  return CRYPTO_memcmp(presented_hash.data(), stored_hash.data(), token_hash_chars) == 0;
}

bool secrets_equal(std::string_view presented, std::string_view configured) {
  // Hashing both first makes the comparison fixed-size, so neither the configured secret's length
  // nor the position of the first differing byte shows in the timing.
  const digest a = sha256(presented);
  const digest b = sha256(configured);
  const bool same = CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
  return same && !configured.empty();
}

bearer_result parse_bearer(std::string_view authorization) noexcept {
  constexpr std::string_view scheme = "bearer";
  bearer_result result;
  if (authorization.empty()) {
    result.error = bearer_error::missing;
    return result;
  }
  const std::size_t space = authorization.find(' ');
  if (!iequals_ascii(authorization.substr(0, space), scheme)) {
    result.error = bearer_error::not_bearer;
    return result;
  }
  if (space == std::string_view::npos) {
    result.error = bearer_error::malformed;
    return result;
  }
  const std::string_view token = authorization.substr(space + 1);
  if (token.size() > limits::bearer_token_bytes_max) {
    result.error = bearer_error::too_long;
    return result;
  }
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  std::size_t i = 0;
  while (i < token.size() && is_token68_char(token[i])) ++i;
  const bool has_body = i > 0;
  while (i < token.size() && token[i] == '=') ++i;
  if (!has_body || i != token.size()) {
    result.error = bearer_error::malformed;
    return result;
  }
  result.token = token;
  return result;
}

std::string_view describe(bearer_error error) noexcept {
  switch (error) {
  case bearer_error::none: return "valid";
  case bearer_error::missing: return "missing Authorization";
  case bearer_error::not_bearer: return "Authorization is not a Bearer credential";
  case bearer_error::malformed: return "malformed Bearer credential";
  case bearer_error::too_long: return "Bearer credential too long";
  }
  return "invalid Authorization";
}

api_error to_api_error(bearer_error error) noexcept {
  if (STEWARD_SURVIVABLE(error != bearer_error::none)) return api_error::unauthorized;
  return api_error::internal;
}

bool bearer_matches(std::string_view authorization, std::string_view configured) {
  auto const bearer = parse_bearer(authorization);
  return bearer && secrets_equal(bearer.token, configured);
}

} // namespace steward::core
