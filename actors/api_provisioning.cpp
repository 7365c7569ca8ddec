// The provisioning routes (DESIGN 4.1, 4.2): the catalog, terms, approvals and their long-poll,
// provisioning and the agent's resources, the platform's export, and the OAuth callback.

#include "actors/api_internal.hpp"
#include "core/api_messages.hpp"
#include "core/catalog.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "core/provisioning.hpp"
#include "core/query_string.hpp"
#include "core/secret_token.hpp"
#include "net/problem_response.hpp"

#include <algorithm>
#include <utility>

namespace steward::actors::api_detail {

namespace {

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
  while (auto pair = core::next_query_pair(query)) {
    if (!core::percent_decode(pair->name, name, true) || name != "status")
      continue;
    if (pair->has_value && core::percent_decode(pair->value, value, true))
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
  if (!core::bearer_matches(request.header("Authorization"), context.platform_key)) {
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

void add_provisioning_routes(const route_adder& add) {
  using net::http_method;
  add(http_method::post, "/v1/users/{id}/terms/{provider}", accept_terms, 0);
  add(http_method::get, "/v1/users/{id}/approvals", list_approvals, 0);
  add(http_method::post, "/v1/approvals/{id}/approve", approve, 0);
  add(http_method::post, "/v1/approvals/{id}/deny", deny, 0);
  add(http_method::get, "/v1/approvals/{id}", get_approval,
      core::limits::approval_wait_seconds_max * 1000);
  add(http_method::get, "/v1/catalog", catalog_list, 0);
  add(http_method::get, "/v1/catalog/{provider}/{service}", catalog_service, 0);
  add(http_method::post, "/v1/resources", provision, 0);
  add(http_method::get, "/oauth/callback", oauth_callback, 0);
  add(http_method::get, "/v1/resources", list_resources, 0);
  add(http_method::get, "/v1/resources/{id}", list_resources, 0);
  add(http_method::post, "/v1/resources/{id}/credentials/reveal", reveal_resource, 0);
  add(http_method::post, "/v1/resources/{id}/rotate", rotate_resource, 0);
  add(http_method::delete_, "/v1/resources/{id}", delete_resource, 0);
  add(http_method::get, "/v1/users/{id}/resources/{rid}/export", export_resource, 0);
}

} // namespace steward::actors::api_detail
