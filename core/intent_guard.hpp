#pragma once

// The exact-intent guard for durable purchases (DESIGN 1: an agent told to buy `superseal.club`
// bought `superseal.cc`). A durable, non-refundable purchase of a domain may proceed only when
// the requested name, normalised, is exactly one of the approved values: the session's intents
// and the values a human approved. Anything else is refused; the guard only decides how to
// explain the refusal:
//
//   allowed       exact match after normalisation (case, one trailing dot).
//   lookalike     resembles an approved value; `expected` names the closest one, and becomes the
//                 `expected` member of 422 `intent_mismatch` (DESIGN 4.5). Never substituted.
//   not_intended  related to nothing approved; also 422 `intent_mismatch`, without `expected`.
//   invalid       not a domain name at all; 422 `config_invalid`.
//
// Normalisation: ASCII letters lowercased, one trailing dot removed; labels of letters, digits and
// hyphens, 1 to 63 bytes, no hyphen at either end, no `--` at positions 3-4 except `xn--`; at
// most 253 bytes; at least two labels; a top-level label that is not all digits (RFC 1035 2.3.4,
// RFC 1123 2.1, RFC 5891 4.2.3.1). An IDN may come as `xn--` A-labels, which must decode (RFC
// 3492 Punycode) to something non-ASCII and re-encode to the same text, or as UTF-8, which is
// encoded to A-labels; the normalised form is always the A-label form. Non-ASCII letters are not
// case-folded (that needs Unicode tables; a registrar would refuse an uppercase U-label anyway),
// but the skeleton below maps uppercase homoglyphs too, so such a request still shows as a
// lookalike rather than slipping through.
//
// Lookalike rules, tried in this order against each approved value. They compare the "name" of a
// domain: everything left of its public suffix. Without the Public Suffix List (not a Debian
// package steward depends on), the suffix is the last label, or the last two when they look like
// `co.uk` (a common second-level label such as co, com, net, org, ac, gov, edu under a two-letter
// country code). A wrong guess there only changes which rule fires, never allows anything.
//   other_suffix  same name, another suffix: superseal.club vs superseal.cc / .co / .com.
//   separators    the same once hyphens and dots are removed: super-seal.club, super.seal.club.
//   confusable    the same skeleton: digits and letters that look alike (0/o, 1/l/i, rn/m, vv/w,
//                 cl/d), accented Latin letters, and common Cyrillic and Greek homoglyphs are
//                 mapped to one Latin letter (a small table in the spirit of Unicode UTS #39's
//                 confusables, not the whole of it).
//   contains      one holds the other: a subdomain of the approved value (shop.superseal.club) or
//                 its parent, the approved labels followed by more (superseal.club.example.com),
//                 or the approved skeleton (5 characters or more) inside the request's
//                 (superseal-login.club, getsuperseal.com).
//   typo          Damerau-Levenshtein distance (optimal string alignment) between the skeletons,
//                 at most 0 for names up to 3 characters, 1 up to 7 and 2 beyond, so that
//                 `ab.com` and `xy.com` are unrelated while `supersea1.club` and `supresael.club`
//                 are not.
// When several approved values match, the closest by edit distance over the whole normalised
// name is named, the first in order (intents, then approvals) on a tie. Pure: no I/O.

#include "core/api_error.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

enum class intent_verdict : std::uint8_t { allowed, lookalike, not_intended, invalid };

/// Which rule made a request a lookalike (for logs and metrics; the API says only `expected`).
enum class lookalike_rule : std::uint8_t {
  none,
  other_suffix,
  separators,
  confusable,
  contains,
  typo,
};

struct intent_decision {
  intent_verdict verdict = intent_verdict::invalid;
  /// The request in normalised (A-label) form; empty when invalid.
  std::string requested;
  /// For `lookalike`: the approved value it resembles most, normalised. Empty otherwise.
  std::string expected;
  lookalike_rule rule = lookalike_rule::none;

  /// Only an exact match may proceed.
  explicit operator bool() const noexcept { return verdict == intent_verdict::allowed; }
};

/// The normalised A-label form of a domain name, or nothing when it is not a valid one.
std::optional<std::string> normalize_domain(std::string_view domain);

/// Decides whether a durable purchase of `requested` may proceed. `intents` are the session's
/// intents, `approved` the values a human approved; entries that do not normalise are ignored
/// (they can match nothing). Only the first `limits::intent_values_max` values of both lists
/// together are examined for resemblance; every value is checked for an exact match.
intent_decision check_intent(std::string_view requested, std::span<const std::string> intents,
                             std::span<const std::string> approved);

/// 422 `intent_mismatch` for lookalike and not_intended, 422 `config_invalid` for invalid;
/// `allowed` is not an error (a programmer error survived as `internal`).
api_error to_api_error(intent_verdict verdict) noexcept;

/// Short names, for logs.
std::string_view describe(intent_verdict verdict) noexcept;
std::string_view describe(lookalike_rule rule) noexcept;

namespace detail {

/// RFC 3492 Punycode of one label's code points (without `xn--`); nothing on overflow.
std::optional<std::string> punycode_encode(std::u32string_view code_points);
/// RFC 3492 decoding of lowercase Punycode (without `xn--`); nothing when malformed, when it
/// overflows, or when a code point is a surrogate or past U+10FFFF.
std::optional<std::u32string> punycode_decode(std::string_view text);
/// The skeleton of a normalised domain: each label decoded, homoglyphs mapped to one Latin
/// letter, then 0→o, 1→l, i→l, rn→m, vv→w, cl→d. Dots and hyphens are kept.
std::string skeleton(std::string_view normalized);
/// Optimal-string-alignment distance (insert, delete, substitute, swap adjacent), over bytes.
std::size_t edit_distance(std::string_view a, std::string_view b);

} // namespace detail

} // namespace steward::core
