#pragma once

// Identity attestations (DESIGN 5): steward's signed statement to one provider that a signed-in
// human is who the platform says, so that the provider can create an account for, or link to, that
// human's email. A compact JWS (core/jws.hpp) with
//
//     header  {"alg":"EdDSA","kid":KID,"typ":"steward-attestation+jwt"}
//     claims  {"iss","sub","aud","email","email_verified","name","iat","exp","jti"}
//
// `iss` is steward's public URL, `sub` the user id, `aud` the provider's slug (one string, never an
// array: an attestation is for exactly one provider), `iat`/`exp` Unix seconds with
// `0 < exp - iat <= limits::attestation_lifetime_seconds_max`, and `jti` a fresh `att_` id that a
// provider accepts once (`jti_replay_cache`).
//
// Verification is strict in the way the JWS layer is. Beyond a valid signature by a key of the
// issuer's JWKS it requires: `typ` exactly as above (so no other JWT steward might sign later can
// be passed off as an attestation); every claim present with its JSON type and no other claim
// (protocol v1 is closed: a new claim comes with a new `typ`); the issuer and audience the
// verifier expects, compared byte for byte; `iat` not more than
// `limits::attestation_leeway_seconds` ahead of the verifier's clock (clock skew); and
// `now < exp`, with no leeway.

#include "core/ids.hpp"
#include "core/jws.hpp"
#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace steward::core {

inline constexpr std::string_view attestation_typ = "steward-attestation+jwt";
inline constexpr std::string_view attestation_jti_prefix = "att_";
/// Random bytes behind a jti: 128 bits, as behind every steward id (core/ids.hpp).
inline constexpr std::size_t attestation_jti_random_bytes = 16;
/// `att_` and 22 base64url characters.
inline constexpr std::size_t attestation_jti_chars =
  attestation_jti_prefix.size() + (attestation_jti_random_bytes * 4 + 2) / 3;

/// The claims of one attestation.
struct attestation_claims {
  std::string iss;
  std::string sub;
  std::string aud;
  std::string email;
  bool email_verified = false;
  std::string name; ///< may be empty: not every user has a display name
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::string jti;

  friend bool operator==(const attestation_claims&, const attestation_claims&) = default;
};

/// Who is attested, to whom. The views must stay valid during `make_attestation`.
struct attestation_request {
  std::string_view issuer;   ///< steward's public URL (`--public-url`)
  std::string_view user_id;  ///< becomes `sub`
  std::string_view audience; ///< the provider's slug
  std::string_view email;
  bool email_verified = false;
  std::string_view name;
  std::int64_t lifetime_seconds = limits::attestation_lifetime_seconds_max;
};

/// Why an attestation could not be made or was refused. `none` means success.
enum class attestation_error : std::uint8_t {
  none,
  malformed,         ///< not a compact JWS, or claims that are not one JSON object
  wrong_algorithm,   ///< header `alg` other than EdDSA (`none`, HS256, ...) or `crit`
  unknown_key,       ///< `kid` not in the issuer's JWKS
  bad_signature,     ///< signature does not verify
  wrong_typ,         ///< header `typ` is not `steward-attestation+jwt`
  missing_claim,     ///< one of the nine claims is absent
  invalid_claim,     ///< a claim of the wrong type or size, empty, an unknown claim, a jti that is
                     ///< not `att_`, or `exp <= iat`; for `make_attestation`, an input like that
  wrong_issuer,      ///< `iss` is not the expected issuer
  wrong_audience,    ///< `aud` is not the expected audience
  lifetime_too_long, ///< `exp - iat` over limits::attestation_lifetime_seconds_max
  not_yet_valid,     ///< `iat` more than the leeway after `now`
  expired,           ///< `now >= exp`
  no_randomness,     ///< `make_attestation` only: the random source failed
};

/// Short reason, for logs and for a provider's error message; contains no claim value.
std::string_view describe(attestation_error error) noexcept;

/// A freshly signed attestation.
struct minted_attestation {
  std::string token;
  attestation_claims claims;
};

/// Signs an attestation for `request` at `now` (Unix seconds) with `key`, a fresh jti drawn from
/// `random`. Refuses (`invalid_claim`) an empty issuer, user id, audience or email, any string over
/// `limits::attestation_claim_bytes_max`, and a lifetime outside 1..300 s.
attestation_error make_attestation(const attestation_request& request, const jws_signing_key& key,
                                   std::int64_t now, random_source& random,
                                   minted_attestation& out);

/// Verifies `token` against the issuer's keys and the verifier's expectations (see the file
/// comment). On success fills `out`; otherwise `out` is unspecified. A provider must then pass the
/// jti to its `jti_replay_cache`.
attestation_error verify_attestation(std::string_view token, const jwk_set& keys,
                                     std::string_view expected_issuer,
                                     std::string_view expected_audience, std::int64_t now,
                                     attestation_claims& out);

/// The single-use rule of `jti`, for a provider: remembers every accepted jti until its `exp`
/// (after which `verify_attestation` refuses the token anyway) and refuses a second use.
///
/// Bounded: at most `capacity` jtis are remembered. When it is full of unexpired ones, a new jti is
/// refused (`full`, which a provider answers with 503) rather than an old one forgotten, because a
/// forgotten jti could be replayed. Expired entries are dropped on every call, oldest first, in
/// O(log n) each. Not thread-safe: one owner (an actor, or a caller holding a mutex).
class jti_replay_cache {
public:
  enum class verdict : std::uint8_t {
    first_use, ///< remembered now; accept the attestation
    replayed,  ///< seen before and not yet expired; refuse it
    expired,   ///< `exp <= now`: nothing to remember, and the attestation is not acceptable
    full,      ///< no room; refuse for now (503), never accept without remembering
  };

  explicit jti_replay_cache(std::size_t capacity = limits::attestation_replay_entries_max);

  /// Checks and records one use of `jti`, valid until `exp`, at the caller's clock `now`.
  verdict use(std::string_view jti, std::int64_t exp, std::int64_t now);

  /// jtis remembered now (expired ones may linger until the next call).
  std::size_t size() const noexcept { return expiry_by_jti_.size(); }

private:
  void forget_expired(std::int64_t now);

  using entry = std::pair<std::int64_t, std::string>; // exp, jti
  std::size_t capacity_;
  std::unordered_map<std::string, std::int64_t> expiry_by_jti_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> by_expiry_;
};

/// Path of steward's JWKS document.
inline constexpr std::string_view jwks_path = "/.well-known/jwks.json";
/// Path of its OpenID Provider metadata document.
inline constexpr std::string_view openid_configuration_path = "/.well-known/openid-configuration";

/// `issuer` (a trailing `/` dropped) followed by `jwks_path`.
std::string jwks_uri(std::string_view issuer);

/// The `/.well-known/openid-configuration` document for `issuer`, with only what is true of
/// steward: `issuer`, `jwks_uri`, `id_token_signing_alg_values_supported: ["EdDSA"]`,
/// `subject_types_supported: ["public"]` (every provider sees the same `sub`) and
/// `claims_supported`. steward is not an OpenID Provider with authorization or token endpoints for
/// providers, so those (and `response_types_supported`) are left out rather than invented; the
/// document exists so that JOSE tooling can discover the JWKS from the issuer.
std::string build_openid_configuration(std::string_view issuer);

} // namespace steward::core
