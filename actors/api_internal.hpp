#pragma once

// What the API's route files share (actors/api.cpp, api_spend.cpp, api_provisioning.cpp): the
// principals' checks, the Idempotency-Key, body decoding, ids, and reads on the loader pool. Every
// helper that refuses a request answers it itself and returns empty or false.

#include "actors/api.hpp"
#include "core/problem.hpp"
#include "net/problem_response.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace steward::actors::api_detail {

using net::http_request;
using net::http_response;
using net::responder;
using net::route_params;

inline constexpr std::string_view idempotency_header = "Idempotency-Key";
inline constexpr std::string_view provider_header = "Steward-Provider";

/// A problem as a response (RFC 9457, with `Retry-After` when it names one).
http_response problem_reply(core::problem&& problem);
/// Answers `code` with `detail`.
void refuse(const responder& reply, core::api_error code, std::string_view detail);
/// Unix seconds now: the context's clock, else the system clock.
std::int64_t now_of(const api_context& context);
/// Unix milliseconds now: the context's clock (whole seconds), else the system clock.
std::int64_t now_ms_of(const api_context& context);

/// Whether the request carries the admin token; answers 401 when not.
bool admin_authorized(const api_context& context, const http_request& request, const responder& reply);
/// Whether the request carries the platform key; answers 401 when not.
bool platform_authorized(const api_context& context, const http_request& request,
                         const responder& reply);

/// The calling provider's slug when its signature verifies; answers 401 otherwise.
std::optional<std::string> provider_authorized(const api_context& context,
                                               const http_request& request,
                                               const responder& reply);

/// The (user, session) of a presented session token; answers 401 when there is none.
std::optional<std::pair<std::string, std::string>> session_authorized(const api_context& context,
                                                                      const http_request& request,
                                                                      const responder& reply);

/// Whether `slug` is a configured provider; answers 400 `invalid_field` at `pointer` when not.
bool configured_provider(const api_context& context, const std::string& slug,
                         std::string_view pointer, const responder& reply);

/// The `{id}` user of the path when it exists; answers 404 otherwise.
std::optional<std::string> known_user(const api_context& context, const route_params& params,
                                      const responder& reply);

/// The `{id}` user of a platform request: the platform key checked (401), then the user (404).
std::optional<std::string> platform_user(const api_context& context, const http_request& request,
                                         const route_params& params, const responder& reply);

/// Runs `job` (a journal read that answers `reply` itself) on the loader pool; 503 when full.
void post_read(const api_context& context, const responder& reply, std::function<void()> job);

/// The idempotency scope and fingerprint of a request that must carry a key; answers 400 when the
/// key is missing or malformed or the body is not JSON.
std::optional<idempotency_key> idempotency_of(std::string_view principal,
                                              const http_request& request,
                                              const responder& reply);

/// A fresh id of `kind`; answers 500 when the random source fails.
std::optional<std::string> new_id(const api_context& context, core::id_kind kind,
                                  const responder& reply);

/// Decodes the body with `decoder`; answers the decoder's problem and returns false on failure.
template <class Decoded, class Decoder>
bool decode_body(const http_request& request, const responder& reply, Decoded& out,
                 Decoder decoder) {
  if (auto error = decoder(request.body, out)) {
    reply.respond(problem_reply(core::problem(error)));
    return false;
  }
  return true;
}

/// A route handler, and how a route file adds its routes (`extra_wait_ms`: net::route_table's).
using handler_fn = void (*)(const api_context&, const http_request&, const route_params&,
                            responder);
using route_adder = std::function<void(net::http_method, std::string_view, handler_fn,
                                       std::uint32_t extra_wait_ms)>;

/// Platform, provider and agent spend routes (api_spend.cpp).
void add_spend_routes(const route_adder& add);
/// The admin listener's kill switch (api_spend.cpp).
void add_admin_spend_routes(const route_adder& add);
/// Catalog, terms, approvals, resources and the OAuth callback (api_provisioning.cpp).
void add_provisioning_routes(const route_adder& add);

} // namespace steward::actors::api_detail
