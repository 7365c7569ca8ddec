#pragma once

// `Steward-Signature`: HMAC-SHA256 request signing between steward and providers, both ways
// (DESIGN 4, "Auth"; webhooks to the platform are signed the same way with the event id as key).
//
//     signed = t + "." + METHOD + "." + PATH + "." + IDEMPOTENCY_KEY + "." + BODY
//     Steward-Signature: t=<unix seconds>,v1=<64 lowercase hex digits>[,v1=...]
//
// PATH is the request target with its query string; IDEMPOTENCY_KEY is empty when the header is
// absent. The payload is fed to HMAC piece by piece: it is never assembled in memory.
//
// A property of this format (fixed by DESIGN 4, as in Stripe's): the fields are joined with `.`,
// not length-prefixed, and PATH, IDEMPOTENCY_KEY and BODY may themselves contain `.`; so
// (path `/a`, key `b.c`) and (path `/a.b`, key `c`) sign the same bytes. It only matters if a
// signed request could be re-aimed at another route that differs by such a split; steward's
// signed routes contain no `.`, and a body must stay valid JSON. A v2 scheme should
// length-prefix the fields.
//
// Parsing is strict, because a lenient parser is where signature schemes get bypassed:
//  - at most `limits::signature_header_bytes_max` bytes, elements separated by `,` with no spaces;
//  - exactly one `t=`: 1 to 18 decimal digits, no sign, no leading zero (unless it is `0`);
//  - one to `limits::signature_v1_count_max` `v1=` entries, each exactly 64 lowercase hex digits.
//    Several are allowed so that a sender rotating its secret can sign with the old and the new
//    one; the request verifies when any of them matches;
//  - anything else (an unknown element, an empty element, a duplicate `t`) makes it malformed.
//    A future scheme (`v2=`) would be added here with its tests, not silently ignored.
//
// Verification computes the expected MAC once and compares it with every `v1` with CRYPTO_memcmp,
// all of them, so timing reveals neither where a guess went wrong nor which entry matched. The
// timestamp must be within `signature_tolerance_seconds` of `now`, both ways (clock skew in either
// direction; a captured request cannot be replayed later than that, and within it idempotency
// turns a replay into a no-op). Every failure maps to 401 `unauthorized`; the reasons exist for
// logs and metrics and must not be told to the caller in detail.

#include "core/api_error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace steward::core {

/// How far the signed timestamp may be from the verifier's clock, either way.
inline constexpr std::int64_t signature_tolerance_seconds = 300;

/// Name of the header that carries the signature.
inline constexpr std::string_view signature_header_name = "Steward-Signature";

/// What a request to sign or verify consists of. The views must stay valid during the call.
struct signed_request {
  std::string_view method;          ///< e.g. "POST", as on the request line
  std::string_view path;            ///< request target, query string included
  std::string_view idempotency_key; ///< empty when the request has no Idempotency-Key
  std::string_view body;            ///< the raw body bytes as sent
};

/// Why a signature was refused. `none` means it verified.
enum class signature_error : std::uint8_t {
  none,
  malformed, ///< the header breaks the grammar in the file comment
  expired,   ///< valid MAC, but `t` is more than the tolerance before `now`
  future,    ///< valid MAC, but `t` is more than the tolerance after `now`
  mismatch,  ///< no `v1` matches (or the secret is empty)
};

/// Short reason, for logs; never sent to the client.
std::string_view describe(signature_error error) noexcept;

/// Always 401 `unauthorized` for an error; `none` is a programmer error survived as `internal`.
api_error to_api_error(signature_error error) noexcept;

/// Lowercase hex HMAC-SHA256(secret, signed payload) for timestamp `t`.
/// `secret` must not be empty and `t` must be non-negative (asserted: both come from our config
/// and clock, not from a request).
std::string signature_hex(std::string_view secret, std::int64_t t, const signed_request& request);

/// The `Steward-Signature` value `t=<t>,v1=<hex>` for `request` signed at `t` with `secret`.
std::string sign(std::string_view secret, std::int64_t t, const signed_request& request);

/// Verifies a `Steward-Signature` value against `request` and the verifier's clock `now` (Unix
/// seconds). An empty `secret` never verifies.
signature_error verify(std::string_view secret, std::string_view header_value, std::int64_t now,
                       const signed_request& request);

} // namespace steward::core
