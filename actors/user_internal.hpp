#pragma once

// Helpers shared by the user actor's translation units (user.cpp and user_provisioning.cpp): the
// replies it builds and the small accessors of its commands. Internal to actors/.

#include "actors/user.hpp"
#include "core/idempotency.hpp"
#include "core/json_writer.hpp"
#include "core/problem.hpp"
#include "net/http_client.hpp"
#include "net/problem_response.hpp"

#include <caf/send.hpp>

#include <algorithm>

#include <string>
#include <string_view>

namespace steward::actors {

inline net::http_response problem_reply(core::problem&& problem) {
  return net::problem_response(std::move(problem));
}

inline net::http_response overloaded_reply(std::string_view detail) {
  return problem_reply(core::problem(core::api_error::overloaded, detail).retry_after(1));
}

inline net::http_response decline_reply(const core::decline& decline) {
  core::problem problem(decline.code, decline.detail);
  if (decline.scope)
    problem.member("scope", core::to_string(*decline.scope));
  return problem_reply(std::move(problem));
}

/// The response to an idempotency decision other than `execute`.
inline net::http_response idempotency_reply(const core::idempotency_decision& decision) {
  switch (decision.action) {
    case core::idempotency_action::replay:
      return replay_response(decision.status, decision.body);
    case core::idempotency_action::conflict:
      return problem_reply(core::problem(
        core::api_error::idempotency_conflict,
        "this Idempotency-Key was already used with a different request body"));
    case core::idempotency_action::in_flight:
      return problem_reply(
        core::problem(core::api_error::idempotency_in_flight,
                      "the original request with this Idempotency-Key is still running")
          .retry_after(decision.retry_after_seconds));
    case core::idempotency_action::execute: break;
  }
  return problem_reply(core::problem(core::api_error::internal, "unexpected idempotency state"));
}

inline net::http_response created(std::string body) {
  net::http_response response;
  response.status = 201;
  response.body = std::move(body);
  return response;
}

inline net::http_response ok(std::string body, std::uint16_t status = 200) {
  net::http_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

/// A refusal that is not the request's outcome (a kill is lifted later): the idempotency key
/// stays usable.
inline net::http_response killed_reply(std::string_view detail) {
  return problem_reply(core::problem(core::api_error::killed, detail));
}

inline const idempotency_key* key_of(const user_command& command) {
  if (auto* charge = std::get_if<charge_request>(&command))
    return &charge->idempotency;
  if (auto* token = std::get_if<create_token_request>(&command))
    return &token->idempotency;
  if (auto* refund = std::get_if<refund_request>(&command))
    return &refund->idempotency;
  if (auto* hold = std::get_if<hold_request>(&command))
    return &hold->idempotency;
  if (auto* provision = std::get_if<provision_resource_request>(&command))
    return &provision->idempotency;
  if (auto* action = std::get_if<resource_action_request>(&command))
    if (action->what == resource_action_request::action::rotate ||
        action->what == resource_action_request::action::remove)
      return &action->idempotency;
  return nullptr;
}

inline storage::alias make_alias(std::string_view prefix, std::string_view name, std::string value) {
  return storage::alias{make_alias_key(prefix, name), std::move(value)};
}

inline net::responder reply_of(const user_command& command) {
  return std::visit([](const auto& request) { return request.reply; }, command);
}

/// Answers `command` with `response`, unless nobody waits for it: the kill route's own request
/// to journal a user or session kill the register already made durable carries no responder.
inline void answer_command(const user_command& command, net::http_response response) {
  if (auto reply = reply_of(command); reply.valid())
    reply.respond(std::move(response));
}

// --- Provider calls (purchases and resource actions) ----------------------------------------------

/// Whether a provider call's effect is unknown, so that only the same request with the same key
/// may settle it: a 5xx, a 2xx steward could not read, 408, 409 (the provider still runs the
/// original of this key), 429, or a transport failure. Only a request the client refused before
/// sending anything, or a refusal the provider stands by (another 4xx), is known to have bought
/// nothing.
inline bool in_doubt(const net::client_result& result) {
  if (auto* response = std::get_if<net::client_response>(&result))
    return response->status >= 500 || (response->status >= 200 && response->status < 300) ||
           response->status == 408 || response->status == 409 || response->status == 429;
  auto const error = std::get<net::client_error>(result);
  return error != net::client_error::invalid_request && error != net::client_error::insecure_url;
}

/// Whether a provider call that bought nothing is worth retrying: it never got an answer, or
/// the provider was failing or overloaded (5xx, 408, 429). A 4xx refusal is not.
inline bool worth_retry(const net::client_result& result) {
  auto* response = std::get_if<net::client_response>(&result);
  return response == nullptr || response->status >= 500 || response->status == 408 ||
         response->status == 429;
}

/// "answered 503", "timeout": what happened to a provider call, for details and logs.
inline std::string what_happened(const net::client_result& result) {
  if (auto* response = std::get_if<net::client_response>(&result))
    return "answered " + std::to_string(response->status);
  return std::string(net::to_string(std::get<net::client_error>(result)));
}

/// A definitive refusal's failure code: the provider's problem `code`, else `http_<status>`.
inline std::string failure_code_of(const net::client_response& response) {
  constexpr std::string_view key = "\"code\":\"";
  auto at = response.body.find(key);
  if (at != std::string::npos) {
    auto start = at + key.size();
    auto end = response.body.find('"', start);
    std::string code = response.body.substr(start, end - start);
    if (!code.empty() && code.size() <= core::limits::failure_code_bytes_max &&
        std::all_of(code.begin(), code.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9');
        }))
      return code;
  }
  return "http_" + std::to_string(response.status);
}

inline net::http_response provider_problem(core::api_error code, std::string detail) {
  return problem_reply(core::problem(code, std::move(detail)));
}

/// A short page for the human's browser at the end of the OAuth dance.
inline net::http_response browser_page(std::uint16_t status, std::string text) {
  net::http_response response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = std::move(text) + "\n";
  return response;
}

/// The resource as the API shows it, with `credentials` (compact JSON, or null) appended.
inline std::string resource_body(const std::string& id, const core::resource_state& resource,
                                 std::string_view credentials) {
  std::string body;
  core::json_writer w(body);
  core::write_resource(w, id, resource);
  body.pop_back(); // the closing brace: credentials are the last member
  body += ",\"credentials\":";
  body += credentials.empty() ? std::string_view("null") : credentials;
  body += '}';
  return body;
}

/// 202: the request waits for a human (DESIGN 4.1).
inline std::string requires_human_body(const std::string& id,
                                       const core::approval_state& approval, std::int64_t now) {
  std::string out;
  core::json_writer w(out);
  w.begin_object().member("status", "requires_human").key("approval");
  core::write_approval(w, id, approval, now);
  w.key("next_steps").begin_array();
  w.string("wait for the human's decision: GET /v1/approvals/" + id + "?wait=" +
           std::to_string(core::limits::approval_wait_seconds_max));
  w.string("then send the same request again with the same Idempotency-Key");
  w.end_array().end_object();
  return out;
}

/// Sends `message` to `self` through the configured delivery (from a foreign thread).
template <class... Ts>
void deliver_to(const delivery& deliver, const user_actor& self, Ts... xs) {
  auto send = [self, xs...] { caf::anon_send(self, xs...); };
  if (deliver)
    deliver(std::move(send));
  else
    send();
}

/// A call to provider `provider` (its breaker's key) with the purchase deadline.
inline net::client_request provider_call(net::http_method method, std::string url,
                                         std::string provider) {
  net::client_request call;
  call.method = method;
  call.url = std::move(url);
  call.timeout_ms = core::limits::purchase_call_timeout_ms;
  call.provider = std::move(provider);
  return call;
}

/// Sends `call` through the provider client; the result comes back to `self` as
/// `(Atom, id, provider_answer)`, delivered like the journal's callbacks.
template <class Atom>
void send_provider_call(net::http_client& client, const delivery& deliver, const user_actor& self,
                        net::client_request call, Atom, std::uint64_t id) {
  client.request(std::move(call), [deliver, self, id](net::client_result result) {
    deliver_to(deliver, self, Atom::value, id, provider_answer{std::move(result)});
  });
}

} // namespace steward::actors
