#pragma once

// Helpers shared by the user actor's translation units (user.cpp and user_provisioning.cpp): the
// replies it builds and the small accessors of its commands. Internal to actors/.

#include "actors/user.hpp"
#include "core/idempotency.hpp"
#include "core/problem.hpp"
#include "net/problem_response.hpp"

#include <caf/send.hpp>

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
  return nullptr;
}

inline storage::alias make_alias(std::string_view prefix, std::string_view name, std::string value) {
  return storage::alias{make_alias_key(prefix, name), std::move(value)};
}

inline net::responder reply_of(const user_command& command) {
  return std::visit([](const auto& request) { return request.reply; }, command);
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

} // namespace steward::actors
