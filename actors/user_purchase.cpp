// The user actor's purchase (docs/provisioning.md, "The purchase"): what follows the last check of
// `POST /v1/resources`, and the OAuth callback that links an existing account.
//
//   1. No account at the provider yet: attest the user's identity (`POST {base}/accounts`).
//      `created`: the account token is sealed into the vault with `link.created`, then the
//      request runs again from its preflight. `oauth_required`: an `account_link` approval carries
//      the authorize URL with steward's state and PKCE challenge; `/oauth/callback` completes it.
//   2. Linked, the account token at hand (read from the vault once per activation): one batch with
//      the scoped payment token, the hold of the price, `resource.requested` and `approval.used`.
//   3. Once that batch is durable, and only then, `POST {base}/resources` with the resource's own
//      Idempotency-Key. The provider charges the token; the charge settles the hold.
//   4. The answer: `ready` — credentials sealed, the 201 shows them this once and the stored
//      outcome does not; a refusal — the resource failed, its hold released and its token revoked;
//      in doubt (a timeout, a 5xx, a lost connection) — the resource is `unknown`, the agent gets
//      202, and the same order is sent again with the same key until the provider answers. A new
//      purchase is never made for an answer in doubt.

#include "actors/user.hpp"
#include "actors/user_internal.hpp"
#include "actors/webhook_events.hpp"

#include "core/attestation.hpp"
#include "core/json_writer.hpp"
#include "core/provider_protocol.hpp"
#include "core/sealed_box.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <chrono>

