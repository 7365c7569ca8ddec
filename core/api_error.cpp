#include "core/api_error.hpp"

#include "core/assert.hpp"

#include <array>

namespace steward::core {

namespace {

struct table_entry {
  api_error error;
  api_error_info info;
};

// Indexed by the enumerator's value; each row names its enumerator so that the static_assert
// below catches a row added out of order.
constexpr std::array<table_entry, api_error_count> table{{
  {api_error::invalid_json, {400, "invalid_json", "Request body is not valid JSON"}},
  {api_error::unknown_field, {400, "unknown_field", "Request has an unknown field"}},
  {api_error::invalid_field, {400, "invalid_field", "Request has an invalid field"}},
  {api_error::idempotency_key_required,
   {400, "idempotency_key_required", "Idempotency-Key header required"}},
  {api_error::unsupported_currency, {400, "unsupported_currency", "Currency not supported"}},
  {api_error::bad_request, {400, "bad_request", "Malformed HTTP request"}},
  {api_error::unauthorized, {401, "unauthorized", "Missing or invalid credentials"}},
  {api_error::budget_exceeded, {402, "budget_exceeded", "Budget exceeded"}},
  {api_error::token_expired, {402, "token_expired", "Payment token expired"}},
  {api_error::forbidden, {403, "forbidden", "Not allowed"}},
  {api_error::killed, {403, "killed", "Stopped by a kill switch"}},
  {api_error::token_revoked, {403, "token_revoked", "Payment token revoked"}},
  {api_error::not_found, {404, "not_found", "Not found"}},
  {api_error::method_not_allowed, {405, "method_not_allowed", "Method not allowed"}},
  {api_error::request_timeout, {408, "request_timeout", "Request not received in time"}},
  {api_error::idempotency_in_flight,
   {409, "idempotency_in_flight", "A request with this Idempotency-Key is in progress"}},
  {api_error::approval_not_pending, {409, "approval_not_pending", "Approval is not pending"}},
  {api_error::resource_state_conflict,
   {409, "resource_state_conflict", "Resource cannot change to that status"}},
  {api_error::payload_too_large, {413, "payload_too_large", "Request body too large"}},
  {api_error::idempotency_conflict,
   {422, "idempotency_conflict", "Idempotency-Key reused with a different request"}},
  {api_error::intent_mismatch, {422, "intent_mismatch", "Not the approved value"}},
  {api_error::config_invalid, {422, "config_invalid", "Invalid service configuration"}},
  {api_error::rate_limited, {429, "rate_limited", "Too many requests"}},
  {api_error::headers_too_large, {431, "headers_too_large", "Request header section too large"}},
  {api_error::internal, {500, "internal", "Internal error"}},
  {api_error::not_implemented, {501, "not_implemented", "Not implemented"}},
  {api_error::provider_error, {502, "provider_error", "Provider returned an error"}},
  {api_error::provider_unavailable, {503, "provider_unavailable", "Provider unavailable"}},
  {api_error::overloaded, {503, "overloaded", "Server overloaded"}},
  {api_error::http_version_not_supported,
   {505, "http_version_not_supported", "HTTP version not supported"}},
}};

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (static_cast<std::size_t>(table[i].error) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "rows of the api_error table must follow the enum order");

} // namespace

const api_error_info& info(api_error error) noexcept {
  auto index = static_cast<std::size_t>(error);
  // An out-of-range value can only come from a bad cast; answer as an internal error rather than
  // read past the table.
  if (!STEWARD_SURVIVABLE(index < table.size()))
    return table[static_cast<std::size_t>(api_error::internal)].info;
  return table[index].info;
}

api_error api_error_from_http_status(std::uint16_t status) noexcept {
  switch (status) {
  case 400: return api_error::bad_request;
  case 405: return api_error::method_not_allowed;
  case 408: return api_error::request_timeout;
  case 413: return api_error::payload_too_large;
  case 431: return api_error::headers_too_large;
  case 501: return api_error::not_implemented;
  case 505: return api_error::http_version_not_supported;
  default: break;
  }
  // The parser only produces the statuses above; a new one must be added here and in the docs.
  const bool parser_status_has_api_error = false;
  static_cast<void>(STEWARD_SURVIVABLE(parser_status_has_api_error));
  return api_error::internal;
}

} // namespace steward::core
