// The user actor's resource actions (docs/provisioning.md, "Resources"): reveal and export, which
// read sealed blobs from the vault and are audited, and rotation and deletion, which call the
// provider with a key derived from the agent's Idempotency-Key.

#include "actors/user.hpp"
#include "actors/user_internal.hpp"

#include "core/api_messages.hpp"
#include "core/hex.hpp"
#include "core/json_writer.hpp"
#include "core/provider_protocol.hpp"
#include "core/sealed_box.hpp"
#include "core/sha256.hpp"

namespace steward::actors {

namespace {

using action = resource_action_request::action;

/// 32 hex characters derived from the agent's idempotency scope: the provider's key of a rotation
/// or deletion (a retry with the agent's key sends the same one), and the suffix of a rotated
/// credential's vault reference.
std::string derived_key(const std::string& scope) {
  auto digest = core::sha256(scope);
  return core::to_hex(std::span<const std::uint8_t>(digest.data(), 16));
}

std::span<const std::uint8_t> bytes_of(const std::string& blob) {
  return {reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size()};
}

bool mutates(const resource_action_request& request) {
  return request.what == action::rotate || request.what == action::remove;
}

} // namespace

void user_state::execute_resource_action(user_actor self, resource_action_request& request) {
  const std::int64_t now = this->now();
  const std::string scope = mutates(request) ? request.idempotency.scope_key : std::string();
  auto refuse = [&](core::problem problem) {
    forget(scope);
    request.reply.respond(problem_reply(std::move(problem)));
  };
  auto found = ledger.resources.find(request.resource);
  if (found == ledger.resources.end()) {
    refuse(core::problem(core::api_error::not_found, "no such resource"));
    return;
  }
  const auto& resource = found->second;
  const std::uint64_t id = next_purchase++;

  if (!mutates(request)) {
    auto check = core::decide_reveal_resource(ledger, request.resource, request.session, now);
    if (auto* refused = std::get_if<core::decline>(&check)) {
      request.reply.respond(decline_reply(*refused));
      return;
    }
    std::optional<std::string> account_ref;
    if (request.what == action::exported)
      if (auto link = ledger.links.find(resource.provider); link != ledger.links.end())
        account_ref = link->second.vault_ref;
    const std::string credentials_ref = *resource.vault_ref;
    auto reply = request.reply;
    resource_actions.emplace(id, std::move(request));
    if (!read_vault(self, id, credentials_ref, account_ref)) {
      resource_actions.erase(id);
      reply.respond(overloaded_reply("too many journal reads are waiting"));
    }
    return;
  }

  if (resource.status != core::resource_status::ready || !resource.provider_id) {
    refuse(core::problem(core::api_error::resource_state_conflict,
                         "the resource is " + std::string(core::to_string(resource.status)) +
                           "; only a ready resource is rotated or deleted"));
    return;
  }
  const purchase_services* services = config.purchases;
  auto base = services ? services->base_urls.find(resource.provider)
                       : decltype(services->base_urls.end()){};
  auto link = ledger.links.find(resource.provider);
  if (services == nullptr || base == services->base_urls.end() || link == ledger.links.end()) {
    refuse(core::problem(core::api_error::provider_unavailable,
                         "this steward does not reach " + resource.provider));
    return;
  }
  auto token = account_tokens.find(resource.provider);
  if (token == account_tokens.end()) {
    // The account token is in the vault: read it, then run the action again.
    const std::string ref = link->second.vault_ref;
    auto reply = request.reply;
    resource_actions.emplace(id, std::move(request));
    if (!read_vault(self, id, ref)) {
      resource_actions.erase(id);
      forget(scope);
      reply.respond(overloaded_reply("too many journal reads are waiting"));
    }
    return;
  }
  auto call = provider_call(
    request.what == action::rotate ? net::http_method::post : net::http_method::delete_,
    base->second + "/resources/" + core::percent_encode(*resource.provider_id) +
      (request.what == action::rotate ? "/rotate" : ""),
    resource.provider);
  call.headers.emplace_back("Authorization", "Bearer " + token->second);
  call.idempotency_key = "steward-" + derived_key(scope);
  resource_actions.emplace(id, std::move(request));
  send_provider_call(*services->client, config.deliver, self, std::move(call),
                     action_answer_atom{}, id);
}

void user_state::on_resource_read(user_actor self, std::uint64_t id, vault_read read) {
  auto found = resource_actions.find(id);
  if (found == resource_actions.end())
    return;
  auto request = std::move(found->second);
  resource_actions.erase(found);
  const std::string scope = mutates(request) ? request.idempotency.scope_key : std::string();
  if (failing || read.failure) {
    forget(scope);
    request.reply.respond(overloaded_reply("the vault could not be read; retry"));
    maybe_stop(self);
    return;
  }
  const std::int64_t now = this->now();
  auto resource = ledger.resources.find(request.resource);
  auto link = resource == ledger.resources.end() ? ledger.links.end()
                                                 : ledger.links.find(resource->second.provider);
  auto open = [&](const std::optional<std::string>& blob, std::string_view owner)
    -> std::optional<std::string> {
    if (!blob)
      return std::nullopt;
    auto opened = config.purchases->vault->open(bytes_of(*blob),
                                                core::make_associated_data({config.user, owner}));
    if (!opened)
      return std::nullopt;
    return std::string(opened.plaintext.view());
  };

  if (mutates(request)) {
    auto token = link == ledger.links.end() ? std::nullopt : open(read.blob, link->second.id);
    if (!token) {
      forget(scope);
      request.reply.respond(provider_problem(core::api_error::internal,
                                             "the account token does not open"));
      return;
    }
    account_tokens[link->first] = std::move(*token);
    execute_resource_action(self, request);
    return;
  }

  auto check = core::decide_reveal_resource(ledger, request.resource, request.session, now);
  if (auto* refused = std::get_if<core::decline>(&check)) {
    request.reply.respond(decline_reply(*refused));
    return;
  }
  auto credentials = open(read.blob, request.resource);
  if (!credentials) {
    request.reply.respond(provider_problem(core::api_error::internal,
                                           "the resource's credentials do not open"));
    return;
  }
  std::string body;
  if (request.what == action::reveal) {
    body = resource_body(request.resource, resource->second, *credentials);
  } else {
    // Everything a human needs to take the account over at the provider, without steward.
    auto account_token = link == ledger.links.end() ? std::nullopt
                                                    : open(read.second, link->second.id);
    core::json_writer w(body);
    w.begin_object().member("object", "resource_export").key("resource").raw(
      resource_body(request.resource, resource->second, *credentials));
    w.key("account");
    if (link == ledger.links.end()) {
      w.null();
    } else {
      w.begin_object()
        .member("provider", std::string_view(link->first))
        .member("account_id", std::string_view(link->second.account_id))
        .member("outcome", core::to_string(link->second.outcome))
        .key("account_token");
      if (account_token)
        w.string(*account_token);
      else
        w.null();
      w.end_object();
    }
    w.member("how_to_claim",
             "sign in at the provider with the user's email (the account is keyed by it) or use "
             "account_token with the provider's API; the resource's provider_id names it there")
      .end_object();
  }
  auto& event = std::get<core::accepted>(check).event;
  core::apply_event(ledger, event);
  // The reveal is answered once its audit record is durable.
  finish(self, "", request.reply, ok(std::move(body)), {std::move(event)});
}

void user_state::on_action_answer(user_actor self, std::uint64_t id, provider_answer answer) {
  auto found = resource_actions.find(id);
  if (found == resource_actions.end())
    return;
  auto request = std::move(found->second);
  resource_actions.erase(found);
  const std::string& scope = request.idempotency.scope_key;
  if (failing) {
    forget(scope);
    request.reply.respond(overloaded_reply("the user's journal failed; retry"));
    maybe_stop(self);
    return;
  }
  const std::int64_t now = this->now();
  auto resource = ledger.resources.find(request.resource);
  if (resource == ledger.resources.end() ||
      resource->second.status != core::resource_status::ready) {
    // Another action finished first (a deletion raced a rotation).
    forget(scope);
    request.reply.respond(problem_reply(core::problem(core::api_error::resource_state_conflict,
                                                      "the resource changed meanwhile")));
    return;
  }
  const auto& provider = resource->second.provider;
  auto* response = std::get_if<net::client_response>(&answer.result);
  const bool removed =
    request.what == action::remove && response && (response->status == 200 ||
                                                   response->status == 204 ||
                                                   response->status == 404);
  std::optional<core::resource_answer> rotated;
  if (request.what == action::rotate && response && response->status == 200)
    rotated = core::read_resource_answer(response->body);

  if (!removed && !(rotated && !rotated->credentials.empty())) {
    forget(scope);
    if (in_doubt(answer.result))
      request.reply.respond(problem_reply(
        core::problem(core::api_error::provider_unavailable,
                      provider + " " + what_happened(answer.result) +
                        "; retry with the same Idempotency-Key (it is sent to the provider again)")
          .retry_after(1)));
    else
      request.reply.respond(provider_problem(core::api_error::provider_error,
                                             provider + " refused: it " +
                                               what_happened(answer.result)));
    return;
  }

  std::vector<core::ledger_event> events;
  auto decide = [&](core::decision decision) {
    if (auto* accepted = std::get_if<core::accepted>(&decision)) {
      core::apply_event(ledger, accepted->event);
      events.push_back(std::move(accepted->event));
    }
  };
  batch_extras extras;
  core::update_resource_command update;
  update.id = request.resource;
  std::string credentials;
  const std::optional<std::string> old_ref = resource->second.vault_ref;
  if (removed) {
    update.status = core::resource_status::removed;
    // Nothing may be charged for it any more.
    if (auto token = resource->second.token; token && ledger.tokens.contains(*token) &&
                                             !ledger.tokens.at(*token).revoked)
      decide(core::decide_revoke_token(ledger, *token, now));
    if (auto hold = resource->second.hold; hold && ledger.holds.contains(*hold))
      decide(core::decide_release_hold(ledger, *hold, now));
  } else {
    update.status = core::resource_status::ready;
    credentials = rotated->credentials;
    const std::string ref = request.resource + "." + derived_key(scope);
    auto sealed = config.purchases->vault->seal(
      credentials, core::make_associated_data({config.user, request.resource}),
      core::system_random);
    if (!sealed) {
      forget(scope);
      request.reply.respond(provider_problem(core::api_error::internal,
                                             "the new credentials could not be sealed"));
      return;
    }
    update.vault_ref = ref;
    extras.sealed.push_back(
      storage::sealed_entry{ref, config.user, std::string(sealed.blob.begin(), sealed.blob.end())});
  }
  if (old_ref)
    extras.unsealed.push_back(*old_ref);
  auto decision = core::decide_update_resource(ledger, update, now);
  if (auto* refused = std::get_if<core::decline>(&decision)) {
    forget(scope);
    request.reply.respond(decline_reply(*refused));
    return;
  }
  decide(std::move(decision));
  const auto& now_state = ledger.resources.at(request.resource);
  extras.stored_body = resource_body(request.resource, now_state, {});
  append(self, scope, request.reply, ok(resource_body(request.resource, now_state, credentials)),
         std::move(events), std::move(extras));
}

} // namespace steward::actors
