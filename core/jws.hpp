#pragma once

// Compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`, RFC 8037), and the JWK / JWKS
// documents (RFC 7517) that publish the public keys. Attestations (core/attestation.hpp) are built
// on this; any standard JOSE library must verify what it produces (tests/attestation_jose.test.cpp
// checks that with an independent implementation).
//
//     token = BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
//     header = {"alg":"EdDSA","kid":KID,"typ":TYP}
//
// base64url here is RFC 4648 section 5 without padding (RFC 7515 2), decoded strictly: no `=`,
// no character outside the URL-safe alphabet, no length that leaves a lone character, and no
// non-zero bits after the last byte (so every byte string has exactly one encoding and a token
// cannot be altered without changing its signing input).
//
// Verification accepts exactly one shape, because lenient JOSE verifiers are where tokens get
// forged (`alg: none`, HMAC keyed with a public key, unknown `crit` extensions):
//  - at most `limits::jws_bytes_max` bytes, exactly three segments;
//  - the header is one JSON object with `alg` (must be `EdDSA`), `kid` (must name a key of the
//    set) and optionally `typ`; any other member, `crit` included, and any duplicate member makes
//    it unacceptable. The algorithm comes from the key set (every key is Ed25519), never from the
//    token: `alg` is only checked against it;
//  - the signature is exactly 64 bytes and verifies with OpenSSL's Ed25519 over the first two
//    segments as sent.
// The payload is returned as bytes; its meaning (claims) is the caller's business.

#include "core/base64url.hpp"
#include "core/json_writer.hpp"

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

// --- Keys ----------------------------------------------------------------------------------------

/// The only JWS algorithm produced or accepted.
inline constexpr std::string_view jws_algorithm = "EdDSA";
inline constexpr std::size_t ed25519_key_bytes = 32;
inline constexpr std::size_t ed25519_signature_bytes = 64;

using ed25519_key_bytes_t = std::array<std::uint8_t, ed25519_key_bytes>;

/// Whether `kid` may name a key: 1 to `limits::jws_kid_bytes_max` characters of the base64url
/// alphabet (steward's kids are 11 of them; storage/data_dir.hpp). Keeping kids to this alphabet
/// means they never need escaping in a header, a file name or a log line.
bool is_valid_kid(std::string_view kid) noexcept;

/// An Ed25519 private key with its key id; signs compact JWS. Immutable after creation and safe
/// to use from several threads at once; copies share the key.
class jws_signing_key {
public:
  /// The key whose RFC 8032 private key (the 32-byte seed) is `private_key`, published as `kid`.
  /// Empty when `kid` is not valid or OpenSSL refuses the key.
  static std::optional<jws_signing_key>
  from_private_key(std::string kid, std::span<const std::uint8_t, 32> private_key);

  const std::string& kid() const noexcept { return kid_; }
  const ed25519_key_bytes_t& public_key() const noexcept { return public_key_; }

  /// The compact JWS of `payload` with header `{"alg":"EdDSA","kid":...,"typ":typ}` (`typ` left
  /// out when empty). Signing cannot fail except by memory exhaustion, which aborts.
  std::string sign(std::string_view typ, std::string_view payload) const;

private:
  jws_signing_key() = default;

  std::string kid_;
  ed25519_key_bytes_t public_key_{};
  std::shared_ptr<EVP_PKEY> key_;
};

/// One published key: what a JWK of steward's JWKS says.
struct public_jwk {
  std::string kid;
  ed25519_key_bytes_t x{};
};

/// The public keys a verifier trusts, by kid. Immutable once filled; safe to share between threads
/// for verification.
class jwk_set {
public:
  /// Adds a key. False (and nothing added) when `kid` is not valid, is already in the set, the set
  /// holds `limits::jwks_keys_max` keys, or OpenSSL refuses the key.
  bool add(std::string kid, const ed25519_key_bytes_t& x);

  /// The key for `kid`, or nullptr.
  const EVP_PKEY* find(std::string_view kid) const noexcept;

  /// The keys, in the order they were added.
  const std::vector<public_jwk>& keys() const noexcept { return keys_; }
  std::size_t size() const noexcept { return keys_.size(); }

private:
  std::vector<public_jwk> keys_;
  std::vector<std::shared_ptr<EVP_PKEY>> openssl_keys_; // parallel to keys_
};

// --- JWK and JWKS documents -------------------------------------------------------------------

/// Writes one public JWK:
/// `{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":"EdDSA"}`.
void write_jwk(json_writer& writer, const public_jwk& key);

/// The JWKS document `{"keys":[JWK, ...]}` served at `/.well-known/jwks.json`.
std::string build_jwks(std::span<const public_jwk> keys);

/// Why a JWKS document was refused. `none` means it parsed.
enum class jwks_error : std::uint8_t {
  none,
  too_large,     ///< over limits::jwks_bytes_max
  invalid_json,  ///< not a JSON object `{"keys":[...]}` of JWK objects, or a duplicate member
  unsupported,   ///< not kty OKP and crv Ed25519, or a `use` other than sig, `alg` other than EdDSA
  invalid_key,   ///< `x` not 32 bytes of base64url, an invalid kid, or a key OpenSSL refuses
  private_key,   ///< a key carries its private part `d`: such a document must never be served
  duplicate_kid, ///< two keys share a kid, so a token's kid would not say which key signed it
  too_many_keys, ///< more than limits::jwks_keys_max keys
};

std::string_view describe(jwks_error error) noexcept;

/// Parses a JWKS document into `out` (replaced only on success). Only steward's own form is
/// accepted: members other than those `write_jwk` writes (and `d`, reported) are refused.
jwks_error parse_jwks(std::string_view document, jwk_set& out);

// --- Compact JWS verification ------------------------------------------------------------------

/// Why a token was refused. `none` means it verified.
enum class jws_error : std::uint8_t {
  none,
  too_large,             ///< over limits::jws_bytes_max
  malformed,             ///< not three segments of strict base64url, or not a 64-byte signature
  bad_header,            ///< header not one JSON object of only `alg`, `kid`, `typ`; duplicates
  unsupported_algorithm, ///< `alg` is not `EdDSA` (`none`, `HS256`, `RS256`, ...)
  critical_header,       ///< the header has `crit`: no extension is understood
  unknown_kid,           ///< no key of the set has the header's `kid`
  bad_signature,         ///< the signature does not verify
};

std::string_view describe(jws_error error) noexcept;

/// What a verified token says.
struct verified_jws {
  std::string kid;
  std::string typ; ///< empty when the header has none
  std::string payload;
};

/// Verifies `token` against `keys` (see the file comment). On success fills `out`; otherwise `out`
/// is unspecified.
jws_error verify_compact(std::string_view token, const jwk_set& keys, verified_jws& out);

} // namespace steward::core
