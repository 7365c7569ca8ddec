#pragma once

// Bearer secrets: session tokens (`sst_…`, DESIGN 3: shown once, stored hashed), the platform key
// and the admin token (from the data dir), and the `Authorization: Bearer` header that carries
// them (RFC 6750 2.1).
//
// A session token is `sst_` followed by 32 random bytes in unpadded base64url (43 characters).
// steward keeps only the lowercase hex SHA-256 of the whole token: the token has 256 bits of
// entropy, so a plain hash (no salt, no slow KDF) is enough to make a leaked table useless, and it
// lets the session be found by the hash of what is presented.
//
// Every comparison of a presented secret runs in time independent of where it differs
// (CRYPTO_memcmp over fixed-size digests), so response timing cannot guess a secret byte by byte.

#include "core/api_error.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

inline constexpr std::string_view session_token_prefix = "sst_";
/// Random bytes behind a session token.
inline constexpr std::size_t session_token_random_bytes = 32;
/// Characters of a session token: the prefix plus unpadded base64url of the random bytes.
inline constexpr std::size_t session_token_chars =
  session_token_prefix.size() + (session_token_random_bytes * 4 + 2) / 3;
/// Characters of a stored token hash (hex SHA-256).
inline constexpr std::size_t token_hash_chars = 64;

/// Fills its argument with random bytes; false when the source failed (then nothing may be minted).
/// Injected so that tests are deterministic; production uses `system_random`.
using random_fill = std::function<bool(std::span<std::uint8_t>)>;

/// The production source: OpenSSL's CSPRNG (RAND_bytes).
bool system_random(std::span<std::uint8_t> out) noexcept;

/// A freshly minted session token: `token` goes to the client once, `hash` is what is stored.
struct minted_token {
  std::string token;
  std::string hash;
};

/// Mints a session token from `random`; empty when the source failed.
std::optional<minted_token> mint_session_token(const random_fill& random);

/// True when `text` has the shape of a session token (prefix, 43 base64url characters). Says
/// nothing about whether such a session exists.
bool is_session_token(std::string_view text) noexcept;

/// Lowercase hex SHA-256 of `token`: the stored form, and the lookup key for a presented one.
std::string hash_token(std::string_view token);

/// Whether `presented` hashes to `stored_hash`, compared in constant time. False for a stored hash
/// that is not 64 characters.
bool verify_token(std::string_view presented, std::string_view stored_hash);

/// Compares a presented secret (platform key, admin token) with the configured one in time that
/// depends on neither content nor length: both are hashed first and the digests compared. An
/// empty `configured` never matches (a missing key must not open the door to an empty bearer).
bool secrets_equal(std::string_view presented, std::string_view configured);

/// Why an `Authorization` value did not yield a bearer credential; all are 401 `unauthorized`.
enum class bearer_error : std::uint8_t {
  none,
  missing,    ///< no header, or an empty value
  not_bearer, ///< another scheme (Basic, Digest, ...)
  malformed,  ///< not exactly `Bearer` SP token68 (RFC 6750 b64token)
  too_long,   ///< the credential is over limits::bearer_token_bytes_max
};

/// Whether an `Authorization` value is `Bearer` and a credential equal to `configured`
/// (`parse_bearer`, then `secrets_equal`: constant time, and an empty `configured` never matches).
bool bearer_matches(std::string_view authorization, std::string_view configured);

/// The credential of a `Bearer` authorization, or why there is none.
struct bearer_result {
  std::string_view token; ///< a view into the header value; empty on error
  bearer_error error = bearer_error::none;

  explicit operator bool() const noexcept { return error == bearer_error::none; }
};

/// Parses `Authorization: Bearer <token>`: the scheme is case-insensitive (RFC 9110 11.1),
/// followed by exactly one space and a token68 (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding only
/// at the end). Anything else — extra spaces, a second credential, an empty token — is refused.
/// Pass "" when the header is absent.
bearer_result parse_bearer(std::string_view authorization) noexcept;

/// Short reason, for logs; never sent to the client.
std::string_view describe(bearer_error error) noexcept;

/// Always 401 `unauthorized`; `none` is a programmer error survived as `internal`.
api_error to_api_error(bearer_error error) noexcept;

} // namespace steward::core
