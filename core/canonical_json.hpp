#pragma once

// The canonical form of a JSON text: one byte string per JSON value, so that two texts that mean
// the same thing hash the same (idempotency fingerprints, DESIGN 4.4) and an event re-serialised by
// another writer still verifies in the hash chain (DESIGN 6).
//
// The rules (close to RFC 8785 "JCS", minus its floating-point part; see "Numbers"):
//  - No insignificant whitespace.
//  - Object members sorted by their unescaped names, compared as unsigned bytes of UTF-8 (what
//    std::string_view compares). A name that appears twice in one object is rejected: two parsers
//    could pick different values, so such a text has no one meaning to fingerprint.
//  - Strings re-escaped exactly as core/json_writer writes them (`append_json_string`): `"` and `\`,
//    control characters as `\b \f \n \r \t` or `\u00xx`, U+2028/U+2029 as `\u2028`/`\u2029`,
//    everything else raw UTF-8. So `"\u0041"` and `"A"` are the same string.
//  - `true`, `false`, `null` as themselves.
//  - Numbers: an integer token (no fraction, no exponent) is already canonical in RFC 8259's grammar
//    (no leading zeros, no `+`), except `-0`, which becomes `0`. Any other number token is kept
//    byte for byte. Deliberately not normalised through a double: two different decimal texts can
//    round to the same double (`0.1` and `0.10000000000000000001`), and a fingerprint that merged
//    them would replay one request's response for a different request. Keeping tokens apart errs
//    the other way (`1.0` and `1.00` differ), which only costs a 422 `idempotency_conflict` the
//    client can see and fix. steward's own API has no non-integer numbers (DESIGN 3).
//
// Bounds, the same as core/json_reader's: nesting deeper than `limits::json_depth_max` (the
// outermost object or array is level 1), a string or member name over `limits::json_string_bytes_max`
// bytes, and a text over `limits::body_bytes_max` are rejected. The whole input is validated: invalid
// UTF-8, bad escapes (including lone surrogates), malformed literals or numbers, and anything after
// the one value are errors. Any JSON value is accepted at the top, not only objects.
//
// The canonical form of a canonical form is itself (tested, and checked by the fuzz target).

#include "core/api_error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace steward::core {

/// Why a text has no canonical form. `none` means success.
enum class canonical_json_error : std::uint8_t {
  none,
  invalid_json,    ///< not exactly one well-formed JSON value (including invalid UTF-8)
  too_deep,        ///< nested deeper than limits::json_depth_max
  duplicate_key,   ///< a member name appears twice in one object
  string_too_long, ///< a string or name over limits::json_string_bytes_max bytes
  too_large,       ///< the text is over limits::body_bytes_max bytes
};

/// A short human description of `error`, for a problem's `detail`.
std::string_view describe(canonical_json_error error) noexcept;

/// The API code a request body with this error is answered with: `invalid_field` for duplicates
/// and long strings (as core/json_reader reports them), `payload_too_large` for `too_large`,
/// `invalid_json` otherwise. `none` is a programmer error survived as `internal`.
api_error to_api_error(canonical_json_error error) noexcept;

/// Appends the canonical form of `json` to `out`. On error `out` is left as it was.
///
/// Not reentrant per thread (it reuses one thread-local parser), which is harmless: it calls no
/// user code.
[[nodiscard]] canonical_json_error append_canonical_json(std::string& out, std::string_view json);

/// The canonical form of `json`, or an error; `text` is empty when `error` is set.
struct canonical_json {
  std::string text;
  canonical_json_error error = canonical_json_error::none;

  explicit operator bool() const noexcept { return error == canonical_json_error::none; }
};

/// Convenience wrapper around `append_canonical_json`.
[[nodiscard]] canonical_json canonicalize_json(std::string_view json);

} // namespace steward::core
