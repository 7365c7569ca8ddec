// The spend routes (DESIGN 4.2-4.4): the platform's users, sessions, limits, payment tokens,
// spend, audit and kills; the providers' signed charges and refunds; the agent's session and spend.

#include "actors/api_internal.hpp"
#include "core/api_messages.hpp"
#include "core/hash_chain.hpp"
#include "core/hmac_signature.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "core/secret_token.hpp"
#include "net/problem_response.hpp"

#include <utility>

namespace steward::actors::api_detail {

namespace {

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
  command.command.expires_at = core::session_expires_at(now_ms_of(context), body.ttl_seconds);
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

/// `POST` / `DELETE /v1/kill` once the caller is authorized, on either listener.
void change_kill(const api_context& context, const http_request& request, const responder& reply) {
  core::kill_request body;
  if (!decode_body(request, reply, body, core::decode_kill_request))
    return;
  const bool active = request.method == net::http_method::post;
  const std::int64_t now = now_of(context);
  core::kill_view view{body.scope, body.id, active, now};
  // The answer once the register made the change durable (and, for a kill, in force since the
  // call): the same for every scope.
  auto answer = [reply, view](bool durable) {
    if (!durable) {
      reply.respond(problem_reply(
        core::problem(core::api_error::overloaded,
                      view.active ? "the kill is in force but could not be made durable; retry"
                                  : "the kill could not be lifted; retry")
          .retry_after(1)));
      return;
    }
    http_response response;
    core::json_writer json(response.body);
    core::write_kill(json, view);
    reply.respond(std::move(response));
  };
  switch (body.scope) {
    case core::kill_scope::global:
    case core::kill_scope::provider: {
      if (body.scope == core::kill_scope::provider && !context.kills->knows(body.id)) {
        refuse(reply, core::api_error::not_found, "no such provider");
        return;
      }
      context.kills->change(body.id, active, now, std::move(answer));
      return;
    }
    case core::kill_scope::user:
    case core::kill_scope::session: {
      const bool session = body.scope == core::kill_scope::session;
      auto user = session ? context.aliases->find(make_alias_key(alias_key::session, body.id))
                          : context.aliases->find(make_alias_key(alias_key::user, body.id));
      if (!user) {
        refuse(reply, core::api_error::not_found, session ? "no such session" : "no such user");
        return;
      }
      // Durable in the kill register; the user actor then journals it in the user's stream (with
      // the kill.activated webhook), told before the answer leaves so that a request sent after
      // the answer finds its ledger agreeing (docs/spend-core.md, "Kill switch").
      context.kills->change_scoped(
        session ? actors::kill_switch::session_scope : actors::kill_switch::user_scope, body.id,
        active, now,
        [users = context.users, user = std::move(*user), session, view,
         answer = std::move(answer)](bool durable, std::uint64_t version) {
          if (durable)
            users->send(kill_user_request{user, session ? std::optional<std::string>(view.id)
                                                        : std::nullopt,
                                          view.active, net::responder{}, version});
          answer(durable);
        });
      return;
    }
  }
}

void kill(const api_context& context, const http_request& request, const route_params&,
          responder reply) {
  if (platform_authorized(context, request, reply))
    change_kill(context, request, reply);
}

void admin_kill(const api_context& context, const http_request& request, const route_params&,
                responder reply) {
  if (admin_authorized(context, request, reply))
    change_kill(context, request, reply);
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

} // namespace

void add_admin_spend_routes(const route_adder& add) {
  using net::http_method;
  add(http_method::post, "/v1/kill", admin_kill, 0);
  add(http_method::delete_, "/v1/kill", admin_kill, 0);
}

void add_spend_routes(const route_adder& add) {
  using net::http_method;
  add(http_method::put, "/v1/users/{platform_ref}", upsert_user, 0);
  add(http_method::post, "/v1/users/{id}/sessions", open_session, 0);
  add(http_method::put, "/v1/users/{id}/limits", set_limits, 0);
  add(http_method::put, "/v1/users/{id}/payment_method", set_payment_method, 0);
  add(http_method::post, "/v1/users/{id}/payment_tokens", create_payment_token, 0);
  add(http_method::get, "/v1/users/{id}/spend", user_spend, 0);
  add(http_method::get, "/v1/users/{id}/audit", audit_list, 0);
  add(http_method::get, "/v1/users/{id}/audit/verify", audit_verify, 0);
  add(http_method::post, "/v1/kill", kill, 0);
  add(http_method::delete_, "/v1/kill", kill, 0);
  add(http_method::post, "/v1/provider/charges", provider_charge, 0);
  add(http_method::post, "/v1/provider/charges/{id}/refunds", provider_refund, 0);
  add(http_method::get, "/v1/session", agent_session, 0);
  add(http_method::get, "/v1/spend", agent_spend, 0);
}

} // namespace steward::actors::api_detail
