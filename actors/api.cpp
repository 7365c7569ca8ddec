#include "actors/api.hpp"

#include "actors/api_internal.hpp"
#include "core/hmac_signature.hpp"
#include "core/idempotency.hpp"
#include "core/secret_token.hpp"

#include <chrono>
#include <utility>

namespace steward::actors {

namespace api_detail {

http_response problem_reply(core::problem&& problem) {
  return net::problem_response(std::move(problem));
}

void refuse(const responder& reply, core::api_error code, std::string_view detail) {
  reply.respond(problem_reply(core::problem(code, detail)));
}

std::int64_t now_of(const api_context& context) {
  if (context.clock)
    return context.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

namespace {

/// Unix milliseconds now, always from the system clock.
std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

std::int64_t now_ms_of(const api_context& context) {
  if (context.clock)
    return context.clock() * 1000;
  return system_now_ms();
}

/// Whether the request carries the platform key; answers 401 when not.
bool platform_authorized(const api_context& context, const http_request& request,
                         const responder& reply) {
  if (!core::bearer_matches(request.header("Authorization"), context.platform_key)) {
    refuse(reply, core::api_error::unauthorized, "a valid platform key is required");
    return false;
  }
  return true;
}

/// Whether the request carries the admin token; answers 401 when not.
bool admin_authorized(const api_context& context, const http_request& request, const responder& reply) {
  if (!core::bearer_matches(request.header("Authorization"), context.admin_token)) {
    refuse(reply, core::api_error::unauthorized, "a valid admin token is required");
    return false;
  }
  return true;
}

/// The calling provider's slug when its signature verifies; answers 401 otherwise.
std::optional<std::string> provider_authorized(const api_context& context,
                                               const http_request& request,
                                               const responder& reply) {
  std::string_view slug = request.header(provider_header);
  auto secret = context.provider_secrets.find(std::string(slug));
  // An unknown provider is checked against an empty secret, which never verifies: the same answer
  // and about the same work as a wrong signature.
  std::string_view key;
  if (secret != context.provider_secrets.end())
    key = secret->second;
  core::signed_request signed_part{request.method_text, request.target,
                                   request.header(idempotency_header), request.body};
  auto verdict = core::verify(key, request.header(core::signature_header_name), now_of(context),
                              signed_part);
  if (verdict != core::signature_error::none) {
    refuse(reply, core::api_error::unauthorized, "a valid provider signature is required");
    return std::nullopt;
  }
  return std::string(slug);
}

/// The (user, session) of a presented session token; answers 401 when there is none.
std::optional<std::pair<std::string, std::string>> session_authorized(const api_context& context,
                                                                      const http_request& request,
                                                                      const responder& reply) {
  auto bearer = core::parse_bearer(request.header("Authorization"));
  if (bearer && core::is_session_token(bearer.token)) {
    auto found = context.aliases->find(
      make_alias_key(alias_key::session_token, core::hash_token(bearer.token)));
    if (found) {
      auto space = found->find(' ');
      if (space != std::string::npos)
        return std::pair{found->substr(0, space), found->substr(space + 1)};
    }
  }
  refuse(reply, core::api_error::unauthorized, "a valid session token is required");
  return std::nullopt;
}

/// Whether `slug` is a configured provider; answers 400 `invalid_field` at `pointer` when not.
bool configured_provider(const api_context& context, const std::string& slug,
                         std::string_view pointer, const responder& reply) {
  if (context.provider_secrets.contains(slug))
    return true;
  reply.respond(problem_reply(core::problem(core::api_error::invalid_field,
                                            std::string(pointer) + ": no provider " + slug +
                                              " is configured")
                                .member("field", pointer)));
  return false;
}

/// The `{id}` user of the path when it exists; answers 404 otherwise.
std::optional<std::string> known_user(const api_context& context, const route_params& params,
                                      const responder& reply) {
  std::string_view id = params.get("id");
  if (core::is_valid(core::id_kind::user, id) &&
      context.aliases->find(make_alias_key(alias_key::user, id)))
    return std::string(id);
  refuse(reply, core::api_error::not_found, "no such user");
  return std::nullopt;
}

/// The `{id}` user of a platform request: the platform key checked (401), then the user (404).
std::optional<std::string> platform_user(const api_context& context, const http_request& request,
                                         const route_params& params, const responder& reply) {
  if (!platform_authorized(context, request, reply))
    return std::nullopt;
  return known_user(context, params, reply);
}

/// Runs `job` (a journal read that answers `reply` itself) on the loader pool; 503 when full.
void post_read(const api_context& context, const responder& reply, std::function<void()> job) {
  if (!context.loader->post(std::move(job)))
    reply.respond(problem_reply(
      core::problem(core::api_error::overloaded, "too many journal reads are waiting").retry_after(1)));
}

/// The idempotency scope and fingerprint of a request that must carry a key; answers 400 when the
/// key is missing or malformed or the body is not JSON.
std::optional<idempotency_key> idempotency_of(std::string_view principal,
                                              const http_request& request,
                                              const responder& reply) {
  std::string_view key = request.header(idempotency_header);
  if (auto error = core::validate_idempotency_key(key); error != core::idempotency_key_error::none) {
    refuse(reply, core::to_api_error(error),
           error == core::idempotency_key_error::missing
             ? "this request needs an Idempotency-Key header"
             : "Idempotency-Key must be 1 to 255 printable ASCII characters");
    return std::nullopt;
  }
  auto fingerprint = core::fingerprint_body(request.body);
  if (!fingerprint) {
    refuse(reply, core::api_error::invalid_json, "the body is not valid JSON");
    return std::nullopt;
  }
  return idempotency_key{
    core::idempotency_scope(principal, request.method_text, request.path, key), fingerprint.value};
}


std::optional<std::string> new_id(const api_context& context, core::id_kind kind,
                                  const responder& reply) {
  // The system clock's millisecond even when the context's clock is a test's: it only orders the
  // journal's index entries (core::make_id_at).
  auto id = core::make_id_at(kind, *context.random, static_cast<std::uint64_t>(system_now_ms()));
  if (!id)
    refuse(reply, core::api_error::internal, "the random source failed");
  return id;
}

} // namespace api_detail

namespace {

/// Adds each route to `routes`, its handler called with `context`.
api_detail::route_adder adder_for(net::route_table& routes, const api_context& context) {
  return [&routes, &context](net::http_method method, std::string_view pattern, api_detail::handler_fn fn,
                             std::uint32_t extra_wait_ms) {
    routes.add(
      method, pattern,
      [&context, fn](const net::http_request& request, const net::route_params& params,
                     net::responder reply) { fn(context, request, params, reply); },
      extra_wait_ms);
  };
}

} // namespace

void add_api_routes(net::route_table& routes, const api_context& context) {
  auto add = adder_for(routes, context);
  api_detail::add_spend_routes(add);
  if (context.catalog)
    api_detail::add_provisioning_routes(add);
}

void add_admin_api_routes(net::route_table& routes, const api_context& context) {
  api_detail::add_admin_spend_routes(adder_for(routes, context));
}

} // namespace steward::actors
