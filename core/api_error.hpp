#pragma once

// The stable machine codes of the public API (DESIGN 4.5, plus the HTTP-layer additions listed in
// docs/errors.md), each with its HTTP status and a short title. This is the one place where a code
// string is spelled: every folder maps its own error enum to an `api_error`, and the problem+json
// writer (core/problem.hpp) turns it into a response body. The code strings are a contract with
// clients; never rename one, only add.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace steward::core {

/// A stable API error code. The enumerator order is not part of the contract (only the strings
/// are), but `api_error_count` must follow the last one.
enum class api_error : std::uint8_t {
  // 400
  invalid_json,
  unknown_field,
  invalid_field,
  idempotency_key_required,
  unsupported_currency,
  bad_request, ///< malformed HTTP (request line, headers, framing)
  // 401
  unauthorized,
  // 402
  budget_exceeded,
  token_expired,
  // 403
  forbidden,
  killed,
  token_revoked,
  // 404, 405, 408, 409
  not_found,
  method_not_allowed,
  request_timeout, ///< the client was too slow to send its request
  idempotency_in_flight,
  approval_not_pending,    ///< an approval decided, used or expired was to be decided or used
  resource_state_conflict, ///< a resource status change its lifecycle does not allow
  // 413, 422, 429, 431
  payload_too_large,
  idempotency_conflict,
  intent_mismatch,
  config_invalid,
  rate_limited,
  headers_too_large,
  // 5xx
  internal,
  not_implemented, ///< a transfer coding the server does not implement
  provider_error,
  provider_unavailable,
  overloaded,
  http_version_not_supported,
};

/// Number of `api_error` values; they are numbered 0 to `api_error_count - 1`.
inline constexpr std::size_t api_error_count =
  static_cast<std::size_t>(api_error::http_version_not_supported) + 1;

/// What the API says about one code.
struct api_error_info {
  std::uint16_t status;   ///< HTTP status of every response that carries this code
  std::string_view code;  ///< the stable machine code, e.g. "budget_exceeded"
  std::string_view title; ///< short human summary; RFC 9457 `title`, the same for every occurrence
};

/// The status, code string and title of `error`. The views are static.
const api_error_info& info(api_error error) noexcept;

/// The code an error status of the HTTP parser maps to: 400 bad_request, 405 method_not_allowed,
/// 408 request_timeout, 413 payload_too_large, 431 headers_too_large, 501 not_implemented,
/// 505 http_version_not_supported. Any other status is a programmer error that is survived as
/// `internal` (counted and logged by STEWARD_SURVIVABLE).
api_error api_error_from_http_status(std::uint16_t status) noexcept;

} // namespace steward::core