namespace steward::actors {

namespace {

/// The vault reference of a purchase's sealed order.
std::string order_vault_ref(const std::string& resource) {
  return resource + ".order";
}

/// The purchase a provider's answer belongs to, or null: when it is gone (answered, failed), or
/// when the user's journal failed, in which case the purchase is answered 503 and the actor may
/// stop.
purchase_flow* answered_purchase(user_state& state, user_actor self, std::uint64_t id) {
  auto found = state.purchases.find(id);
  if (found == state.purchases.end())
    return nullptr;
  if (state.failing) {
    state.end_purchase(id, overloaded_reply("the user's journal failed; retry"));
    state.maybe_stop(self);
    return nullptr;
  }
  return &found->second;
}

storage::outbox_entry resource_webhook(const std::string& user, std::string_view type,
                                       const std::string& id, const core::resource_state& resource,
                                       std::int64_t now) {
  storage::outbox_entry entry;
  entry.id = derived_event_id(user + "/" + std::string(type) + "/" + id + "/" +
                              std::to_string(resource.updated));
  entry.stream = user;
  entry.type = std::string(type);
  core::json_writer w(entry.payload);
  w.begin_object().member("user", std::string_view(user)).key("resource");
  core::write_resource(w, id, resource);
  w.end_object();
  entry.created_at = now;
  return entry;
}

} // namespace

void user_state::end_purchase(std::uint64_t id, net::http_response response) {
  auto found = purchases.find(id);
  if (found == purchases.end())
    return;
  auto& flow = found->second;
  if (flow.request.reply.valid()) {
    if (!flow.outcome_stored)
      forget(flow.key.scope_key);
    flow.request.reply.respond(std::move(response));
  }
  purchases.erase(found);
}

void user_state::start_purchase(user_actor self, provision_resource_request& request,
                                const idempotency_key& key) {
  const std::int64_t now = this->now();
  const auto& provider = request.catalog->provider;
  const purchase_services* services = config.purchases;
  auto base = services ? services->base_urls.find(provider) : decltype(services->base_urls.end()){};
  if (services == nullptr || services->client == nullptr || base == services->base_urls.end()) {
    forget(key.scope_key);
    request.reply.respond(provider_problem(core::api_error::provider_unavailable,
                                           "this steward does not buy from " + provider));
    return;
  }
  if (purchases.size() >= core::limits::user_purchases_in_flight_max) {
    forget(key.scope_key);
    request.reply.respond(overloaded_reply("too many purchases of this user wait for providers"));
    return;
  }
  // Backpressure: a provider with too many purchases in flight gets no new one; nothing is
  // written or sent, and the agent retries with the same key.
  provider_gate::ticket ticket;
  if (services->gate != nullptr &&
      services->gate->try_enter(provider, ticket) == provider_gate::admission::full) {
    forget(key.scope_key);
    request.reply.respond(problem_reply(
      core::problem(core::api_error::provider_unavailable,
                    provider + " has " + std::to_string(services->gate->max()) +
                      " purchases in flight already; nothing was bought, retry shortly")
        .member("reason", "provider_busy")
        .retry_after(1)));
    return;
  }
  const std::uint64_t id = next_purchase++;
  purchase_flow flow;
  flow.key = key;
  flow.provider = provider;
  flow.gate_ticket = std::move(ticket);

  if (auto link = ledger.links.find(provider); link != ledger.links.end()) {
    if (account_tokens.contains(provider)) {
      // Every check passed just now, on this state: decide the purchase's first batch.
      auto preflight = core::run_preflight(ledger, request.session, *request.catalog,
                                           *request.service, request.request, now,
                                           core::limits::purchase_confirmation_above_default);
      auto planned = core::plan_purchase(ledger, request.session, *request.catalog,
                                         *request.service, request.request, preflight,
                                         request.purchase, now);
      if (auto* refused = std::get_if<core::decline>(&planned)) {
        forget(key.scope_key);
        request.reply.respond(decline_reply(*refused));
        return;
      }
      auto& plan = std::get<core::purchase_plan>(planned);
      for (const auto& event : plan.events)
        core::apply_event(ledger, event);
      flow.at = purchase_flow::stage::placing;
      flow.resource = request.purchase.resource;
      flow.order = std::move(plan.order);
      flow.provider_key = std::move(plan.provider_key);
      batch_extras extras;
      if (plan.token)
        extras.aliases.push_back(make_alias(alias_key::payment_token, plan.token->id, config.user));
      // The order is kept with the resource until its outcome is known, so that an activation
      // after a crash can send it again with the same key.
      const std::string order_ref = order_vault_ref(flow.resource);
      auto sealed = config.purchases->vault->seal(
        flow.order, core::make_associated_data({config.user, order_ref}), core::system_random);
      if (sealed)
        extras.sealed.push_back(storage::sealed_entry{
          order_ref, config.user, std::string(sealed.blob.begin(), sealed.blob.end())});
      extras.purchase = id;
      // The key's outcome is stored with the first batch: whatever happens to this process, a
      // retry with the key finds the resource it bought and never buys again. The live request
      // gets the purchase's own answer later; a replay gets this 202.
      std::string accepted;
      {
        core::json_writer w(accepted);
        w.begin_object().member("status", "pending").key("resource");
        core::write_resource(w, flow.resource, ledger.resources.at(flow.resource));
        w.key("next_steps").begin_array();
        w.string("this request bought " + flow.resource +
                 " once; follow it: GET /v1/resources/" + flow.resource);
        w.end_array().end_object();
      }
      flow.outcome_stored = true;
      const std::string scope = key.scope_key;
      flow.request = std::move(request);
      purchases.emplace(id, std::move(flow));
      append(self, scope, net::responder{}, ok(std::move(accepted), 202), std::move(plan.events),
             std::move(extras));
      arm_expiry(self);
      return;
    }
    // The account token is in the vault: read it on the loader pool, then run the request again.
    flow.at = purchase_flow::stage::token;
    flow.request = std::move(request);
    purchases.emplace(id, std::move(flow));
    if (!read_vault(self, id, link->second.vault_ref))
      end_purchase(id, overloaded_reply("too many journal reads are waiting"));
    return;
  }

  // A link the human has not completed yet: the same gate again, without asking the provider.
  for (const auto& [approval_id, approval] : ledger.approvals)
    if (approval.kind == core::approval_kind::account_link && approval.provider == provider &&
        approval.session == request.session &&
        core::status_at(approval, now) == core::approval_status::pending) {
      forget(key.scope_key);
      request.reply.respond(ok(requires_human_body(approval_id, approval, now), 202));
      return;
    }

  // One account per provider: while another purchase of this user is opening it, this one
  // waits for that answer rather than attesting the human a second time (which a provider would
  // answer with a second account, or with `oauth_required` for the account just made).
  for (const auto& [other_id, other] : purchases)
    if (other.provider == provider && other.at == purchase_flow::stage::account) {
      forget(key.scope_key);
      request.reply.respond(problem_reply(
        core::problem(core::api_error::provider_unavailable,
                      "this user's account at " + provider +
                        " is being opened by another request; retry shortly")
          .member("reason", "account_opening")
          .retry_after(1)));
      return;
    }

  // No account at this provider yet: attest who the human is (DESIGN 5).
  if (!ledger.profile || services->signer == nullptr || services->random == nullptr ||
      !services->issuer) {
    forget(key.scope_key);
    request.reply.respond(provider_problem(core::api_error::internal,
                                           "steward cannot attest this user's identity"));
    return;
  }
  core::attestation_request claims;
  const std::string issuer = services->issuer();
  claims.issuer = issuer;
  claims.user_id = config.user;
  claims.audience = provider;
  claims.email = ledger.profile->email;
  claims.email_verified = ledger.profile->email_verified;
  const std::string name = ledger.profile->name.value_or(std::string());
  claims.name = name;
  core::minted_attestation minted;
  if (auto error = core::make_attestation(claims, *services->signer, now, *services->random, minted);
      error != core::attestation_error::none) {
    forget(key.scope_key);
    request.reply.respond(provider_problem(
      core::api_error::internal,
      "the attestation could not be made: " + std::string(core::describe(error))));
    return;
  }
  auto call = provider_call(net::http_method::post, base->second + "/accounts", provider);
  call.headers.emplace_back("Content-Type", "application/json");
  call.body = core::account_request_body(minted.token);
  flow.at = purchase_flow::stage::account;
  flow.request = std::move(request);
  purchases.emplace(id, std::move(flow));
  send_provider_call(*services->client, config.deliver, self, std::move(call),
                     account_answer_atom{}, id);
}

void user_state::on_account_answer(user_actor self, std::uint64_t id, provider_answer answer) {
  auto* waiting = answered_purchase(*this, self, id);
  if (waiting == nullptr)
    return;
  auto& flow = *waiting;
  const std::int64_t now = this->now();
  auto* response = std::get_if<net::client_response>(&answer.result);
  if (response == nullptr || (response->status != 200 && response->status != 201)) {
    // Nothing was bought. A provider that could not be reached or was overloaded is worth a
    // retry (503); one that refused the attestation is not (502).
    const std::string detail =
      flow.provider + " could not open an account: it " + what_happened(answer.result);
    end_purchase(id, worth_retry(answer.result)
                       ? problem_reply(
                           core::problem(core::api_error::provider_unavailable, detail).retry_after(1))
                       : provider_problem(core::api_error::provider_error, detail));
    return;
  }
  auto account = core::read_account_answer(response->body);
  if (!account) {
    end_purchase(id, provider_problem(core::api_error::provider_error,
                                      flow.provider + "'s account answer is not protocol v1"));
    return;
  }
  auto request = std::move(flow.request);
  auto key = flow.key;
  purchases.erase(id);

  if (account->what == core::account_answer::kind::oauth_required) {
    // The email has an account there already: a human links it through the provider's consent
    // page. The approval id is the OAuth state; the PKCE verifier is derived from it.
    const auto verifier =
      core::pkce_verifier(config.purchases->vault->current().bytes(), request.approval_id);
    core::preflight_gate gate;
    gate.kind = core::approval_kind::account_link;
    // The account the email owns there, when the provider names it: the callback links that
    // account and no other.
    gate.value = account->account_id;
    gate.message = "Link your existing " + request.catalog->provider +
                   " account to this platform: open the URL and consent.";
    gate.url = core::authorize_url_with_pkce(account->authorize_url, request.approval_id,
                                             core::pkce_challenge(verifier));
    forget(key.scope_key);
    open_gate(self, request, gate, "");
    return;
  }

  // Created: seal the account token and link the account, then run the request again.
  const std::string& link = request.link_id;
  auto sealed = config.purchases->vault->seal(
    account->account_token, core::make_associated_data({config.user, link}), core::system_random);
  core::create_link_command command{link, request.catalog->provider, account->account_id,
                                    core::link_outcome::created, link};
  auto decision = core::decide_create_link(ledger, command, now);
  if (!sealed || std::holds_alternative<core::decline>(decision)) {
    forget(key.scope_key);
    request.reply.respond(
      sealed ? decline_reply(std::get<core::decline>(decision))
             : provider_problem(core::api_error::internal, "the account token could not be sealed"));
    return;
  }
  auto& event = std::get<core::accepted>(decision).event;
  core::apply_event(ledger, event);
  account_tokens[request.catalog->provider] = account->account_token;
  batch_extras extras;
  extras.sealed.push_back(
    storage::sealed_entry{link, config.user, std::string(sealed.blob.begin(), sealed.blob.end())});
  append(self, "", net::responder{}, {}, {std::move(event)}, std::move(extras));
  execute_provision(self, request, key);
}

bool user_state::read_vault(user_actor self, std::uint64_t id, std::string first,
                            std::optional<std::string> second) {
  auto job = [journal = config.journal, first = std::move(first), second = std::move(second),
              deliver = config.deliver, self, id] {
    vault_read read;
    auto take = [&](const std::string& ref, std::optional<std::string>& into) {
      auto found = journal->read_sealed(ref);
      if (found)
        into = std::move(found.value());
      else
        read.failure = found.failure();
    };
    take(first, read.blob);
    if (second && !read.failure)
      take(*second, read.second);
    deliver_to(deliver, self, vault_read_atom::value, id, std::move(read));
  };
  return config.loader != nullptr && config.loader->post(std::move(job));
}

void user_state::on_vault_read(user_actor self, std::uint64_t id, vault_read read) {
  auto found = purchases.find(id);
  if (found == purchases.end()) {
    on_resource_read(self, id, std::move(read));
    return;
  }
  auto& flow = found->second;
  if (failing || read.failure) {
    end_purchase(id, overloaded_reply("the account token could not be read; retry"));
    maybe_stop(self);
    return;
  }
  auto link = ledger.links.find(flow.provider);
  if (flow.at == purchase_flow::stage::recovering) {
    // The order and the account token of a purchase found unsettled at activation.
    auto open = [&](const std::optional<std::string>& blob,
                    const std::string& owner) -> std::optional<std::string> {
      if (!blob)
        return std::nullopt;
      auto opened = config.purchases->vault->open(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(blob->data()),
                                      blob->size()),
        core::make_associated_data({config.user, owner}));
      return opened ? std::optional(std::string(opened.plaintext.view())) : std::nullopt;
    };
    auto order = open(read.blob, order_vault_ref(flow.resource));
    auto token = link == ledger.links.end() ? std::nullopt : open(read.second, link->second.id);
    if (!order || !token) {
      purchases.erase(found); // nothing to send it with: it stays as it is
      return;
    }
    flow.order = std::move(*order);
    account_tokens[flow.provider] = std::move(*token);
    flow.at = purchase_flow::stage::reconciling;
    send_order(self, id);
    return;
  }
  if (!read.blob || link == ledger.links.end()) {
    end_purchase(id, provider_problem(core::api_error::internal,
                                      "the account token of " + flow.provider + " is missing"));
    return;
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(read.blob->data());
  auto opened = config.purchases->vault->open(
    std::span<const std::uint8_t>(bytes, read.blob->size()),
    core::make_associated_data({config.user, link->second.id}));
  if (!opened) {
    end_purchase(id, provider_problem(core::api_error::internal,
                                      "the account token of " + flow.provider +
                                        " does not open with the vault's keys"));
    return;
  }
  account_tokens[flow.provider] = std::string(opened.plaintext.view());
  auto request = std::move(flow.request);
  auto key = flow.key;
  purchases.erase(found);
  execute_provision(self, request, key);
}

void user_state::fail_purchase(user_actor self, std::uint64_t id, const std::string& failure_code,
                               core::problem problem) {
  auto found = purchases.find(id);
  if (found == purchases.end())
    return;
  const std::int64_t now = this->now();
  const std::string resource_id = found->second.resource;
  const auto& resource = ledger.resources.at(resource_id);
  std::vector<core::ledger_event> events;
  auto decide = [&](core::decision decision) {
    if (auto* accepted = std::get_if<core::accepted>(&decision)) {
      core::apply_event(ledger, accepted->event);
      events.push_back(std::move(accepted->event));
    }
  };
  // The budget is given back and the token revoked: nothing may be charged for it.
  if (resource.hold && ledger.holds.contains(*resource.hold))
    decide(core::decide_release_hold(ledger, *resource.hold, now));
  if (resource.token)
    decide(core::decide_revoke_token(ledger, *resource.token, now));
  core::update_resource_command update;
  update.id = resource_id;
  update.status = core::resource_status::failed;
  update.failure_code = failure_code;
  decide(core::decide_update_resource(ledger, update, now));
  problem.member("resource", resource_id);
  problem.member("failure_code", failure_code);
  auto reply = found->second.request.reply;
  purchases.erase(found);
  batch_extras extras;
  extras.unsealed.push_back(order_vault_ref(resource_id));
  append(self, "", reply, problem_reply(std::move(problem)), std::move(events), std::move(extras));
}

void user_state::send_order(user_actor self, std::uint64_t id) {
  auto found = purchases.find(id);
  if (found == purchases.end())
    return;
  auto& flow = found->second;
  if (flow.attempts == 0) {
    // A kill that came while the first batch was being made durable stops the purchase before
    // the provider hears of it.
    const auto& resource = ledger.resources.at(flow.resource);
    const bool session_killed = resource.session && session_stopped(*resource.session);
    if (user_stopped() || session_killed ||
        (config.kills != nullptr && config.kills->refuses(flow.provider))) {
      fail_purchase(self, id, "killed",
                    core::problem(core::api_error::killed,
                                  "the purchase was stopped by a kill switch before " +
                                    flow.provider + " was called"));
      return;
    }
  }
  auto token = account_tokens.find(flow.provider);
  auto base = config.purchases->base_urls.find(flow.provider);
  if (token == account_tokens.end() || base == config.purchases->base_urls.end()) {
    end_purchase(id, provider_problem(core::api_error::internal,
                                      "the purchase lost its account token"));
    return;
  }
  if (flow.at != purchase_flow::stage::reconciling)
    flow.at = purchase_flow::stage::ordering;
  ++flow.attempts;
  auto call = provider_call(net::http_method::post, base->second + "/resources", flow.provider);
  call.headers.emplace_back("Authorization", "Bearer " + token->second);
  call.headers.emplace_back("Content-Type", "application/json");
  call.idempotency_key = flow.provider_key;
  call.body = flow.order;
  send_provider_call(*config.purchases->client, config.deliver, self, std::move(call),
                     order_answer_atom{}, id);
}

void user_state::resume_purchases(user_actor self) {
  if (config.purchases == nullptr || config.purchases->client == nullptr)
    return;
  for (const auto& [id, resource] : ledger.resources) {
    if (resource.status != core::resource_status::pending &&
        resource.status != core::resource_status::unknown)
      continue;
    auto link = ledger.links.find(resource.provider);
    if (link == ledger.links.end() || resource.provider_key.empty() ||
        !config.purchases->base_urls.contains(resource.provider) ||
        purchases.size() >= core::limits::user_purchases_in_flight_max)
      continue;
    const std::uint64_t flow_id = next_purchase++;
    purchase_flow flow;
    flow.at = purchase_flow::stage::recovering;
    flow.provider = resource.provider;
    flow.resource = id;
    flow.provider_key = resource.provider_key;
    // Admitted before the process stopped: counted again, even past the bound.
    if (config.purchases->gate != nullptr)
      flow.gate_ticket = config.purchases->gate->enter(resource.provider);
    purchases.emplace(flow_id, std::move(flow));
    if (!read_vault(self, flow_id, order_vault_ref(id), link->second.vault_ref))
      purchases.erase(flow_id);
  }
}

void user_state::on_reconcile(user_actor self, std::uint64_t id) {
  if (failing) {
    end_purchase(id, overloaded_reply("the user's journal failed"));
    maybe_stop(self);
    return;
  }
  send_order(self, id);
}

void user_state::on_order_answer(user_actor self, std::uint64_t id, provider_answer answer) {
  // After a journal failure the resource stays pending in the journal; the next activation finds
  // it.
  auto* waiting = answered_purchase(*this, self, id);
  if (waiting == nullptr)
    return;
  auto& flow = *waiting;
  const std::int64_t now = this->now();
  const std::string resource_id = flow.resource;
  const auto& resource = ledger.resources.at(resource_id);
  auto* response = std::get_if<net::client_response>(&answer.result);
  std::optional<core::resource_answer> made;
  if (response && response->status >= 200 && response->status < 300)
    made = core::read_resource_answer(response->body);

  std::vector<core::ledger_event> events;
  auto decide = [&](core::decision decision) {
    if (auto* accepted = std::get_if<core::accepted>(&decision)) {
      core::apply_event(ledger, accepted->event);
      events.push_back(std::move(accepted->event));
    }
  };
  // Whatever the purchase still holds goes back: a charge settled the hold already, or nothing
  // was bought.
  auto release_hold = [&] {
    if (resource.hold && ledger.holds.contains(*resource.hold))
      decide(core::decide_release_hold(ledger, *resource.hold, now));
  };

  if (made && made->status == "pending") {
    // Accepted but not finished: asked again with the same key until it is (below), the
    // resource staying pending meanwhile.
    made.reset();
  }
  if (made) {
    core::update_resource_command update;
    update.id = resource_id;
    update.status = made->status == "ready" ? core::resource_status::ready
                                            : core::resource_status::pending;
    update.provider_id = made->id;
    update.price = made->price;
    batch_extras extras;
    if (!made->credentials.empty()) {
      auto sealed = config.purchases->vault->seal(
        made->credentials, core::make_associated_data({config.user, resource_id}),
        core::system_random);
      if (!sealed) {
        end_purchase(id, provider_problem(core::api_error::internal,
                                          "the resource's credentials could not be sealed"));
        return;
      }
      update.vault_ref = resource_id;
      extras.sealed.push_back(storage::sealed_entry{
        resource_id, config.user, std::string(sealed.blob.begin(), sealed.blob.end())});
    }
    if (update.status == core::resource_status::ready)
      release_hold();
    auto decision = core::decide_update_resource(ledger, update, now);
    if (auto* refused = std::get_if<core::decline>(&decision)) {
      end_purchase(id, decline_reply(*refused));
      return;
    }
    decide(std::move(decision));
    const auto& updated = ledger.resources.at(resource_id);
    extras.outbox.push_back(
      resource_webhook(config.user, "resource.ready", resource_id, updated, now));
    extras.unsealed.push_back(order_vault_ref(resource_id)); // settled: the order is not needed
    auto body = resource_body(resource_id, updated, made->credentials);
    auto reply = flow.request.reply;
    purchases.erase(id);
    append(self, "", reply, created(std::move(body)), std::move(events), std::move(extras));
    return;
  }

  if (!in_doubt(answer.result)) {
    // The provider refused: nothing was bought.
    const std::string code = response ? failure_code_of(*response) : "not_sent";
    fail_purchase(self, id, code,
                  core::problem(core::api_error::provider_error,
                                flow.provider + " refused the purchase: it " +
                                  what_happened(answer.result)));
    return;
  }

  // In doubt: the provider may have bought it. The same order with the same key settles it.
  batch_extras extras;
  const bool accepted_pending = response && response->status >= 200 && response->status < 300 &&
                                resource.status == core::resource_status::pending &&
                                core::read_resource_answer(response->body).has_value();
  if (resource.status != core::resource_status::unknown && !accepted_pending) {
    core::update_resource_command update;
    update.id = resource_id;
    update.status = core::resource_status::unknown;
    decide(core::decide_update_resource(ledger, update, now));
    extras.outbox.push_back(
      resource_webhook(config.user, "resource.unknown", resource_id,
                       ledger.resources.at(resource_id), now));
  }
  flow.at = purchase_flow::stage::reconciling;
  auto reply = std::exchange(flow.request.reply, net::responder{});
  if (reply.valid()) {
    // The agent learns the resource and its status now (the key's stored outcome, written with
    // the first batch, names the same resource).
    std::string body;
    core::json_writer w(body);
    w.begin_object()
      .member("status", core::to_string(ledger.resources.at(resource_id).status))
      .key("resource");
    core::write_resource(w, resource_id, ledger.resources.at(resource_id));
    w.key("next_steps").begin_array();
    w.string(flow.provider + " " + what_happened(answer.result) +
             "; steward asks it again with the same Idempotency-Key and never buys twice");
    w.string("follow the resource: GET /v1/resources/" + resource_id);
    w.end_array().end_object();
    append(self, "", reply, ok(std::move(body), 202), std::move(events),
           std::move(extras));
  } else if (!events.empty()) {
    append(self, "", net::responder{}, {}, std::move(events), std::move(extras));
  }
  if (flow.attempts >= core::limits::purchase_reconcile_attempts_max) {
    // Left unknown; the hold expires by itself and a later activation may ask again.
    purchases.erase(id);
    maybe_stop(self);
    return;
  }
  auto delay = std::chrono::milliseconds(core::limits::purchase_reconcile_delay_ms_min)
               * (std::uint64_t(1) << std::min<std::uint32_t>(flow.attempts - 1, 6));
  caf::delayed_anon_send(self, delay, reconcile_atom::value, id);
}

void user_state::execute_oauth_callback(user_actor self, oauth_callback_request& request) {
  const std::int64_t now = this->now();
  auto found = ledger.approvals.find(request.approval);
  if (found == ledger.approvals.end() || found->second.kind != core::approval_kind::account_link) {
    request.reply.respond(browser_page(400, "This link request is unknown to steward."));
    return;
  }
  const auto& approval = found->second;
  if (core::status_at(approval, now) != core::approval_status::pending) {
    request.reply.respond(
      browser_page(409, "This link request was already completed or has expired."));
    return;
  }
  const purchase_services* services = config.purchases;
  auto base = services ? services->base_urls.find(approval.provider)
                       : decltype(services->base_urls.end()){};
  if (services == nullptr || base == services->base_urls.end()) {
    request.reply.respond(browser_page(503, "steward does not buy from " + approval.provider + "."));
    return;
  }
  if (!request.error.empty()) {
    core::decide_approval_command deny{request.approval, false, "oauth:" + approval.provider,
                                       "the provider answered error=" + request.error};
    auto decision = core::decide_decide_approval(ledger, deny, now);
    if (auto* refused = std::get_if<core::decline>(&decision)) {
      request.reply.respond(browser_page(400, refused->detail));
      return;
    }
    auto& event = std::get<core::accepted>(decision).event;
    core::apply_event(ledger, event);
    finish(self, "", request.reply,
           browser_page(200, "The account was not linked (" + request.error +
                               "). You can close this window."),
           {std::move(event)});
    answer_waiters(request.approval, approval_body(request.approval));
    return;
  }
  const auto verifier = core::pkce_verifier(services->vault->current().bytes(), request.approval);
  auto call = provider_call(net::http_method::post, base->second + "/oauth/token",
                            approval.provider);
  call.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  call.body = core::token_request_form(request.code, verifier,
                                       services->issuer() + "/oauth/callback",
                                       services->oauth_client_id);
  const std::uint64_t id = next_purchase++;
  oauth_exchanges.emplace(id, std::move(request));
  send_provider_call(*services->client, config.deliver, self, std::move(call),
                     oauth_answer_atom{}, id);
}

void user_state::on_oauth_answer(user_actor self, std::uint64_t id, provider_answer answer) {
  auto found = oauth_exchanges.find(id);
  if (found == oauth_exchanges.end())
    return;
  auto request = std::move(found->second);
  oauth_exchanges.erase(found);
  if (failing) {
    request.reply.respond(browser_page(503, "steward could not record the link; try again."));
    maybe_stop(self);
    return;
  }
  const std::int64_t now = this->now();
  auto* response = std::get_if<net::client_response>(&answer.result);
  auto token = response && response->status == 200 ? core::read_token_answer(response->body)
                                                    : std::nullopt;
  auto approval = ledger.approvals.find(request.approval);
  if (approval == ledger.approvals.end()) {
    request.reply.respond(browser_page(400, "This link request is unknown to steward."));
    return;
  }
  const std::string provider = approval->second.provider;
  const std::string expected_account = approval->second.value;
  if (token && !expected_account.empty() && token->account_id != expected_account) {
    // Consent for another account than the user's (someone else's login on this authorize URL):
    // nothing is linked, and the gate stays open for the human.
    request.reply.respond(browser_page(
      403, "The account you consented for at " + provider +
             " is not the one registered to this user's email. Nothing was linked."));
    return;
  }
  if (!token) {
    request.reply.respond(browser_page(502, "The provider did not accept the authorization (it " +
                                      what_happened(answer.result) + "). Start again from the agent."));
    return;
  }
  std::vector<core::ledger_event> events;
  core::decide_approval_command approve{request.approval, true, "oauth:" + provider,
                                        std::nullopt};
  auto decided = core::decide_decide_approval(ledger, approve, now);
  core::create_link_command link{request.link_id, provider, token->account_id,
                                 core::link_outcome::linked_existing, request.link_id};
  auto sealed = config.purchases->vault->seal(
    token->access_token, core::make_associated_data({config.user, request.link_id}),
    core::system_random);
  auto linked = core::decide_create_link(ledger, link, now);
  for (auto* decision : {&decided, &linked})
    if (auto* refused = std::get_if<core::decline>(decision)) {
      request.reply.respond(browser_page(409, refused->detail));
      return;
    }
  if (!sealed) {
    request.reply.respond(browser_page(500, "steward could not seal the account token."));
    return;
  }
  core::apply_event(ledger, std::get<core::accepted>(decided).event);
  events.push_back(std::move(std::get<core::accepted>(decided).event));
  core::apply_event(ledger, std::get<core::accepted>(linked).event);
  events.push_back(std::move(std::get<core::accepted>(linked).event));
  account_tokens[provider] = token->access_token;
  batch_extras extras;
  extras.sealed.push_back(storage::sealed_entry{request.link_id, config.user,
                                                std::string(sealed.blob.begin(), sealed.blob.end())});
  append(self, "", request.reply,
         browser_page(200, "Your " + provider + " account is linked. You can close this window; the agent "
                   "continues."),
         std::move(events), std::move(extras));
  answer_waiters(request.approval, approval_body(request.approval));
}

} // namespace steward::actors
