#include "actors/api.hpp"

#include "core/api_messages.hpp"
#include "core/catalog.hpp"
#include "core/json_reader.hpp"
#include "core/provisioning.hpp"
#include "core/hmac_signature.hpp"
#include "core/idempotency.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "net/problem_response.hpp"
#include "core/secret_token.hpp"
#include "core/hash_chain.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>

namespace steward::actors {

namespace {

using net::http_request;
using net::http_response;
using net::responder;
using net::route_params;

constexpr std::string_view idempotency_header = "Idempotency-Key";
constexpr std::string_view provider_header = "Steward-Provider";

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

/// Whether the request carries the platform key; answers 401 when not.
bool platform_authorized(const api_context& context, const http_request& request,
                         const responder& reply) {
  auto bearer = core::parse_bearer(request.header("Authorization"));
  if (!bearer || !core::secrets_equal(bearer.token, context.platform_key)) {
    refuse(reply, core::api_error::unauthorized, "a valid platform key is required");
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

template <class Decoded, class Decoder>
bool decode_body(const http_request& request, const responder& reply, Decoded& out,
                 Decoder decoder) {
  if (auto error = decoder(request.body, out)) {
    reply.respond(problem_reply(core::problem(error)));
    return false;
  }
  return true;
}

std::optional<std::string> new_id(const api_context& context, core::id_kind kind,
                                  const responder& reply) {
  auto id = core::make_id(kind, *context.random);
  if (!id)
    refuse(reply, core::api_error::internal, "the random source failed");
  return id;
}

// --- Platform ---------------------------------------------------------------------------------

void upsert_user(const api_context& context, const http_request& request,
                 const route_params& params, responder reply) {
  if (!platform_authorized(context, request, reply))
    return;
  std::string ref;
  if (!core::percent_decode(params.get("platform_ref"), ref, false) ||
      !core::is_valid_platform_ref(ref)) {
    refuse(reply, core::api_error::invalid_field,
           "the platform ref must be 1 to 128 visible ASCII characters other than '/'");
    return;
  }
  core::user_upsert_request body;
  if (!decode_body(request, reply, body, core::decode_user_upsert_request))
    return;
  auto fresh = new_id(context, core::id_kind::user, reply);
  if (!fresh)
    return;
  // Concurrent first PUTs of one ref agree on the id that claimed it first.
  std::string user = context.aliases->claim(make_alias_key(alias_key::platform_ref, ref), *fresh);
  upsert_user_request command;
  command.user = std::move(user);
  command.command.platform_ref = std::move(ref);
  command.command.email = std::move(body.email);
  command.command.email_verified = body.email_verified;
  command.command.name = std::move(body.name);
  command.reply = reply;
  context.users->send(std::move(command));
}

void open_session(const api_context& context, const http_request& request,
                  const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  core::session_create_request body;
  if (!decode_body(request, reply, body, core::decode_session_create_request))
    return;
  auto id = new_id(context, core::id_kind::session, reply);
  if (!id)
    return;
  auto minted = core::mint_session_token(
    [&context](std::span<std::uint8_t> out) { return context.random->fill(out); });
  if (!minted) {
    refuse(reply, core::api_error::internal, "the random source failed");
    return;
  }
  open_session_request command;
  command.user = std::move(*user);
  command.command.id = std::move(*id);
  command.command.run_budget = body.run_budget;
  command.command.expires_at = now_of(context) + body.ttl_seconds;
  command.command.label = std::move(body.label);
  command.command.intent_domains = std::move(body.intent_domains);
  command.token = std::move(minted->token);
  command.token_hash = std::move(minted->hash);
  command.reply = reply;
  context.users->send(std::move(command));
}

void set_limits(const api_context& context, const http_request& request,
                const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  set_limits_request command;
  if (!decode_body(request, reply, command.limits, core::decode_limits_request))
    return;
  for (const auto& change : command.limits.providers)
    if (!configured_provider(context, change.provider, "/providers/" + change.provider, reply))
      return;
  command.user = std::move(*user);
  command.reply = reply;
  context.users->send(std::move(command));
}

void set_payment_method(const api_context& context, const http_request& request,
                        const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  core::payment_method_request body;
  if (!decode_body(request, reply, body, core::decode_payment_method_request))
    return;
  set_payment_method_request command;
  command.user = std::move(*user);
  command.command.psp = std::move(body.psp);
  command.command.reference = std::move(body.reference);
  command.command.last4 = std::move(body.last4);
  command.command.brand = std::move(body.brand);
  command.reply = reply;
  context.users->send(std::move(command));
}

void create_payment_token(const api_context& context, const http_request& request,
                          const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  auto key = idempotency_of("platform", request, reply);
  if (!key)
    return;
  core::payment_token_create_request body;
  if (!decode_body(request, reply, body, core::decode_payment_token_create_request))
    return;
  if (!configured_provider(context, body.provider, "/provider", reply))
    return;
  auto id = new_id(context, core::id_kind::payment_token, reply);
  if (!id)
    return;
  create_token_request command;
  command.user = std::move(*user);
  command.command.id = std::move(*id);
  command.command.provider = std::move(body.provider);
  command.command.max_amount = body.max_amount;
  command.command.expires_at = body.expires_at;
  command.command.single_use = body.single_use;
  command.command.session = std::move(body.session);
  command.idempotency = std::move(*key);
  command.reply = reply;
  context.users->send(std::move(command));
}

void user_spend(const api_context& context, const http_request& request,
                const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  context.users->send(spend_request{std::move(*user), reply});
}

void audit_list(const api_context& context, const http_request& request,
                const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  auto limit =
    core::query_number(request.query, "limit", core::page_limit_default, core::page_limit_max);
  auto after = core::query_number(request.query, "starting_after", 0, std::uint64_t(1) << 62);
  if (!limit || *limit == 0 || !after) {
    refuse(reply, core::api_error::invalid_field,
           "limit must be 1 to 100 and starting_after an event seq");
    return;
  }
  auto job = [journal = context.journal, user = std::move(*user), limit = *limit, after = *after,
              reply] {
    auto page = journal->read_stream(user, after + 1, static_cast<std::uint32_t>(limit + 1));
    if (!page) {
      refuse(reply,
             page.error() == storage::journal_error::corrupt ? core::api_error::internal
                                                              : core::api_error::overloaded,
             "the journal could not be read");
      return;
    }
    const auto& events = page.value();
    const bool has_more = events.size() > limit;
    http_response response;
    core::json_writer json(response.body);
    json.begin_object().member("object", std::string_view("list"));
    json.key("data").begin_array();
    for (std::size_t i = 0; i < events.size() && i < limit; ++i) {
      const auto& event = events[i];
      json.begin_object()
        .member("object", std::string_view("event"))
        .member("seq", event.seq)
        .member("type", std::string_view(event.type))
        .member("created", event.created_at)
        .member("hash", std::string_view(core::chain_hash_to_hex(event.hash)));
      json.key("data").raw(event.payload);
      json.end_object();
    }
    json.end_array().member("has_more", has_more).end_object();
    reply.respond(std::move(response));
  };
  post_read(context, reply, std::move(job));
}

void audit_verify(const api_context& context, const http_request& request,
                  const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  auto job = [journal = context.journal, user = std::move(*user), reply] {
    auto verdict = journal->verify_stream(user);
    if (!verdict) {
      refuse(reply, core::api_error::overloaded, "the journal could not be read");
      return;
    }
    http_response response;
    core::json_writer json(response.body);
    json.begin_object()
      .member("object", std::string_view("audit_verification"))
      .member("valid", verdict.value().valid)
      .member("events", verdict.value().events);
    if (verdict.value().first_bad_seq)
      json.member("first_bad_seq", *verdict.value().first_bad_seq);
    json.end_object();
    reply.respond(std::move(response));
  };
  post_read(context, reply, std::move(job));
}

void kill(const api_context& context, const http_request& request, const route_params&,
          responder reply) {
  if (!platform_authorized(context, request, reply))
    return;
  core::kill_request body;
  if (!decode_body(request, reply, body, core::decode_kill_request))
    return;
  const bool active = request.method == net::http_method::post;
  const std::int64_t now = now_of(context);
  switch (body.scope) {
    case core::kill_scope::global:
    case core::kill_scope::provider: {
      if (body.scope == core::kill_scope::provider && !context.kills->knows(body.id)) {
        refuse(reply, core::api_error::not_found, "no such provider");
        return;
      }
      core::kill_view view{body.scope, body.id, active, now};
      context.kills->change(body.id, active, now, [reply, view](bool durable) {
        if (!durable) {
          reply.respond(problem_reply(
            core::problem(core::api_error::overloaded,
                          view.active ? "the kill is in force but could not be journaled; retry"
                                      : "the kill could not be lifted; retry")
              .retry_after(1)));
          return;
        }
        http_response response;
        core::json_writer json(response.body);
        core::write_kill(json, view);
        reply.respond(std::move(response));
      });
      return;
    }
    case core::kill_scope::user: {
      if (!context.aliases->find(make_alias_key(alias_key::user, body.id))) {
        refuse(reply, core::api_error::not_found, "no such user");
        return;
      }
      context.users->send(kill_user_request{body.id, std::nullopt, active, reply});
      return;
    }
    case core::kill_scope::session: {
      auto user = context.aliases->find(make_alias_key(alias_key::session, body.id));
      if (!user) {
        refuse(reply, core::api_error::not_found, "no such session");
        return;
      }
      context.users->send(kill_user_request{std::move(*user), body.id, active, reply});
      return;
    }
  }
}

// --- Provider ---------------------------------------------------------------------------------

void provider_charge(const api_context& context, const http_request& request,
                     const route_params&, responder reply) {
  auto provider = provider_authorized(context, request, reply);
  if (!provider)
    return;
  // Read here without an actor hop, and again by the user actor when it decides.
  if (context.kills->refuses(*provider)) {
    refuse(reply, core::api_error::killed, "spending with this provider is stopped");
    return;
  }
  auto key = idempotency_of("provider:" + *provider, request, reply);
  if (!key)
    return;
  core::charge_request body;
  if (!decode_body(request, reply, body, core::decode_charge_request))
    return;
  auto user = context.aliases->find(make_alias_key(alias_key::payment_token, body.payment_token));
  if (!user) {
    refuse(reply, core::api_error::not_found, "no such payment token");
    return;
  }
  auto id = new_id(context, core::id_kind::charge, reply);
  if (!id)
    return;
  charge_request command;
  command.user = std::move(*user);
  command.command.id = std::move(*id);
  command.command.token = std::move(body.payment_token);
  command.command.provider = std::move(*provider);
  command.command.amount = body.amount;
  command.command.description = std::move(body.description);
  command.idempotency = std::move(*key);
  command.reply = reply;
  context.users->send(std::move(command));
}

void provider_refund(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  auto provider = provider_authorized(context, request, reply);
  if (!provider)
    return;
  std::string_view charge = params.get("id");
  if (!core::is_valid(core::id_kind::charge, charge)) {
    refuse(reply, core::api_error::not_found, "no such charge");
    return;
  }
  auto key = idempotency_of("provider:" + *provider, request, reply);
  if (!key)
    return;
  core::refund_request body;
  if (!decode_body(request, reply, body, core::decode_refund_request))
    return;
  auto id = new_id(context, core::id_kind::refund, reply);
  if (!id)
    return;
  refund_request command;
  command.command.id = std::move(*id);
  command.command.charge = std::string(charge);
  command.command.provider = std::move(*provider);
  command.command.amount.amount = body.amount;
  command.idempotency = std::move(*key);
  command.reply = reply;
  // Which user a charge belongs to is journaled, not held in memory: refunds are rare, charges
  // are not. The lookup runs on the loader pool.
  auto job = [journal = context.journal, users = context.users,
              command = std::move(command)]() mutable {
    auto user = journal->find_alias(make_alias_key(alias_key::charge, command.command.charge));
    if (!user) {
      refuse(command.reply, core::api_error::overloaded, "the journal could not be read; retry");
      return;
    }
    if (!user.value()) {
      refuse(command.reply, core::api_error::not_found, "no such charge");
      return;
    }
    command.user = std::move(*user.value());
    users->send(std::move(command));
  };
  post_read(context, reply, std::move(job));
}

// --- Agent (session token) --------------------------------------------------------------------

void agent_session(const api_context& context, const http_request& request, const route_params&,
                   responder reply) {
  auto principal = session_authorized(context, request, reply);
  if (!principal)
    return;
  context.users->send(get_session_request{principal->first, principal->second, reply});
}

void agent_spend(const api_context& context, const http_request& request, const route_params&,
                 responder reply) {
  auto principal = session_authorized(context, request, reply);
  if (!principal)
    return;
  context.users->send(spend_request{principal->first, reply, principal->second});
}

// --- Catalog (session token or platform key) ----------------------------------------------------

/// Whether the request carries the platform key or a known session token; answers 401 when not.
/// The catalog is the same for every principal, so who reads it does not matter beyond that.
bool catalog_reader(const api_context& context, const http_request& request,
                    const responder& reply) {
  auto bearer = core::parse_bearer(request.header("Authorization"));
  if (bearer && core::secrets_equal(bearer.token, context.platform_key))
    return true;
  if (bearer && core::is_session_token(bearer.token) &&
      context.aliases->find(make_alias_key(alias_key::session_token, core::hash_token(bearer.token))))
    return true;
  refuse(reply, core::api_error::unauthorized, "a session token or the platform key is required");
  return false;
}

/// Answers `body` with a strong ETag, or 304 when the client's If-None-Match has it already.
void respond_cached(const http_request& request, const responder& reply, std::string body) {
  auto etag = core::strong_etag(body);
  http_response response;
  if (core::if_none_match(request.header("If-None-Match"), etag))
    response.status = 304;
  else
    response.body = std::move(body);
  response.headers.emplace_back("ETag", std::move(etag));
  // Catalogs change when providers change them (minutes); a minute of staleness is harmless, and
  // revalidation is a 304.
  response.headers.emplace_back("Cache-Control", "private, max-age=60");
  reply.respond(std::move(response));
}

void catalog_list(const api_context& context, const http_request& request, const route_params&,
                  responder reply) {
  if (!catalog_reader(context, request, reply))
    return;
  core::catalog_query query;
  if (auto error = core::parse_catalog_query(request.query, query)) {
    reply.respond(problem_reply(core::problem(error)));
    return;
  }
  auto view = context.catalog->current();
  respond_cached(request, reply, core::catalog_list_json(view->catalogs, query));
}

/// A service that is not in the catalog: 404, unless its provider is configured and its catalog
/// has not been fetched yet (stewardd just started, or the provider has not answered since) —
/// then 503 with Retry-After, so that an agent retries instead of concluding that the service,
/// or the purchase its key names, does not exist.
void refuse_missing_service(const responder& reply, const catalog_board::view& view,
                            std::string_view provider) {
  if (!view.find(provider) && view.configured(provider)) {
    reply.respond(problem_reply(
      core::problem(core::api_error::provider_unavailable,
                    "the catalog of " + std::string(provider) +
                      " has not been fetched yet; retry shortly")
        .member("reason", "catalog_not_loaded")
        .retry_after(1)));
    return;
  }
  refuse(reply, core::api_error::not_found, "no such service in the catalog (GET /v1/catalog)");
}

void catalog_service(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  if (!catalog_reader(context, request, reply))
    return;
  std::string service;
  auto view = context.catalog->current();
  const auto* catalog = view->find(params.get("provider"));
  const core::catalog_service* found = nullptr;
  if (catalog && core::percent_decode(params.get("service"), service, false))
    found = catalog->find(service);
  if (!found) {
    refuse_missing_service(reply, *view, params.get("provider"));
    return;
  }
  std::string body;
  core::json_writer w(body);
  core::write_catalog_service(w, *catalog, *found, true);
  respond_cached(request, reply, std::move(body));
}

// --- Provisioning: terms, approvals, resources ---------------------------------------------------

void accept_terms(const api_context& context, const http_request& request,
                  const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  std::string provider(params.get("provider"));
  if (!context.provider_secrets.contains(provider)) {
    refuse(reply, core::api_error::not_found, "no such provider");
    return;
  }
  accept_terms_request command;
  auto error = core::decode(request.body, [&](core::object_reader& o) {
    o.required("version", command.command.version, core::limits::terms_version_bytes_max);
    o.required("accepted_by", command.command.accepted_by, core::limits::accepted_by_bytes_max);
  });
  if (error) {
    reply.respond(problem_reply(core::problem(error)));
    return;
  }
  command.user = std::move(*user);
  command.command.provider = std::move(provider);
  command.reply = reply;
  context.users->send(std::move(command));
}

void list_approvals(const api_context& context, const http_request& request,
                    const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  list_approvals_request command;
  if (auto error = core::parse_page_query(request.query, core::id_kind::approval, command.page)) {
    reply.respond(problem_reply(core::problem(error)));
    return;
  }
  // `status` (pending, approved, denied, expired, used); absent lists every approval.
  std::string_view query = request.query;
  std::string name;
  std::string value;
  while (!query.empty()) {
    auto const end = query.find('&');
    std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    auto const equals = pair.find('=');
    if (!core::percent_decode(pair.substr(0, equals), name, true) || name != "status")
      continue;
    if (equals != std::string_view::npos &&
        core::percent_decode(pair.substr(equals + 1), value, true))
      command.status = core::parse_approval_status(value);
    if (!command.status) {
      reply.respond(problem_reply(
        core::problem(core::api_error::invalid_field,
                      "status must be pending, approved, denied, expired or used")
          .member("field", "/status")));
      return;
    }
  }
  command.user = std::move(*user);
  command.reply = reply;
  context.users->send(std::move(command));
}

/// The user of approval `{id}`; answers 404 when there is none.
std::optional<std::string> approval_user(const api_context& context, const route_params& params,
                                         const responder& reply) {
  std::string_view id = params.get("id");
  if (core::is_valid(core::id_kind::approval, id))
    if (auto user = context.aliases->find(make_alias_key(alias_key::approval, id)))
      return user;
  refuse(reply, core::api_error::not_found, "no such approval");
  return std::nullopt;
}

void decide_approval(const api_context& context, const http_request& request,
                     const route_params& params, responder reply, bool approved) {
  if (!platform_authorized(context, request, reply))
    return;
  auto user = approval_user(context, params, reply);
  if (!user)
    return;
  core::approval_decision_request body;
  if (!decode_body(request, reply, body, core::decode_approval_decision_request))
    return;
  decide_approval_request command;
  command.user = std::move(*user);
  command.command.id = std::string(params.get("id"));
  command.command.approved = approved;
  command.command.decided_by = std::move(body.decided_by);
  if (!body.note.empty())
    command.command.note = std::move(body.note);
  command.reply = reply;
  context.users->send(std::move(command));
}

void approve(const api_context& context, const http_request& request, const route_params& params,
             responder reply) {
  decide_approval(context, request, params, std::move(reply), true);
}

void deny(const api_context& context, const http_request& request, const route_params& params,
          responder reply) {
  decide_approval(context, request, params, std::move(reply), false);
}

void get_approval(const api_context& context, const http_request& request,
                  const route_params& params, responder reply) {
  // The platform sees every approval of the user; an agent only those of its own session.
  get_approval_request command;
  auto bearer = core::parse_bearer(request.header("Authorization"));
  if (!(bearer && core::secrets_equal(bearer.token, context.platform_key))) {
    auto principal = session_authorized(context, request, reply);
    if (!principal)
      return;
    command.session = principal->second;
  }
  auto user = approval_user(context, params, reply);
  if (!user)
    return;
  auto wait = core::query_number(request.query, "wait", 0, 3600);
  if (!wait) {
    refuse(reply, core::api_error::invalid_field, "wait must be a number of seconds");
    return;
  }
  command.user = std::move(*user);
  command.approval = std::string(params.get("id"));
  command.wait_seconds = static_cast<std::uint32_t>(
    std::min<std::uint64_t>(*wait, core::limits::approval_wait_seconds_max));
  command.reply = reply;
  context.users->send(std::move(command));
}

void provision(const api_context& context, const http_request& request, const route_params&,
               responder reply) {
  auto principal = session_authorized(context, request, reply);
  if (!principal)
    return;
  auto key = idempotency_of("session:" + principal->second, request, reply);
  if (!key)
    return;
  provision_resource_request command;
  if (!decode_body(request, reply, command.request, core::decode_provision_request))
    return;
  auto ids = core::split_service_id(command.request.service);
  auto view = context.catalog->current();
  const core::provider_catalog* catalog = view->find(ids->first);
  const core::catalog_service* service = catalog ? catalog->find(ids->second) : nullptr;
  if (!service) {
    refuse_missing_service(reply, *view, ids->first);
    return;
  }
  // The ids the actor may need: a gate's approval, or the purchase's objects.
  std::optional<std::string> approval, resource, token, hold, link;
  for (auto [kind, out] : {std::pair{core::id_kind::approval, &approval},
                           std::pair{core::id_kind::resource, &resource},
                           std::pair{core::id_kind::payment_token, &token},
                           std::pair{core::id_kind::hold, &hold},
                           std::pair{core::id_kind::link, &link}})
    if (!(*out = new_id(context, kind, reply)))
      return;
  command.purchase = {std::move(*resource), std::move(*token), std::move(*hold)};
  command.link_id = std::move(*link);
  command.user = std::move(principal->first);
  command.session = std::move(principal->second);
  command.catalog = std::shared_ptr<const core::provider_catalog>(view, catalog);
  command.service = service;
  command.approval_id = std::move(*approval);
  command.idempotency = std::move(*key);
  command.reply = reply;
  context.users->send(std::move(command));
}

/// `GET /v1/resources` and `GET /v1/resources/{id}`: the agent's user's resources.
void list_resources(const api_context& context, const http_request& request,
                    const route_params& params, responder reply) {
  auto principal = session_authorized(context, request, reply);
  if (!principal)
    return;
  list_resources_request command;
  std::string_view id = params.get("id");
  if (!id.empty()) {
    if (!core::is_valid(core::id_kind::resource, id)) {
      refuse(reply, core::api_error::not_found, "no such resource");
      return;
    }
    command.resource = std::string(id);
  } else if (auto error = core::parse_page_query(request.query, core::id_kind::resource,
                                                 command.page)) {
    reply.respond(problem_reply(core::problem(error)));
    return;
  }
  command.user = std::move(principal->first);
  command.reply = reply;
  context.users->send(std::move(command));
}

/// The `{id}` (agent routes) or `{rid}` (export) path segment as a resource id; 404 otherwise.
std::optional<std::string> resource_of(const route_params& params, std::string_view name,
                                       const responder& reply) {
  std::string_view id = params.get(name);
  if (!core::is_valid(core::id_kind::resource, id)) {
    refuse(reply, core::api_error::not_found, "no such resource");
    return std::nullopt;
  }
  return std::string(id);
}

/// Reveal, rotate and delete, by the agent: rotate and delete need an Idempotency-Key.
void agent_resource_action(const api_context& context, const http_request& request,
                           const route_params& params, responder reply,
                           resource_action_request::action what) {
  auto principal = session_authorized(context, request, reply);
  if (!principal)
    return;
  resource_action_request command;
  command.what = what;
  if (what != resource_action_request::action::reveal) {
    auto key = idempotency_of("session:" + principal->second, request, reply);
    if (!key)
      return;
    command.idempotency = std::move(*key);
  }
  auto resource = resource_of(params, "id", reply);
  if (!resource)
    return;
  command.user = std::move(principal->first);
  command.session = std::move(principal->second);
  command.resource = std::move(*resource);
  command.reply = reply;
  context.users->send(std::move(command));
}

void reveal_resource(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  agent_resource_action(context, request, params, std::move(reply),
                        resource_action_request::action::reveal);
}

void rotate_resource(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  agent_resource_action(context, request, params, std::move(reply),
                        resource_action_request::action::rotate);
}

void delete_resource(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  agent_resource_action(context, request, params, std::move(reply),
                        resource_action_request::action::remove);
}

/// `GET /v1/users/{id}/resources/{rid}/export` (platform): everything to claim it, audited.
void export_resource(const api_context& context, const http_request& request,
                     const route_params& params, responder reply) {
  auto user = platform_user(context, request, params, reply);
  if (!user)
    return;
  auto resource = resource_of(params, "rid", reply);
  if (!resource)
    return;
  resource_action_request command;
  command.what = resource_action_request::action::exported;
  command.user = std::move(*user);
  command.resource = std::move(*resource);
  command.reply = reply;
  context.users->send(std::move(command));
}

/// `GET /oauth/callback?code&state`: the human's browser back from a provider's consent page.
/// No credentials: the state names the account_link approval, and only steward can finish the
/// exchange (it alone knows the PKCE verifier). Answers are short plain-text pages.
void oauth_callback(const api_context& context, const http_request& request, const route_params&,
                    responder reply) {
  auto callback = core::read_oauth_callback(request.query);
  std::optional<std::string> user;
  if (callback && core::is_valid(core::id_kind::approval, callback->state))
    user = context.aliases->find(make_alias_key(alias_key::approval, callback->state));
  if (!user) {
    net::http_response page;
    page.status = 400;
    page.content_type = "text/plain; charset=utf-8";
    page.body = "This link request is unknown to steward.\n";
    reply.respond(std::move(page));
    return;
  }
  auto link = new_id(context, core::id_kind::link, reply);
  if (!link)
    return;
  oauth_callback_request command;
  command.user = std::move(*user);
  command.approval = std::move(callback->state);
  command.code = std::move(callback->code);
  command.error = std::move(callback->error);
  command.link_id = std::move(*link);
  command.reply = reply;
  context.users->send(std::move(command));
}

} // namespace

void add_api_routes(net::route_table& routes, const api_context& context) {
  using handler_fn = void (*)(const api_context&, const http_request&, const route_params&,
                              responder);
  auto add = [&](net::http_method method, std::string_view pattern, handler_fn fn,
                 std::uint32_t extra_wait_ms = 0) {
    routes.add(
      method, pattern,
      [&context, fn](const http_request& request, const route_params& params, responder reply) {
        fn(context, request, params, reply);
      },
      extra_wait_ms);
  };
  using net::http_method;
  add(http_method::put, "/v1/users/{platform_ref}", upsert_user);
  add(http_method::post, "/v1/users/{id}/sessions", open_session);
  add(http_method::put, "/v1/users/{id}/limits", set_limits);
  add(http_method::put, "/v1/users/{id}/payment_method", set_payment_method);
  add(http_method::post, "/v1/users/{id}/payment_tokens", create_payment_token);
  add(http_method::get, "/v1/users/{id}/spend", user_spend);
  add(http_method::get, "/v1/users/{id}/audit", audit_list);
  add(http_method::get, "/v1/users/{id}/audit/verify", audit_verify);
  add(http_method::post, "/v1/kill", kill);
  add(http_method::delete_, "/v1/kill", kill);
  add(http_method::post, "/v1/provider/charges", provider_charge);
  add(http_method::post, "/v1/provider/charges/{id}/refunds", provider_refund);
  add(http_method::get, "/v1/session", agent_session);
  add(http_method::get, "/v1/spend", agent_spend);
  add(http_method::post, "/v1/users/{id}/terms/{provider}", accept_terms);
  add(http_method::get, "/v1/users/{id}/approvals", list_approvals);
  add(http_method::post, "/v1/approvals/{id}/approve", approve);
  add(http_method::post, "/v1/approvals/{id}/deny", deny);
  add(http_method::get, "/v1/approvals/{id}", get_approval,
      core::limits::approval_wait_seconds_max * 1000);
  if (context.catalog) {
    add(http_method::get, "/v1/catalog", catalog_list);
    add(http_method::get, "/v1/catalog/{provider}/{service}", catalog_service);
    add(http_method::post, "/v1/resources", provision);
    add(http_method::get, "/oauth/callback", oauth_callback);
    add(http_method::get, "/v1/resources", list_resources);
    add(http_method::get, "/v1/resources/{id}", list_resources);
    add(http_method::post, "/v1/resources/{id}/credentials/reveal", reveal_resource);
    add(http_method::post, "/v1/resources/{id}/rotate", rotate_resource);
    add(http_method::delete_, "/v1/resources/{id}", delete_resource);
    add(http_method::get, "/v1/users/{id}/resources/{rid}/export", export_resource);
  }
}

} // namespace steward::actors
