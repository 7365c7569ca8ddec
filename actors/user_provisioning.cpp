// The user actor's provisioning commands (docs/provisioning.md, "Provisioning in the user actor"):
// terms acceptances, approvals (list, decide, long-poll) and `POST /v1/resources` up to its gates.

#include "actors/user.hpp"
#include "actors/user_internal.hpp"
#include "actors/webhook_events.hpp"

#include "core/json_writer.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <chrono>

namespace steward::actors {

namespace {

/// The `approval.required` webhook's data: the approval as the API shows it, and its user.
std::string approval_payload(const std::string& user, const std::string& id,
                             const core::approval_state& approval, std::int64_t now) {
  std::string out;
  core::json_writer w(out);
  w.begin_object().member("user", std::string_view(user)).key("approval");
  core::write_approval(w, id, approval, now);
  w.end_object();
  return out;
}

/// The pending approval of exactly this gate, if one is open already: a request retried while
/// its gate waits must not open a second one.
std::string pending_gate(const core::ledger_state& ledger, const core::preflight_gate& gate,
                         std::string_view session, std::string_view provider,
                         std::string_view service, std::int64_t now) {
  for (const auto& [id, approval] : ledger.approvals)
    if (approval.kind == gate.kind && approval.session && *approval.session == session &&
        approval.provider == provider && approval.service == service &&
        approval.value == gate.value &&
        core::status_at(approval, now) == core::approval_status::pending)
      return id;
  return {};
}

} // namespace

std::string user_state::approval_body(const std::string& id) const {
  std::string out;
  core::json_writer w(out);
  core::write_approval(w, id, ledger.approvals.at(id), now());
  return out;
}

void user_state::execute_terms(user_actor self, accept_terms_request& request) {
  auto decision = core::decide_accept_terms(ledger, request.command, now());
  if (auto* decline = std::get_if<core::decline>(&decision)) {
    request.reply.respond(decline_reply(*decline));
    return;
  }
  auto& event = std::get<core::accepted>(decision).event;
  core::apply_event(ledger, event);
  const auto& terms = ledger.terms.at(request.command.provider);
  std::string body;
  core::json_writer w(body);
  w.begin_object()
    .member("object", "terms_acceptance")
    .member("user", std::string_view(config.user))
    .member("provider", std::string_view(request.command.provider))
    .member("version", std::string_view(terms.version))
    .member("accepted_by", std::string_view(terms.accepted_by))
    .member("accepted_at", terms.at)
    .end_object();
  finish(self, "", request.reply, ok(std::move(body)), {std::move(event)});
}

void user_state::answer_approvals(const list_approvals_request& request) const {
  const std::int64_t now = this->now();
  std::string body;
  core::json_writer w(body);
  w.begin_object().member("object", "list").key("data").begin_array();
  std::size_t written = 0;
  bool has_more = false;
  auto it = request.page.starting_after ? ledger.approvals.upper_bound(*request.page.starting_after)
                                        : ledger.approvals.begin();
  for (; it != ledger.approvals.end(); ++it) {
    if (request.status && core::status_at(it->second, now) != *request.status)
      continue;
    if (written == request.page.limit) {
      has_more = true;
      break;
    }
    core::write_approval(w, it->first, it->second, now);
    ++written;
  }
  w.end_array().member("has_more", has_more).end_object();
  request.reply.respond(ok(std::move(body)));
}

void user_state::answer_resources(const list_resources_request& request) const {
  std::string body;
  core::json_writer w(body);
  if (request.resource) {
    auto found = ledger.resources.find(*request.resource);
    if (found == ledger.resources.end()) {
      request.reply.respond(
        problem_reply(core::problem(core::api_error::not_found, "no such resource")));
      return;
    }
    core::write_resource(w, found->first, found->second);
    request.reply.respond(ok(std::move(body)));
    return;
  }
  w.begin_object().member("object", "list").key("data").begin_array();
  std::size_t written = 0;
  bool has_more = false;
  auto it = request.page.starting_after ? ledger.resources.upper_bound(*request.page.starting_after)
                                        : ledger.resources.begin();
  for (; it != ledger.resources.end(); ++it) {
    if (written == request.page.limit) {
      has_more = true;
      break;
    }
    core::write_resource(w, it->first, it->second);
    ++written;
  }
  w.end_array().member("has_more", has_more).end_object();
  request.reply.respond(ok(std::move(body)));
}

void user_state::execute_decide_approval(user_actor self, decide_approval_request& request) {
  const std::int64_t now = this->now();
  auto decision = core::decide_decide_approval(ledger, request.command, now);
  if (auto* decline = std::get_if<core::decline>(&decision)) {
    request.reply.respond(decline_reply(*decline));
    return;
  }
  std::vector<core::ledger_event> events;
  events.push_back(std::move(std::get<core::accepted>(decision).event));
  core::apply_event(ledger, events.back());
  const std::string& id = request.command.id;
  const auto& approval = ledger.approvals.at(id);
  // Approving a tos_acceptance gate is the human accepting those terms (its value is the
  // version): recorded as the acceptance itself, in the same batch.
  if (request.command.approved && approval.kind == core::approval_kind::tos_acceptance) {
    core::accept_terms_command terms{approval.provider, approval.value, request.command.decided_by};
    auto accepted = core::decide_accept_terms(ledger, terms, now);
    if (auto* ok_terms = std::get_if<core::accepted>(&accepted)) {
      core::apply_event(ledger, ok_terms->event);
      events.push_back(std::move(ok_terms->event));
    }
  }
  auto body = approval_body(id);
  finish(self, "", request.reply, ok(body), std::move(events));
  answer_waiters(id, body);
}

void user_state::answer_waiters(const std::string& id, const std::string& body) {
  // Agents long-polling this approval get the decision in the same batch, once it is durable.
  auto& batch = in_flight[next_batch - 1];
  for (auto waiter = waiters.begin(); waiter != waiters.end();) {
    if (waiter->second.approval != id) {
      ++waiter;
      continue;
    }
    batch.push_back(pending_reply{waiter->second.reply, ok(body), {}, {}, false, 0, {}});
    waiter = waiters.erase(waiter);
  }
}

void user_state::answer_approval(user_actor self, get_approval_request& request) {
  auto found = ledger.approvals.find(request.approval);
  // Another session's approval does not exist for this agent (DESIGN 4.5).
  if (found == ledger.approvals.end() ||
      (request.session && found->second.session != request.session)) {
    request.reply.respond(
      problem_reply(core::problem(core::api_error::not_found, "no such approval")));
    return;
  }
  const std::int64_t now = this->now();
  if (request.wait_seconds == 0 ||
      core::status_at(found->second, now) != core::approval_status::pending) {
    request.reply.respond(ok(approval_body(request.approval)));
    return;
  }
  if (waiters.size() >= core::limits::user_approval_waiters_max) {
    request.reply.respond(problem_reply(
      core::problem(core::api_error::rate_limited, "too many requests wait for this user's approvals")
        .retry_after(1)));
    return;
  }
  // Wait no longer than the approval itself lives.
  std::int64_t wait = std::min<std::int64_t>(request.wait_seconds, found->second.expires_at - now);
  auto id = next_waiter++;
  waiters.emplace(id, approval_waiter{request.approval, request.reply});
  caf::delayed_anon_send(self, std::chrono::seconds(std::max<std::int64_t>(wait, 0)),
                         wait_over_atom::value, id);
}

void user_state::on_wait_over(std::uint64_t waiter) {
  auto found = waiters.find(waiter);
  if (found == waiters.end())
    return; // answered by a decision already
  found->second.reply.respond(ok(approval_body(found->second.approval)));
  waiters.erase(found);
}

void user_state::execute_provision(user_actor self, provision_resource_request& request,
                                   const idempotency_key& key) {
  const std::int64_t now = this->now();
  const auto& catalog = *request.catalog;
  const auto& service = *request.service;
  const std::string service_id = catalog.provider + "/" + service.id;
  if (config.kills != nullptr && config.kills->refuses(catalog.provider)) {
    forget(key.scope_key);
    request.reply.respond(killed_reply("provisioning with this provider is stopped"));
    return;
  }
  // A kill the register holds counts before the ledger shows it, and a dry run reports it the
  // same way as one the ledger shows.
  const core::kills_in_force kills{user_stopped(), session_stopped(request.session)};
  auto result = core::run_preflight(ledger, request.session, catalog, service, request.request,
                                    now, core::limits::purchase_confirmation_above_default, kills);

  if (request.request.dry_run) {
    // A dry run changes nothing, not even the key's record: it can be run again with the key.
    forget(key.scope_key);
    std::string body;
    core::json_writer w(body);
    core::write_preflight(w, service_id, result);
    request.reply.respond(ok(std::move(body)));
    return;
  }

  if (result.refusal) {
    const auto code = result.refusal->code;
    core::problem problem(code, result.refusal->detail);
    if (result.refusal->scope)
      problem.member("scope", core::to_string(*result.refusal->scope));
    if (result.expected)
      problem.member("expected", *result.expected);
    // The config, the intent and the budget decide the same way on a retry with the same body:
    // those are the key's outcome. An expired or killed session is not (it may be lifted).
    const bool outcome = code == core::api_error::config_invalid ||
                         code == core::api_error::intent_mismatch ||
                         code == core::api_error::budget_exceeded;
    finish(self, outcome ? key.scope_key : std::string(), request.reply,
           problem_reply(std::move(problem)), {});
    if (!outcome)
      forget(key.scope_key);
    return;
  }

  if (result.gate) {
    // A gate is not the request's outcome: once the human decides, the same request with the same
    // key proceeds. The gate's approval is reused while it is pending.
    forget(key.scope_key);
    open_gate(self, request, *result.gate, service.id);
    return;
  }

  start_purchase(self, request, key);
}

void user_state::open_gate(user_actor self, provision_resource_request& request,
                           const core::preflight_gate& gate, std::string_view service) {
  const std::int64_t now = this->now();
  const auto& provider = request.catalog->provider;
  auto open = pending_gate(ledger, gate, request.session, provider, service, now);
  if (!open.empty()) {
    request.reply.respond(ok(requires_human_body(open, ledger.approvals.at(open), now), 202));
    return;
  }
  core::open_approval_command command;
  command.id = request.approval_id;
  command.kind = gate.kind;
  command.session = request.session;
  command.provider = provider;
  command.service = std::string(service);
  command.value = gate.value;
  command.amount = gate.amount;
  command.message = gate.message;
  command.url = gate.url;
  command.expires_at = now + core::limits::approval_ttl_seconds_default;
  auto decision = core::decide_open_approval(ledger, command, now);
  if (auto* decline = std::get_if<core::decline>(&decision)) {
    request.reply.respond(decline_reply(*decline));
    return;
  }
  auto& event = std::get<core::accepted>(decision).event;
  core::apply_event(ledger, event);
  const auto& approval = ledger.approvals.at(command.id);
  std::vector<storage::outbox_entry> outbox;
  storage::outbox_entry entry;
  entry.id = derived_event_id(config.user + "/approval/" + command.id);
  entry.stream = config.user;
  entry.type = "approval.required";
  entry.payload = approval_payload(config.user, command.id, approval, now);
  entry.created_at = now;
  outbox.push_back(std::move(entry));
  finish(self, "", request.reply, ok(requires_human_body(command.id, approval, now), 202),
         {std::move(event)}, {make_alias(alias_key::approval, command.id, config.user)}, {},
         std::move(outbox));
}

} // namespace steward::actors
