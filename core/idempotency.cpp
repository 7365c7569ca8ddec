#include "core/idempotency.hpp"

#include "core/sha256.hpp"

#include "core/assert.hpp"
#include "core/hex.hpp"
#include "core/limits.hpp"

#include <openssl/evp.h>

namespace steward::core {

namespace {

void append_length_prefixed(std::string& out, std::string_view field) {
  // Fields are bounded far below 4 GiB (a request line is at most limits::request_line_bytes_max).
  STEWARD_ASSERT(field.size() <= 0xFFFFFFFFu);
  const auto size = static_cast<std::uint32_t>(field.size());
  out += static_cast<char>((size >> 24) & 0xFF);
  out += static_cast<char>((size >> 16) & 0xFF);
  out += static_cast<char>((size >> 8) & 0xFF);
  out += static_cast<char>(size & 0xFF);
  out.append(field);
}

} // namespace

idempotency_key_error validate_idempotency_key(std::string_view key) noexcept {
  if (key.empty()) return idempotency_key_error::missing;
  if (key.size() > limits::idempotency_key_bytes_max) return idempotency_key_error::too_long;
  if (key.front() == ' ' || key.back() == ' ') return idempotency_key_error::invalid_character;
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7E) return idempotency_key_error::invalid_character;
  }
  return idempotency_key_error::none;
}

api_error to_api_error(idempotency_key_error error) noexcept {
  switch (error) {
  case idempotency_key_error::none: break;
  case idempotency_key_error::missing: return api_error::idempotency_key_required;
  case idempotency_key_error::too_long:
  case idempotency_key_error::invalid_character: return api_error::invalid_field;
  }
  STEWARD_SURVIVABLE(false && "to_api_error called without an error");
  return api_error::internal;
}

std::string idempotency_scope(std::string_view principal, std::string_view method,
                              std::string_view path, std::string_view key) {
  std::string scope;
  scope.reserve(16 + principal.size() + method.size() + path.size() + key.size());
  append_length_prefixed(scope, principal);
  append_length_prefixed(scope, method);
  append_length_prefixed(scope, path);
  append_length_prefixed(scope, key);
  return scope;
}

fingerprint_result fingerprint_body(std::string_view body) {
  fingerprint_result result;
  if (body.empty()) {
    result.value = sha256({});
    return result;
  }
  // Reused per thread: fingerprinting runs for every idempotent request.
  thread_local std::string canonical;
  canonical.clear();
  result.error = append_canonical_json(canonical, body);
  if (result.error == canonical_json_error::none) result.value = sha256(canonical);
  if (canonical.capacity() > (64u << 10)) canonical = std::string();
  return result;
}

std::string to_hex(const idempotency_fingerprint& fingerprint) {
  // The span overload, named by its parameter type: a plain `to_hex(fingerprint)` here would call
  // this function again.
  return core::to_hex(std::span<const std::uint8_t>(fingerprint));
}

idempotency_decision decide(const idempotency_record* stored,
                            const idempotency_fingerprint& request) noexcept {
  idempotency_decision decision;
  if (stored == nullptr) {
    decision.action = idempotency_action::execute;
    return decision;
  }
  if (stored->fingerprint != request) {
    decision.action = idempotency_action::conflict;
    decision.error = api_error::idempotency_conflict;
    return decision;
  }
  if (stored->state == idempotency_state::in_flight) {
    decision.action = idempotency_action::in_flight;
    decision.retry_after_seconds = idempotency_retry_after_seconds;
    decision.error = api_error::idempotency_in_flight;
    return decision;
  }
  decision.action = idempotency_action::replay;
  decision.status = stored->status;
  decision.body = stored->body;
  return decision;
}

bool is_stored_response(std::uint16_t status) noexcept {
  if (status < 200 || status >= 500) return false;
  switch (status) {
  case 408: // request timeout
  case 409: // idempotency_in_flight: a concurrent original, not this key's outcome
  case 425: // too early
  case 429: // rate limited
    return false;
  default: return true;
  }
}

} // namespace steward::core
