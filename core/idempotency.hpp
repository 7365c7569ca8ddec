#pragma once

// The rules of idempotent requests (DESIGN 4.4; IETF draft-ietf-httpapi-idempotency-key-header,
// Stripe's and ACP's behaviour), as pure functions. The user actor keeps the records and calls
// `decide` before doing anything; storage persists a record in the same journal batch as the side
// effect it answers for.
//
//     auto key_error = validate_idempotency_key(header);        // 400 unless none
//     auto scope = idempotency_scope(principal, "POST", path, header);
//     auto fingerprint = fingerprint_body(body);                // 400 invalid_json on error
//     auto decision = decide(records.find(scope), fingerprint.value);
//
// The key. The draft makes `Idempotency-Key` a Structured Field String (`"8e03..."`, quotes
// included); Stripe and most clients send the bare value. steward treats the field value as opaque
// bytes and accepts both: 1 to `limits::idempotency_key_bytes_max` bytes, each printable ASCII
// (0x21-0x7E) or an interior space (0x20). That is exactly the alphabet of an sf-string, so a
// draft-conforming value passes with its quotes as part of the key, and a bare UUID or token
// passes too. Leading or trailing space is refused: HTTP strips it from field values (RFC 9110
// 5.5), so two keys differing only in it would arrive as one. Non-ASCII and control bytes are refused
// because they do not survive logging and proxies unchanged.

#include "core/api_error.hpp"
#include "core/canonical_json.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace steward::core {

/// Why an `Idempotency-Key` value was refused (all 400; `missing` is `idempotency_key_required`,
/// the others `invalid_field`).
enum class idempotency_key_error : std::uint8_t {
  none,
  missing,           ///< absent or empty
  too_long,          ///< over limits::idempotency_key_bytes_max bytes
  invalid_character, ///< a byte outside 0x20-0x7E, or a space at either end
};

/// Checks a key against the rules in the file comment. An absent header is passed as "".
idempotency_key_error validate_idempotency_key(std::string_view key) noexcept;

/// The API code for a refused key.
api_error to_api_error(idempotency_key_error error) noexcept;

/// The byte string that names one idempotency scope: (principal, method, path, key), each field
/// preceded by its length as 4 bytes big-endian, so no two different tuples give the same bytes
/// whatever the fields contain (`("a.b", "c")` vs `("a", "b.c")`). `path` is the route path
/// without its query string (steward's idempotent routes take no query parameters); `principal` is
/// whatever identifies the caller uniquely across kinds, e.g. a session id or `provider:<slug>`.
std::string idempotency_scope(std::string_view principal, std::string_view method,
                              std::string_view path, std::string_view key);

/// SHA-256 of a request's canonical body.
using idempotency_fingerprint = std::array<std::uint8_t, 32>;

/// A fingerprint, or why the body has none.
struct fingerprint_result {
  idempotency_fingerprint value{};
  canonical_json_error error = canonical_json_error::none;

  explicit operator bool() const noexcept { return error == canonical_json_error::none; }
};

/// The fingerprint of a request body: SHA-256 of its canonical JSON (core/canonical_json.hpp), so
/// a retry that re-serialises the same body differently (member order, whitespace, escapes) still
/// matches. An empty body (a DELETE, a POST without one) is SHA-256 of the empty string. A body that
/// is not valid JSON has no fingerprint; the request is refused with `to_api_error(error)`.
fingerprint_result fingerprint_body(std::string_view body);

/// Lowercase hex of a fingerprint, for logs and storage that prefer text.
std::string to_hex(const idempotency_fingerprint& fingerprint);

/// Where the original request of a scope is.
enum class idempotency_state : std::uint8_t {
  in_flight, ///< accepted and still executing; no response yet
  done,      ///< finished with a stored response (see `is_stored_response`)
};

/// What steward remembers about one scope.
struct idempotency_record {
  idempotency_fingerprint fingerprint{};
  idempotency_state state = idempotency_state::in_flight;
  std::uint16_t status = 0; ///< the original response; meaningful when `done`
  std::string body;         ///< the original response body; meaningful when `done`
};

/// What to do with a request whose scope may have a record.
enum class idempotency_action : std::uint8_t {
  execute,   ///< first time: record it `in_flight` and run it
  replay,    ///< answer `status` and `body` again, with `Idempotent-Replayed: true`; do nothing
  conflict,  ///< 422 idempotency_conflict: same key, different body
  in_flight, ///< 409 idempotency_in_flight with `Retry-After: retry_after_seconds`
};

/// Seconds a client is told to wait before retrying a request whose original is still running.
/// Short on purpose: most originals finish within an actor timeout's fraction, and a retry is cheap.
inline constexpr std::uint32_t idempotency_retry_after_seconds = 1;

/// The decision, and what a replay or refusal needs.
struct idempotency_decision {
  idempotency_action action = idempotency_action::execute;
  std::uint16_t status = 0;            ///< replay: the original status
  std::string_view body;               ///< replay: the original body; a view into the record
  std::uint32_t retry_after_seconds = 0; ///< in_flight: the `Retry-After` value
  std::optional<api_error> error;      ///< conflict / in_flight: the error to answer with
};

/// Decides what to do with a request of fingerprint `request` given the record of its scope
/// (`nullptr` when there is none). A different fingerprint is a conflict even while the original is
/// in flight: retrying would not help, so the client must not be told to. The returned `body`
/// views `stored->body` and is valid as long as the record is.
idempotency_decision decide(const idempotency_record* stored,
                            const idempotency_fingerprint& request) noexcept;

/// Whether a response with `status` becomes the scope's stored outcome. When false, the in-flight
/// record is dropped instead, so a retry with the same key executes afresh.
///  - 5xx: not stored (DESIGN 4.4); the failure may be transient and the effect did not happen or is
///    `unknown`, which a retry of the same key reconciles.
///  - 408, 409, 425 and 429: not stored; they mean "not now" (timeout, a concurrent original,
///    rate limiting), not an outcome, and replaying them forever would make the key unusable.
///  - 1xx: not a final response.
///  - Every other 2xx, 3xx and 4xx is stored, including 402 declines: as with Stripe, a decline is
///    the outcome of that key, and a new attempt takes a new key.
bool is_stored_response(std::uint16_t status) noexcept;

} // namespace steward::core
