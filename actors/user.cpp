#include "actors/user.hpp"

#include "actors/user_internal.hpp"
#include "actors/webhook_events.hpp"

#include "core/api_messages.hpp"
#include "core/deflate.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "net/problem_response.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <utility>

namespace steward::actors {

namespace {

std::string hold_body(const core::hold_placed& hold) {
  std::string body;
  core::json_writer json(body);
  json.begin_object()
    .member("id", std::string_view(hold.id))
    .member("object", std::string_view("hold"))
    .member("status", std::string_view("held"))
    .member("provider", std::string_view(hold.provider));
  json.key("session");
  if (hold.session)
    json.value(std::string_view(*hold.session));
  else
    json.null();
  json.key("payment_token");
  if (hold.token)
    json.value(std::string_view(*hold.token));
  else
    json.null();
  json.key("amount");
  core::write_money(json, hold.amount);
  json.member("expires_at", hold.expires_at).member("created", hold.at).end_object();
  return body;
}

std::string charge_body(const core::charge_created& charge) {
  core::charge_view view;
  view.id = charge.id;
  view.amount = charge.amount;
  view.payment_token = charge.token;
  view.provider = charge.provider;
  view.description = charge.description;
  view.created = charge.at;
  std::string body;
  core::json_writer json(body);
  core::write_charge(json, view);
  return body;
}

} // namespace

const std::string& user_of(const user_command& command) noexcept {
  return std::visit([](const auto& request) -> const std::string& { return request.user; },
                    command);
}

net::http_response replay_response(std::uint16_t status, std::string_view body) {
  net::http_response response;
  response.status = status;
  response.content_type = status >= 400 ? core::problem_content_type : "application/json";
  response.headers.emplace_back("Idempotent-Replayed", "true");
  response.body = std::string(body);
  return response;
}

load_result load_user(storage::journal& journal, const std::string& stream) {
  load_result out;
  auto snapshot = journal.latest_snapshot(stream);
  if (!snapshot) {
    out.failure = snapshot.failure();
    return out;
  }
  core::chain_hash anchor = core::chain_genesis;
  std::uint64_t seq = 0;
  if (const auto& stored = snapshot.value()) {
    if (core::decode_snapshot(stored->state, out.ledger)) {
      out.failure = storage::journal_failure{storage::journal_error::corrupt, stored->seq};
      return out;
    }
    anchor = stored->hash;
    seq = stored->seq;
    out.snapshot_seq = stored->seq;
  }
  // The journal recomputes the chain on every read; the actor checks the links again against its
  // own anchor, so that a reader bug cannot hand it a history that does not continue the snapshot.
  core::chain_verifier verifier(anchor, seq + 1);
  for (;;) {
    auto page = journal.read_stream(stream, seq + 1, core::limits::journal_read_events_max);
    if (!page) {
      out.failure = page.failure();
      return out;
    }
    for (const auto& stored : page.value()) {
      if (!verifier.feed(storage::chain_fields(stored), stored.hash)) {
        out.failure = storage::journal_failure{storage::journal_error::corrupt,
                                               verifier.verdict().first_bad_seq.value_or(stored.seq)};
        return out;
      }
      core::ledger_event event;
      if (core::decode_event(stored.payload, event) || core::event_type(event) != stored.type) {
        out.failure = storage::journal_failure{storage::journal_error::corrupt, stored.seq};
        return out;
      }
      core::apply_event(out.ledger, event);
      seq = stored.seq;
    }
    if (page.value().size() < core::limits::journal_read_events_max)
      break;
  }
  out.seq = seq;
  out.hash = verifier.head();
  return out;
}

std::int64_t user_state::now() const {
  if (config.clock)
    return config.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void user_state::start_loading(user_actor self) {
  if (config.counters != nullptr)
    config.counters->activations.fetch_add(1, std::memory_order_relaxed);
  auto job = [journal = config.journal, stream = config.user, deliver = config.deliver, self] {
    deliver_to(deliver, self, loaded_atom::value, load_user(*journal, stream));
  };
  if (config.loader == nullptr || !config.loader->post(std::move(job))) {
    load_result refused;
    refused.failure = storage::journal_failure{storage::journal_error::overloaded, 0};
    on_loaded(self, std::move(refused));
  }
}

void user_state::resume(user_actor self, user_image image) {
  load_result result;
  auto snapshot =
    core::inflate_bytes(image.ledger, core::snapshot_dictionary(), core::limits::body_bytes_max);
  if (!snapshot || core::decode_snapshot(*snapshot, result.ledger)) {
    // Made by this process from a verified state, so this is a bug; the journal still has it all.
    start_loading(self);
    return;
  }
  result.seq = image.seq;
  result.hash = image.hash;
  result.snapshot_seq = image.snapshot_seq;
  if (config.counters != nullptr)
    config.counters->resumed.fetch_add(1, std::memory_order_relaxed);
  on_loaded(self, std::move(result));
}

user_image user_state::image() const {
  user_image out;
  std::string snapshot;
  core::encode_snapshot(ledger, snapshot);
  out.ledger = core::deflate_bytes(snapshot, core::snapshot_dictionary());
  out.seq = head_seq;
  out.hash = head_hash;
  out.snapshot_seq = snapshot_seq;
  return out;
}

void user_state::on_loaded(user_actor self, load_result result) {
  loaded = true;
  if (result.failure) {
    // Nothing can be decided without the durable state: answer what waits and stop.
    auto response = result.failure->code == storage::journal_error::corrupt
                      ? problem_reply(core::problem(core::api_error::internal,
                                                    "the user's journal failed verification"))
                      : overloaded_reply("the user's state could not be loaded");
    for (auto& command : stash)
      answer_command(command, net::http_response(response));
    stash.clear();
    failing = true;
    maybe_stop(self);
    return;
  }
  ledger = std::move(result.ledger);
  head_seq = result.seq;
  head_hash = result.hash;
  snapshot_seq = result.snapshot_seq;
  reconcile_kills(self);
  arm_expiry(self);
  resume_purchases(self);
  auto waiting = std::move(stash);
  stash.clear();
  for (auto& command : waiting)
    handle(self, std::move(command));
  if (retiring)
    maybe_stop(self);
}

void user_state::handle(user_actor self, user_command command) {
  active_since_tick = true;
  if (!loaded) {
    if (stash.size() >= core::limits::user_stash_commands_max)
      answer_command(command, overloaded_reply("too many requests wait for this user"));
    else
      stash.push_back(std::move(command));
    return;
  }
  if (failing) {
    answer_command(command, overloaded_reply("the user's journal failed; retry"));
    return;
  }
  if (auto* spend = std::get_if<spend_request>(&command)) {
    answer_spend(*spend);
    return;
  }
  if (auto* session = std::get_if<get_session_request>(&command)) {
    answer_session(*session);
    return;
  }
  if (auto* approvals = std::get_if<list_approvals_request>(&command)) {
    answer_approvals(*approvals);
    return;
  }
  if (auto* resources = std::get_if<list_resources_request>(&command)) {
    answer_resources(*resources);
    return;
  }
  if (auto* approval = std::get_if<get_approval_request>(&command)) {
    answer_approval(self, *approval);
    return;
  }
  if (const idempotency_key* key = key_of(command)) {
    idempotency_key copy = *key;
    begin_idempotent(self, std::move(command), copy);
    return;
  }
  execute_plain(self, std::move(command));
}

void user_state::begin_idempotent(user_actor self, user_command command,
                                  const idempotency_key& key) {
  if (auto found = records.find(key.scope_key); found != records.end()) {
    auto decision = core::decide(&found->second, key.fingerprint);
    if (decision.action != core::idempotency_action::execute) {
      reply_of(command).respond(idempotency_reply(decision));
      return;
    }
  }
  // Not running: the journal holds every answered record. Hold the scope in flight (a concurrent
  // retry gets 409) and ask the journal on the loader pool, unless its filter already knows the
  // key was never answered (a fresh key, nearly always).
  core::idempotency_record held;
  held.fingerprint = key.fingerprint;
  held.state = core::idempotency_state::in_flight;
  remember(key.scope_key, std::move(held));
  if (!config.journal->may_hold_idempotency(key.scope_key)) {
    execute(self, std::move(command));
    return;
  }
  auto id = next_lookup++;
  auto job = [journal = config.journal, scope = key.scope_key, deliver = config.deliver, self, id] {
    lookup_result result;
    auto found = journal->find_idempotency(scope);
    if (found)
      result.record = std::move(found.value());
    else
      result.failure = found.failure();
    deliver_to(deliver, self, lookup_atom::value, id, std::move(result));
  };
  if (config.loader == nullptr || !config.loader->post(std::move(job))) {
    forget(key.scope_key);
    reply_of(command).respond(overloaded_reply("too many journal reads are waiting"));
    return;
  }
  lookups.emplace(id, std::move(command));
}

void user_state::on_lookup(user_actor self, std::uint64_t id, lookup_result result) {
  auto found = lookups.find(id);
  if (found == lookups.end())
    return;
  user_command command = std::move(found->second);
  lookups.erase(found);
  const idempotency_key key = *key_of(command);
  if (failing || result.failure) {
    forget(key.scope_key);
    reply_of(command).respond(overloaded_reply("the user's journal could not be read; retry"));
    maybe_stop(self);
    return;
  }
  if (result.record) {
    core::idempotency_record stored;
    stored.fingerprint = result.record->fingerprint;
    stored.state = core::idempotency_state::done;
    stored.status = result.record->status;
    stored.body = std::move(result.record->response_body);
    forget(key.scope_key); // answered: nothing of it stays in memory
    auto decision = core::decide(&stored, key.fingerprint);
    reply_of(command).respond(idempotency_reply(decision));
    maybe_stop(self); // a retiring actor may have waited for this lookup alone
    return;
  }
  execute(self, std::move(command));
  maybe_stop(self);
}

void user_state::execute(user_actor self, user_command command) {
  const std::int64_t now = this->now();
  const idempotency_key key = *key_of(command);
  const net::responder reply = reply_of(command);
  if (auto* provision = std::get_if<provision_resource_request>(&command)) {
    execute_provision(self, *provision, key);
    return;
  }
  if (auto* action = std::get_if<resource_action_request>(&command)) {
    execute_resource_action(self, *action);
    return;
  }
  if (auto* charge = std::get_if<charge_request>(&command)) {
    // Kills are read again here, after every command queued before them: nothing decided after a
    // kill's ack is approved. The refusal is not the key's outcome (the kill may be lifted).
    const bool user_killed = user_stopped();
    const bool stopped = user_killed || (config.kills != nullptr &&
                                         config.kills->refuses(charge->command.provider));
    if (stopped) {
      forget(key.scope_key);
      reply.respond(killed_reply(user_killed ? "this user's spending is stopped"
                                             : "spending with this provider is stopped"));
      return;
    }
    // The session a charge counts against is its token's.
    std::optional<std::string> session;
    if (auto token = ledger.tokens.find(charge->command.token); token != ledger.tokens.end())
      session = token->second.session;
    core::velocity_window* window = nullptr;
    if (auto open = session ? ledger.sessions.find(*session) : ledger.sessions.end();
        open != ledger.sessions.end()) {
      if (open->second.killed || session_stopped(open->first)) {
        forget(key.scope_key);
        reply.respond(killed_reply("this session's spending is stopped"));
        return;
      }
      window = &velocity.try_emplace(*session, config.charges_per_minute).first->second;
      if (window->count(now) >= window->limit()) {
        finish(self, key.scope_key, reply,
               problem_reply(core::problem(core::api_error::rate_limited,
                                           "too many charges in this session in the last minute")
                               .retry_after(static_cast<std::uint32_t>(
                                 core::velocity_window_seconds))),
               {});
        return;
      }
    }
    auto decision = core::decide_charge(ledger, charge->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      finish(self, key.scope_key, reply, decline_reply(*decline), {});
      return;
    }
    auto& ok = std::get<core::accepted>(decision);
    core::apply_event(ledger, ok.event);
    if (window != nullptr)
      window->allow(now);
    const auto& made = std::get<core::charge_created>(ok.event);
    auto body = charge_body(made);
    auto alias = make_alias(alias_key::charge, made.id, config.user);
    // Each cap this charge pushed across 50/80/100 % becomes a budget.threshold webhook, queued in
    // the charge's own batch.
    std::vector<storage::outbox_entry> outbox;
    for (std::uint8_t i = 0; i < ok.crossing_count; ++i) {
      const auto& crossing = ok.crossings[i];
      storage::outbox_entry entry;
      entry.id = derived_event_id(made.id + "/" + std::string(core::to_string(crossing.scope)) +
                                  "/" + std::to_string(crossing.percent));
      entry.stream = config.user;
      entry.type = "budget.threshold";
      entry.payload = threshold_payload(config.user, ledger, made, crossing);
      entry.created_at = now;
      outbox.push_back(std::move(entry));
    }
    finish(self, key.scope_key, reply, created(std::move(body)), {std::move(ok.event)}, {},
           {std::move(alias)}, std::move(outbox));
    return;
  }
  if (auto* refund = std::get_if<refund_request>(&command)) {
    refund->command.amount.code = ledger.ledger_currency;
    auto decision = core::decide_refund(ledger, refund->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      finish(self, key.scope_key, reply, decline_reply(*decline), {});
      return;
    }
    auto& ok = std::get<core::accepted>(decision);
    core::apply_event(ledger, ok.event);
    std::string body;
    core::json_writer json(body);
    core::write_refund(json, std::get<core::refund_created>(ok.event));
    finish(self, key.scope_key, reply, created(std::move(body)), {std::move(ok.event)});
    return;
  }
  if (auto* hold = std::get_if<hold_request>(&command)) {
    auto decision = core::decide_hold(ledger, hold->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      finish(self, key.scope_key, reply, decline_reply(*decline), {});
      return;
    }
    auto& ok = std::get<core::accepted>(decision);
    core::apply_event(ledger, ok.event);
    auto body = hold_body(std::get<core::hold_placed>(ok.event));
    finish(self, key.scope_key, reply, created(std::move(body)), {std::move(ok.event)});
    arm_expiry(self);
    return;
  }
  auto& token = std::get<create_token_request>(command);
  auto decision = core::decide_create_token(ledger, token.command, now);
  if (auto* decline = std::get_if<core::decline>(&decision)) {
    finish(self, key.scope_key, reply, decline_reply(*decline), {});
    return;
  }
  auto& ok = std::get<core::accepted>(decision);
  core::apply_event(ledger, ok.event);
  const auto& minted = std::get<core::token_created>(ok.event);
  std::string body;
  core::json_writer json(body);
  core::write_payment_token(json, minted.id, ledger.tokens.at(minted.id));
  auto alias = make_alias(alias_key::payment_token, minted.id, config.user);
  finish(self, key.scope_key, reply, created(std::move(body)), {std::move(ok.event)}, {std::move(alias)});
}

void user_state::execute_plain(user_actor self, user_command command) {
  const std::int64_t now = this->now();
  const net::responder reply = reply_of(command);
  if (auto* upsert = std::get_if<upsert_user_request>(&command)) {
    const bool creating = !ledger.profile.has_value();
    auto decision = core::decide_upsert_user(ledger, upsert->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      reply.respond(decline_reply(*decline));
      return;
    }
    core::apply_event(ledger, std::get<core::accepted>(decision).event);
    std::vector<storage::alias> aliases;
    if (creating) {
      aliases.push_back(make_alias(alias_key::platform_ref, ledger.profile->platform_ref, config.user));
      aliases.push_back(make_alias(alias_key::user, config.user, config.user));
    }
    finish(self, "", reply, ok(user_body(), creating ? 201 : 200),
           {std::move(std::get<core::accepted>(decision).event)}, std::move(aliases));
    return;
  }
  if (auto* limits = std::get_if<set_limits_request>(&command)) {
    // All or none: decide every change against a copy that has the earlier ones applied.
    core::ledger_state next = ledger;
    std::vector<core::ledger_event> events;
    std::vector<core::set_cap_command> changes;
    if (limits->limits.monthly.present)
      changes.push_back({core::cap_kind::global, "", limits->limits.monthly.value});
    for (auto& provider : limits->limits.providers)
      changes.push_back({core::cap_kind::provider, provider.provider, provider.cap});
    for (const auto& change : changes) {
      auto decision = core::decide_set_cap(next, change, now);
      if (auto* decline = std::get_if<core::decline>(&decision)) {
        reply.respond(decline_reply(*decline));
        return;
      }
      core::apply_event(next, std::get<core::accepted>(decision).event);
      events.push_back(std::move(std::get<core::accepted>(decision).event));
    }
    ledger = std::move(next);
    std::string body;
    core::json_writer json(body);
    core::write_spend(json, ledger, now);
    if (events.empty()) {
      reply.respond(ok(std::move(body)));
      return;
    }
    finish(self, "", reply, ok(std::move(body)), std::move(events));
    return;
  }
  if (auto* open = std::get_if<open_session_request>(&command)) {
    auto decision = core::decide_open_session(ledger, open->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      reply.respond(decline_reply(*decline));
      return;
    }
    core::apply_event(ledger, std::get<core::accepted>(decision).event);
    const std::string& id = open->command.id;
    std::vector<storage::alias> aliases;
    aliases.push_back(make_alias(alias_key::session, id, config.user));
    aliases.push_back(make_alias(alias_key::session_token, open->token_hash, config.user + " " + id));
    // The token is in this answer only: it is not an idempotent outcome, so it is never stored.
    finish(self, "", reply, created(session_body(id, open->token)),
           {std::move(std::get<core::accepted>(decision).event)}, std::move(aliases));
    return;
  }
  if (auto* method = std::get_if<set_payment_method_request>(&command)) {
    auto decision = core::decide_set_payment_method(ledger, method->command, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      reply.respond(decline_reply(*decline));
      return;
    }
    core::apply_event(ledger, std::get<core::accepted>(decision).event);
    const auto& stored = *ledger.payment;
    std::string body;
    core::json_writer json(body);
    json.begin_object()
      .member("object", std::string_view("payment_method"))
      .member("user", std::string_view(config.user))
      .member("psp", std::string_view(stored.psp))
      .member("reference", std::string_view(stored.reference));
    json.key("last4");
    if (stored.last4)
      json.value(std::string_view(*stored.last4));
    else
      json.null();
    json.key("brand");
    if (stored.brand)
      json.value(std::string_view(*stored.brand));
    else
      json.null();
    json.member("updated", stored.updated).end_object();
    finish(self, "", reply, ok(std::move(body)), {std::move(std::get<core::accepted>(decision).event)});
    return;
  }
  if (auto* terms = std::get_if<accept_terms_request>(&command)) {
    execute_terms(self, *terms);
    return;
  }
  if (auto* action = std::get_if<resource_action_request>(&command)) {
    execute_resource_action(self, *action);
    return;
  }
  if (auto* callback = std::get_if<oauth_callback_request>(&command)) {
    execute_oauth_callback(self, *callback);
    return;
  }
  if (auto* decided = std::get_if<decide_approval_request>(&command)) {
    execute_decide_approval(self, *decided);
    return;
  }
  if (auto* release = std::get_if<release_hold_request>(&command)) {
    auto decision = core::decide_release_hold(ledger, release->hold, now);
    if (auto* decline = std::get_if<core::decline>(&decision)) {
      reply.respond(decline_reply(*decline));
      return;
    }
    core::apply_event(ledger, std::get<core::accepted>(decision).event);
    std::string body;
    core::json_writer json(body);
    json.begin_object()
      .member("id", std::string_view(release->hold))
      .member("object", std::string_view("hold"))
      .member("status", std::string_view("released"))
      .end_object();
    finish(self, "", reply, ok(std::move(body)), {std::move(std::get<core::accepted>(decision).event)});
    return;
  }
  auto& kill = std::get<kill_user_request>(command);
  journal_kill(self, kill.session, kill.active, reply, kill.version);
}

void user_state::journal_kill(user_actor self, const std::optional<std::string>& session,
                              bool active, const net::responder& reply, std::uint64_t version) {
  const std::int64_t now = this->now();
  kill_settlement settle{session ? kill_switch::session_scope : kill_switch::user_scope,
                         session ? *session : config.user, {active, version}};
  if (!reply.valid()) {
    const bool shown = session ? ledger.sessions.contains(*session) &&
                                   ledger.sessions.at(*session).killed == active
                               : ledger.killed == active;
    if (shown) {
      // Shown durably only when no batch is in flight (the ledger runs ahead of the journal).
      if (version != 0 && config.kills != nullptr && in_flight.empty() && !failing)
        config.kills->settle(settle.scope, settle.id, settle.state);
      return;
    }
  }
  auto decision = core::decide_kill(
    ledger, session ? std::optional<std::string_view>(*session) : std::nullopt, active, now);
  if (auto* decline = std::get_if<core::decline>(&decision)) {
    if (reply.valid())
      reply.respond(decline_reply(*decline));
    return;
  }
  // In force from here: every command after this one in the mailbox sees the flag.
  core::apply_event(ledger, std::get<core::accepted>(decision).event);
  core::kill_view view;
  view.scope = session ? core::kill_scope::session : core::kill_scope::user;
  view.id = session ? *session : config.user;
  view.active = active;
  view.created = now;
  std::string body;
  core::json_writer json(body);
  core::write_kill(json, view);
  std::vector<storage::outbox_entry> outbox;
  if (active) {
    storage::outbox_entry entry;
    // The event's seq makes the id unique per activation.
    entry.id = derived_event_id(config.user + "/kill/" + std::to_string(head_seq + 1));
    entry.stream = config.user;
    entry.type = "kill.activated";
    entry.payload = kill_payload(core::to_string(view.scope), view.id, now);
    entry.created_at = now;
    outbox.push_back(std::move(entry));
  }
  batch_extras extras;
  extras.outbox = std::move(outbox);
  extras.settle = std::move(settle);
  append(self, "", reply, ok(std::move(body)), {std::move(std::get<core::accepted>(decision).event)},
         std::move(extras));
}

bool user_state::user_stopped() const {
  return ledger.killed || (config.kills != nullptr && config.kills->user_killed(config.user));
}

bool user_state::session_stopped(const std::string& session) const {
  if (auto found = ledger.sessions.find(session);
      found != ledger.sessions.end() && found->second.killed)
    return true;
  return config.kills != nullptr && config.kills->session_killed(session);
}

void user_state::reconcile_kills(user_actor self) {
  if (config.kills == nullptr)
    return;
  if (auto registered = config.kills->scoped(kill_switch::user_scope, config.user))
    journal_kill(self, std::nullopt, registered->active, net::responder{}, registered->version);
  std::vector<std::pair<std::string, kill_switch::scoped_state>> sessions;
  for (const auto& [id, session] : ledger.sessions)
    if (auto registered = config.kills->scoped(kill_switch::session_scope, id))
      sessions.emplace_back(id, *registered);
  for (const auto& [id, registered] : sessions)
    journal_kill(self, id, registered.active, net::responder{}, registered.version);
}

std::string user_state::user_body() const {
  core::user_view view;
  view.id = config.user;
  view.platform_ref = ledger.profile->platform_ref;
  view.email = ledger.profile->email;
  view.email_verified = ledger.profile->email_verified;
  view.name = ledger.profile->name;
  view.created = ledger.profile->created;
  std::string body;
  core::json_writer json(body);
  core::write_user(json, view);
  return body;
}

std::string user_state::session_body(const std::string& id,
                                     std::optional<std::string_view> token) const {
  const auto& session = ledger.sessions.at(id);
  core::session_view view;
  view.id = id;
  view.user = config.user;
  view.label = session.label;
  view.intent_domains = session.intent_domains;
  view.budget = session;
  view.killed = session_stopped(id) || user_stopped() ||
                (config.kills != nullptr && config.kills->global());
  view.created = session.created;
  std::string body;
  core::json_writer json(body);
  core::write_session(json, view, token);
  return body;
}

void user_state::answer_session(const get_session_request& request) const {
  auto found = ledger.sessions.find(request.session);
  if (found == ledger.sessions.end() || found->second.expires_at <= now()) {
    request.reply.respond(problem_reply(
      core::problem(core::api_error::unauthorized, "the session is unknown or has expired")));
    return;
  }
  request.reply.respond(ok(session_body(request.session, std::nullopt)));
}

void user_state::finish(user_actor self, const std::string& scope_key, net::responder reply,
                        net::http_response response, std::vector<core::ledger_event> events,
                        std::vector<storage::alias> aliases,
                        std::vector<storage::alias> journal_only_aliases,
                        std::vector<storage::outbox_entry> outbox) {
  batch_extras extras;
  extras.aliases = std::move(aliases);
  extras.journal_only_aliases = std::move(journal_only_aliases);
  extras.outbox = std::move(outbox);
  append(self, scope_key, std::move(reply), std::move(response), std::move(events),
         std::move(extras));
}

void user_state::append(user_actor self, const std::string& scope_key, net::responder reply,
                        net::http_response response, std::vector<core::ledger_event> events,
                        batch_extras extras) {
  // Only a command with an idempotency key has an outcome to store.
  const bool stored = !scope_key.empty() && core::is_stored_response(response.status);
  if (events.empty() && !stored && extras.sealed.empty() && extras.unsealed.empty()) {
    // Not an outcome (429, 409...): the key stays usable, nothing to make durable.
    forget(scope_key);
    reply.respond(std::move(response));
    return;
  }
  const std::int64_t now = this->now();
  storage::append_batch batch;
  batch.stream = config.user;
  batch.prev_hash = head_hash;
  for (const auto& event : events) {
    storage::event entry;
    entry.stream = config.user;
    entry.seq = ++head_seq;
    entry.type = std::string(core::event_type(event));
    core::encode_event(event, entry.payload);
    entry.created_at = core::event_time(event);
    entry.hash = core::next_chain_hash(head_hash, storage::chain_fields(entry));
    head_hash = entry.hash;
    batch.events.push_back(std::move(entry));
  }
  if (!events.empty() && config.snapshot_every_events > 0
      && head_seq - snapshot_seq >= config.snapshot_every_events) {
    storage::snapshot snapshot;
    snapshot.stream = config.user;
    snapshot.seq = head_seq;
    snapshot.hash = head_hash;
    core::encode_snapshot(ledger, snapshot.state);
    snapshot.created_at = now;
    batch.snapshot = std::move(snapshot);
    snapshot_seq = head_seq;
  }
  if (stored) {
    storage::idempotency_record record;
    record.scope_key = scope_key;
    record.fingerprint = records.at(scope_key).fingerprint;
    record.status = response.status;
    record.response_body = extras.stored_body ? *extras.stored_body : response.body;
    record.created_at = now;
    batch.idempotency.push_back(std::move(record));
  }
  batch.aliases = extras.aliases;
  for (auto& alias : extras.journal_only_aliases)
    batch.aliases.push_back(std::move(alias));
  const bool queues_webhooks = !extras.outbox.empty();
  batch.outbox = std::move(extras.outbox);
  batch.sealed = std::move(extras.sealed);
  batch.unsealed = std::move(extras.unsealed);
  const auto id = next_batch++;
  in_flight[id].push_back(pending_reply{reply, std::move(response), scope_key,
                                        std::move(extras.aliases), queues_webhooks,
                                        extras.purchase, std::move(extras.settle)});
  config.journal->append(std::move(batch),
                         [deliver = config.deliver, self, id](storage::append_outcome outcome) {
                           deliver_to(deliver, self, durable_atom::value, id, outcome);
                         });
}

void user_state::on_durable(user_actor self, std::uint64_t id, storage::append_outcome outcome) {
  auto found = in_flight.find(id);
  if (found == in_flight.end())
    return;
  auto replies = std::move(found->second);
  in_flight.erase(found);
  if (outcome.durable()) {
    for (auto& pending : replies) {
      // The stored outcome is in the journal now, where a retry's lookup finds it; an outcome
      // that is not stored leaves the key usable.
      forget(pending.scope_key);
      // What the batch minted becomes findable before anyone learns its id.
      if (config.aliases != nullptr)
        for (const auto& alias : pending.aliases)
          config.aliases->insert(alias.key, alias.stream);
      if (pending.outbox && config.outbox_ready)
        config.outbox_ready();
      if (pending.reply.valid()) // the expiry timer's batches answer nobody
        pending.reply.respond(std::move(pending.response));
      // A purchase calls its provider only once what it is about to buy is durable.
      if (pending.purchase != 0)
        send_order(self, pending.purchase);
      if (pending.settle.state.version != 0 && config.kills != nullptr)
        config.kills->settle(pending.settle.scope, pending.settle.id, pending.settle.state);
    }
  } else {
    // Nothing of the batch is stored, and the in-memory state ran ahead of the journal: answer
    // 503 (the client retries with its key), stop, and let the next command re-activate the user.
    const bool bug = *outcome.error == storage::journal_error::invalid_request;
    for (auto& pending : replies) {
      forget(pending.scope_key);
      if (pending.purchase != 0)
        end_purchase(pending.purchase,
                     overloaded_reply("the journal could not store the purchase; retry"));
      if (!pending.reply.valid())
        continue;
      pending.reply.respond(
        bug ? problem_reply(core::problem(core::api_error::internal, "the journal refused a batch"))
            : overloaded_reply("the journal could not store the request; retry"));
    }
    enter_failing(self);
  }
  maybe_stop(self);
}

void user_state::enter_failing(user_actor) {
  failing = true;
}

void user_state::maybe_stop(user_actor self) {
  if (!in_flight.empty() || !lookups.empty() || !stash.empty() || !purchases.empty() ||
      !oauth_exchanges.empty() || !resource_actions.empty())
    return;
  if (retiring) {
    // The shard has forgotten this actor, and everything it forwarded before that is answered.
    if (failing && !failure_reported && config.counters != nullptr)
      config.counters->stopped.fetch_add(1, std::memory_order_relaxed);
    // Passivated with every append durable: the shard may keep the user as this image. It is
    // sent before the actor goes down, so the shard has it when its down message arrives (CAF
    // keeps one sender's messages in order, and the down message is sent after this). Were it
    // ever to arrive later, the shard would ignore it and the user reload from the journal.
    if (passivation_requested && loaded && !failing && config.owner)
      caf::anon_send(caf::actor_cast<caf::actor>(config.owner), hibernate_atom::value, config.user,
                     self, image());
    if (quit)
      quit();
    return;
  }
  if (!failing)
    return;
  if (config.owner) {
    // Stop only when the shard has forgotten this actor: every command it forwarded before that
    // reaches this mailbox first and is answered 503, none is lost.
    if (!failure_reported) {
      failure_reported = true;
      if (config.counters != nullptr)
        config.counters->stopped.fetch_add(1, std::memory_order_relaxed);
      caf::anon_send(caf::actor_cast<caf::actor>(config.owner), user_failed_atom::value,
                     config.user, self);
    }
    return;
  }
  if (config.counters != nullptr)
    config.counters->stopped.fetch_add(1, std::memory_order_relaxed);
  if (quit)
    quit();
}

void user_state::on_retire(user_actor self) {
  // After `userfailed` nothing is pending any more (the actor reported only then, and a failing
  // actor starts nothing new). After `passivate` the shard may have forwarded commands that arrived
  // in between; they were handled before this message, but their lookups and appends may still be
  // running: the actor answers them first and stops only then. Stopping only once they are
  // durable is what lets the shard's next activation of this user read a complete journal (the
  // shard holds the user's commands until this actor is down); were it ever otherwise, the
  // journal's `(stream, seq)` key would refuse the newer activation's append with `conflict`, and
  // that activation would fail (503) and reload.
  retiring = true;
  maybe_stop(self);
}

bool user_state::has_pending_work() const {
  if (!loaded || failing || !stash.empty() || !lookups.empty() || !in_flight.empty() ||
      !ledger.holds.empty() || !waiters.empty() || !purchases.empty() || !oauth_exchanges.empty() ||
      !resource_actions.empty())
    return true;
  // The velocity windows live in memory only: a fresh activation would start them empty, so a
  // user with a charge still counting is kept (whatever idle_timeout is configured).
  const std::int64_t now = this->now();
  return std::any_of(velocity.begin(), velocity.end(),
                     [now](const auto& entry) { return entry.second.count(now) > 0; });
}

void user_state::arm_idle(user_actor self) {
  const auto period = std::max(std::chrono::milliseconds(1), config.idle_timeout / 2);
  caf::delayed_anon_send(self, period, idle_atom::value);
}

void user_state::on_idle(user_actor self) {
  if (passivation_requested || retiring)
    return; // the timer stays off: the shard answers `retire`
  if (active_since_tick) {
    active_since_tick = false;
    quiet_ticks = 0;
  } else if (quiet_ticks < 2) {
    ++quiet_ticks;
  }
  // Two quiet ticks in a row: no command for at least a whole idle_timeout.
  if (quiet_ticks >= 2 && !has_pending_work() && config.owner) {
    passivation_requested = true;
    caf::anon_send(caf::actor_cast<caf::actor>(config.owner), passivate_atom::value, config.user,
                   self);
    return;
  }
  arm_idle(self);
}

void user_state::arm_expiry(user_actor self) {
  std::int64_t earliest = 0;
  for (const auto& [id, hold] : ledger.holds)
    if (earliest == 0 || hold.expires_at < earliest)
      earliest = hold.expires_at;
  if (earliest == 0 || (expiry_at != 0 && expiry_at <= earliest))
    return;
  expiry_at = earliest;
  // A second after the expiry, so that `decide_expire` (expires_at <= now) sees it as expired.
  const std::int64_t wait = std::max<std::int64_t>(1, earliest - now() + 1);
  caf::delayed_anon_send(self, std::chrono::seconds(wait), expire_atom::value);
}

void user_state::on_expire(user_actor self) {
  expiry_at = 0;
  // A retiring actor starts no new append; the next activation arms the timer again.
  if (!loaded || failing || retiring)
    return;
  auto events = core::decide_expire(ledger, now());
  for (const auto& event : events)
    core::apply_event(ledger, event);
  if (!events.empty())
    finish(self, "", net::responder{}, net::http_response{}, std::move(events));
  arm_expiry(self);
}

void user_state::remember(const std::string& scope_key, core::idempotency_record record) {
  records.insert_or_assign(scope_key, std::move(record));
}

void user_state::forget(const std::string& scope_key) {
  if (!scope_key.empty())
    records.erase(scope_key);
}

void user_state::answer_spend(const spend_request& request) const {
  if (request.session) {
    auto found = ledger.sessions.find(*request.session);
    if (found == ledger.sessions.end() || found->second.expires_at <= now()) {
      request.reply.respond(problem_reply(
        core::problem(core::api_error::unauthorized, "the session is unknown or has expired")));
      return;
    }
  }
  std::string body;
  core::json_writer json(body);
  core::write_spend(json, ledger, now());
  request.reply.respond(ok(std::move(body)));
}

namespace {

user_actor::behavior_type user_behavior(user_actor::stateful_pointer<user_state> self,
                                        user_config config, std::optional<user_image> image) {
  self->state.config = std::move(config);
  self->state.quit = [self] { self->quit(); };
  auto handle = caf::actor_cast<user_actor>(self);
  if (image)
    self->state.resume(handle, std::move(*image));
  else
    self->state.start_loading(handle);
  if (self->state.config.owner && self->state.config.idle_timeout.count() > 0)
    self->state.arm_idle(handle);
  return {
    [self](command_atom, user_command& command) {
      self->state.handle(caf::actor_cast<user_actor>(self), std::move(command));
    },
    [self](loaded_atom, load_result& result) {
      self->state.on_loaded(caf::actor_cast<user_actor>(self), std::move(result));
    },
    [self](lookup_atom, std::uint64_t id, lookup_result& result) {
      self->state.on_lookup(caf::actor_cast<user_actor>(self), id, std::move(result));
    },
    [self](durable_atom, std::uint64_t id, storage::append_outcome outcome) {
      self->state.on_durable(caf::actor_cast<user_actor>(self), id, outcome);
    },
    [self](retire_atom) { self->state.on_retire(caf::actor_cast<user_actor>(self)); },
    [self](expire_atom) { self->state.on_expire(caf::actor_cast<user_actor>(self)); },
    [self](idle_atom) { self->state.on_idle(caf::actor_cast<user_actor>(self)); },
    [self](wait_over_atom, std::uint64_t waiter) { self->state.on_wait_over(waiter); },
    [self](account_answer_atom, std::uint64_t id, provider_answer& answer) {
      self->state.on_account_answer(caf::actor_cast<user_actor>(self), id, std::move(answer));
    },
    [self](order_answer_atom, std::uint64_t id, provider_answer& answer) {
      self->state.on_order_answer(caf::actor_cast<user_actor>(self), id, std::move(answer));
    },
    [self](oauth_answer_atom, std::uint64_t id, provider_answer& answer) {
      self->state.on_oauth_answer(caf::actor_cast<user_actor>(self), id, std::move(answer));
    },
    [self](vault_read_atom, std::uint64_t id, vault_read& read) {
      self->state.on_vault_read(caf::actor_cast<user_actor>(self), id, std::move(read));
    },
    [self](reconcile_atom, std::uint64_t id) {
      self->state.on_reconcile(caf::actor_cast<user_actor>(self), id);
    },
    [self](action_answer_atom, std::uint64_t id, provider_answer& answer) {
      self->state.on_action_answer(caf::actor_cast<user_actor>(self), id, std::move(answer));
    },
  };
}

} // namespace

user_actor spawn_user(caf::actor_system& system, user_config config,
                      std::optional<user_image> image) {
  return system.spawn(user_behavior, std::move(config), std::move(image));
}

} // namespace steward::actors
