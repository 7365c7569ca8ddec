#pragma once

// The preflight of `POST /v1/resources` (DESIGN 4.1 and issue 4): every check a purchase must pass
// before steward touches a provider or a budget, decided from the user's ledger and the provider's
// catalog alone. A `dry_run` answers with the checks and changes nothing; a real request stops at
// the first refusal (an error) or the first open gate (a human approval to ask for), in the order
// below, and proceeds only when every check passes.
//
//   check            fails with                    when
//   session          401 unauthorized / 403 killed the session is expired, unknown or killed, or
//                                                  the user is killed
//   config           422 config_invalid            the config breaks the service's JSON Schema
//   terms            gate tos_acceptance           the user has not accepted the provider's
//                                                  current terms version
//   billing          gate billing_setup            the service is priced and the user has no
//                                                  payment method
//   intent           422 intent_mismatch           durable: the value resembles an intent of the
//                                                  session without being it (`expected` names it)
//   confirmation     gate purchase_confirmation    durable, or a fixed price above
//                                                  `limits::purchase_confirmation_above_default`,
//                                                  and no approved, unused approval of exactly
//                                                  this provider, service, value (and session)
//   max_amount       402 budget_exceeded (token)   the price is above the request's max_amount
//   budget           402 budget_exceeded (scope)   a hold of the price would not fit a budget
//   account          never fails                   informative: linked, or to be created or
//                                                  linked at the provider
//
// Decisions (docs/provisioning.md, "Provisioning preflight"):
//  - The value a durable purchase buys is the request's `name`, else the config's string member
//    `name`; a durable service without one is config_invalid. It is compared in normalised form
//    (core/intent_guard.hpp).
//  - Durable purchases always need a purchase_confirmation approval naming the exact value, even
//    when the session's intents name it: the issue lists durable purchases among the gates, and a
//    non-refundable purchase is worth one human click. Intents screen lookalikes before any gate
//    opens, so a human is never asked to approve `superseal.cc` when the run was about
//    `superseal.club`.
//  - Metered services place no hold (their price is per unit); the payment token they get is
//    bounded by `max_amount` and the budgets at each charge.
//
// Pure: no I/O, no clock.

#include "core/catalog.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/ledger.hpp"
#include "core/money.hpp"
#include "core/provider_protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

/// `POST /v1/resources`.
struct provision_request {
  std::string service; ///< `provider/service`
  std::optional<std::string> name;
  raw_json config;     ///< a JSON object; `{}` when absent
  std::optional<money> max_amount;
  bool dry_run = false;
};

/// Decodes the body strictly (unknown members refused). `service` is required and must look like
/// `provider/service`; `config`, when present, must be an object.
json_error decode_provision_request(std::string_view body, provision_request& out);

/// The provider slug and service id of a `provider/service` text, or nullopt.
std::optional<std::pair<std::string, std::string>> split_service_id(std::string_view id);

struct preflight_check {
  std::string_view check; ///< "session", "config", "terms", ...
  bool pass = true;
  std::optional<api_error> code;      ///< why it failed, when it is a refusal
  std::optional<approval_kind> gate;  ///< the gate it opens, when it is one
  std::string detail;            ///< what was found, for the agent
  std::string remedy;            ///< what a person or the agent can do, when it failed
};

/// A human gate the request must wait for.
struct preflight_gate {
  approval_kind kind = approval_kind::purchase_confirmation;
  std::string value;
  std::optional<money> amount;
  std::string message;
  std::optional<std::string> url;
};

struct preflight_result {
  std::vector<preflight_check> checks;
  /// The first refusal (an error answer), if any; `checks` stop growing after it.
  std::optional<decline> refusal;
  std::optional<std::string> expected; ///< intent_mismatch's `expected`
  /// The first gate, if no refusal came first.
  std::optional<preflight_gate> gate;
  std::string value;                 ///< the normalised durable value; empty for others
  std::string name;                  ///< the name sent to the provider: `name`, else config.name
  std::optional<money> hold_amount;  ///< what to hold: the fixed price; none for free or metered
  std::string approval;              ///< the purchase_confirmation approval it would consume

  bool passed() const noexcept { return !refusal && !gate; }
};

/// Kill switches in force that the ledger may not show yet: the kill register records a user or
/// session kill before the ledger's event for it is durable (docs/spend-core.md, "Kill switch").
struct kills_in_force {
  bool user = false;
  bool session = false;
};

/// Runs the checks above. `session` is the agent's session id (it must be in the ledger);
/// `confirmation_above` is the fixed price above which a non-durable purchase is gated; `kills`
/// adds to the ledger's own kill flags.
preflight_result run_preflight(const ledger_state& ledger, std::string_view session,
                               const provider_catalog& catalog, const catalog_service& service,
                               const provision_request& request, std::int64_t now,
                               std::int64_t confirmation_above, kills_in_force kills = {});

/// The ids a purchase mints (the user actor draws them at random).
struct purchase_ids {
  std::string resource; ///< res_
  std::string token;    ///< ptk_, used when the service is priced
  std::string hold;     ///< hld_, used when the preflight names a hold amount
};

/// The first batch of a purchase whose preflight passed, and what the provider is sent.
struct purchase_plan {
  /// In order: token.created, hold.placed (fixed price), resource.requested, approval.used (when
  /// a purchase_confirmation approved it). Decided one after the other on a copy of the ledger.
  std::vector<ledger_event> events;
  std::optional<order_token> token; ///< the payment token granted to the provider
  std::string provider_key;         ///< the Idempotency-Key of the provider call
  std::string order;                ///< the `POST {base}/resources` body
};

/// Decides the purchase after `run_preflight(...)` passed, at `now`. The payment token is scoped
/// to the provider and the session: a fixed price gets a single-use token of exactly the price and
/// a hold of the price on it, both valid `limits::purchase_hold_seconds`; a metered service gets
/// a reusable token of `max_amount` (else the session's run budget) until the session expires,
/// and no hold (every charge is checked against the budgets when it happens); a free service gets
/// neither. A decline (a budget that moved since the preflight, a bound of the ledger) names what
/// failed; nothing is changed.
std::variant<purchase_plan, decline> plan_purchase(const ledger_state& ledger,
                                                   std::string_view session,
                                                   const provider_catalog& catalog,
                                                   const catalog_service& service,
                                                   const provision_request& request,
                                                   const preflight_result& preflight,
                                                   const purchase_ids& ids, std::int64_t now);

/// `{"object":"preflight","service","dry_run":true,"pass":bool,"checks":[{"check","pass","code",
/// "detail","remedy"}]}`.
void write_preflight(json_writer& w, std::string_view service_id, const preflight_result& result);

} // namespace steward::core
