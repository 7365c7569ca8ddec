#include "core/provisioning.hpp"

#include "core/ids.hpp"
#include "core/intent_guard.hpp"
#include "core/json_failure.hpp"

#include <simdjson.h>

#include <algorithm>

namespace steward::core {

namespace {

/// The config's top-level string member `name`, if any. The config passed its schema already and
/// may have any members, so this reads it with simdjson directly rather than the strict decoder.
std::optional<std::string> config_name(std::string_view config) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(config);
  simdjson::ondemand::document document;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS)
    return std::nullopt;
  simdjson::ondemand::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS)
    return std::nullopt;
  std::string_view name;
  if (object.find_field_unordered("name").get_string().get(name) != simdjson::SUCCESS)
    return std::nullopt;
  return std::string(name);
}

std::string money_text(money m) {
  return std::to_string(m.amount) + " " + std::string(to_string(m.code)) + " minor units";
}

} // namespace

std::optional<std::pair<std::string, std::string>> split_service_id(std::string_view id) {
  auto const slash = id.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto provider = id.substr(0, slash);
  auto service = id.substr(slash + 1);
  if (!is_valid_provider_slug(provider) || service.empty() ||
      service.size() > limits::catalog_service_id_bytes_max || service.find('/') != service.npos)
    return std::nullopt;
  return std::pair{std::string(provider), std::string(service)};
}

json_error decode_provision_request(std::string_view body, provision_request& out) {
  out = provision_request{};
  money_field max_amount;
  bool has_max = false;
  auto error = decode(body, [&](object_reader& o) {
    o.required("service", out.service, limits::provider_slug_bytes_max + 1 +
                                         limits::catalog_service_id_bytes_max);
    o.optional("name", out.name, limits::resource_name_bytes_max);
    o.optional("config", out.config);
    o.optional("max_amount", [&](object_reader& m) {
      has_max = true;
      declare_money(m, max_amount, amount_sign::positive);
    });
    o.optional("dry_run", out.dry_run);
  });
  if (error)
    return error;
  if (!split_service_id(out.service))
    return json_failure(api_error::invalid_field, "/service", "must be a catalog service id, provider/service");
  if (out.config.text.empty())
    out.config.text = "{}";
  else if (out.config.text.front() != '{')
    return json_failure(api_error::invalid_field, "/config", "must be an object");
  if (has_max) {
    money resolved;
    if (auto e = resolve_money(max_amount, "/max_amount", resolved))
      return e;
    out.max_amount = resolved;
  }
  return {};
}

preflight_result run_preflight(const ledger_state& ledger, std::string_view session_id,
                               const provider_catalog& catalog, const catalog_service& service,
                               const provision_request& request, std::int64_t now,
                               std::int64_t confirmation_above, kills_in_force kills) {
  preflight_result result;
  auto pass = [&](std::string_view check, std::string detail) {
    result.checks.push_back({check, true, std::nullopt, std::nullopt, std::move(detail), {}});
  };
  auto refuse = [&](std::string_view check, api_error code, std::string detail,
                    std::string remedy, std::optional<budget_scope> scope = std::nullopt) {
    result.checks.push_back({check, false, code, std::nullopt, detail, std::move(remedy)});
    if (!result.refusal && !result.gate)
      result.refusal = decline{code, scope, std::move(detail)};
  };
  auto gate = [&](std::string_view check, approval_kind kind, std::string detail,
                  std::string remedy, preflight_gate open) {
    result.checks.push_back({check, false, std::nullopt, kind, std::move(detail), std::move(remedy)});
    open.kind = kind;
    if (!result.refusal && !result.gate)
      result.gate = std::move(open);
  };
  const std::string& provider = catalog.provider;

  // session
  auto session_it = ledger.sessions.find(session_id);
  if (session_it == ledger.sessions.end() || now >= session_it->second.expires_at) {
    refuse("session", api_error::unauthorized, "the session is expired or unknown",
           "ask the platform for a new session");
    return result;
  }
  const session_state& session = session_it->second;
  const bool user_killed = ledger.killed || kills.user;
  if (user_killed || session.killed || kills.session) {
    refuse("session", api_error::killed,
           user_killed ? "the user's kill switch is on" : "the session's kill switch is on",
           "a human lifts the kill switch (DELETE /v1/kill)");
    return result;
  }
  pass("session", "open");

  // config
  if (auto violation = service.schema->validate(request.config.text)) {
    refuse("config", api_error::config_invalid,
           (violation.instance_pointer.empty() ? std::string("config") : "config" + violation.instance_pointer) +
             ": " + violation.detail,
           "fix the config to match the service's configuration_schema (GET /v1/catalog/" +
             provider + "/" + service.id + ")");
    return result;
  }
  // The name the provider is asked for is the one checked: when the request names it twice, the
  // two must agree (a human approves `name`, the provider may read config.name).
  std::optional<std::string> named_in_config = config_name(request.config.text);
  auto same_name = [](const std::string& a, const std::string& b) {
    if (a == b)
      return true;
    auto na = normalize_domain(a), nb = normalize_domain(b);
    return na && nb && *na == *nb;
  };
  if (request.name && named_in_config && !same_name(*request.name, *named_in_config)) {
    refuse("config", api_error::config_invalid,
           "name (" + *request.name + ") and config.name (" + *named_in_config + ") differ",
           "give the name once, or the same name in both");
    return result;
  }
  result.name = request.name ? *request.name : named_in_config.value_or(std::string());
  pass("config", "matches the configuration schema");

  // terms
  auto terms = ledger.terms.find(provider);
  if (terms == ledger.terms.end() || terms->second.version != catalog.terms.version) {
    std::string detail = terms == ledger.terms.end()
                           ? "the user has not accepted " + provider + "'s terms"
                           : "the user accepted version " + terms->second.version +
                               ", the provider's terms are now version " + catalog.terms.version;
    preflight_gate open;
    open.value = catalog.terms.version; // approving the gate accepts this version
    open.message = "Accept " + provider + "'s terms of service (version " + catalog.terms.version +
                   ") to use its services.";
    open.url = catalog.terms.url;
    gate("terms", approval_kind::tos_acceptance, std::move(detail),
         "a human reads the terms and the platform records it: POST /v1/users/{id}/terms/" +
           provider + " {\"version\":\"" + catalog.terms.version + "\",\"accepted_by\":...}",
         std::move(open));
  } else {
    pass("terms", "version " + catalog.terms.version + " accepted");
  }

  // billing
  const bool priced = service.pricing.type != pricing_type::free;
  if (priced && !ledger.payment) {
    preflight_gate open;
    open.message = "Add a payment method so that " + provider + "/" + service.id +
                   " can be paid for.";
    gate("billing", approval_kind::billing_setup, "the service is priced and the user has no payment method",
         "the human adds a payment method; the platform records it with PUT "
         "/v1/users/{id}/payment_method",
         std::move(open));
  } else {
    pass("billing", priced ? "payment method on file" : "free service");
  }

  // intent (durable purchases)
  std::optional<money> price = service.pricing.price;
  if (service.durable) {
    std::optional<std::string> raw = request.name ? request.name : named_in_config;
    auto normalised = raw ? normalize_domain(*raw) : std::nullopt;
    if (!normalised) {
      refuse("intent", api_error::config_invalid,
             raw ? "the name to buy is not a valid domain name" : "a durable purchase needs a name",
             "give the exact name to buy in `name` or config.name");
      return result;
    }
    result.value = *normalised;
    std::vector<std::string> approved;
    for (const auto& [id, approval] : ledger.approvals)
      if (approval.kind == approval_kind::purchase_confirmation && approval.provider == provider &&
          approval.service == service.id && status_at(approval, now) == approval_status::approved &&
          (!approval.session || *approval.session == session_id))
        approved.push_back(approval.value);
    auto verdict = check_intent(result.value, session.intent_domains, approved);
    if (verdict.verdict == intent_verdict::lookalike) {
      result.expected = verdict.expected;
      refuse("intent", api_error::intent_mismatch,
             result.value + " is not what this run intends; did you mean " + verdict.expected + "?",
             "buy exactly " + verdict.expected + ", or ask the human to open a session that intends " +
               result.value);
      return result;
    }
    if (verdict.verdict == intent_verdict::invalid) {
      refuse("intent", api_error::config_invalid, "the name to buy is not a valid domain name",
             "give the exact name to buy");
      return result;
    }
    pass("intent", verdict ? result.value + " is intended" : result.value + " needs a human's approval");
  }

  // confirmation
  const bool large = service.pricing.type == pricing_type::fixed && price &&
                     price->amount > confirmation_above;
  if (service.durable || large) {
    result.approval = find_usable_approval(ledger, approval_kind::purchase_confirmation, session_id,
                                           provider, service.id, result.value, now);
    if (result.approval.empty()) {
      preflight_gate open;
      open.value = result.value;
      open.amount = price;
      open.message = "Confirm the purchase of " + provider + "/" + service.id +
                     (result.value.empty() ? std::string() : " " + result.value) +
                     (price ? " for " + money_text(*price) : std::string()) +
                     (service.durable ? " (non-refundable)." : ".");
      gate("confirmation", approval_kind::purchase_confirmation,
           service.durable ? "a durable purchase needs a human's confirmation of its exact value"
                           : "the price is above the confirmation threshold",
           "a human approves the purchase (POST /v1/approvals/{id}/approve); then send the request "
           "again",
           std::move(open));
    } else {
      pass("confirmation", "approved by " + result.approval);
    }
  }

  // max_amount and budget
  if (service.pricing.type == pricing_type::fixed && price) {
    if (request.max_amount && (request.max_amount->code != price->code ||
                               request.max_amount->amount < price->amount)) {
      refuse("max_amount", api_error::budget_exceeded,
             "the price " + money_text(*price) + " is above max_amount",
             "raise max_amount or choose a cheaper service", budget_scope::token);
      return result;
    }
    hold_command probe;
    probe.id = std::string(prefix(id_kind::hold)) + std::string(id_random_chars, '0');
    probe.provider = provider;
    probe.session = std::string(session_id);
    probe.amount = *price;
    probe.expires_at = now + limits::preflight_hold_probe_seconds;
    auto decision = decide_hold(ledger, probe, now);
    if (auto* declined = std::get_if<decline>(&decision)) {
      refuse("budget", declined->code, declined->detail,
             declined->code == api_error::budget_exceeded
               ? "a human raises the budget that is short (the session's run budget or a monthly "
                 "cap), or the agent chooses a cheaper service"
               : "",
             declined->scope);
      return result;
    }
    result.hold_amount = price;
    pass("budget", money_text(*price) + " fits every budget");
  } else {
    pass("budget", service.pricing.type == pricing_type::free
                     ? "free"
                     : "metered: every charge is checked against the budgets when it happens");
  }

  // account
  auto link = ledger.links.find(provider);
  pass("account", link != ledger.links.end()
                    ? "linked (" + std::string(to_string(link->second.outcome)) + ")"
                    : "an account will be created or linked at " + provider);
  return result;
}

std::variant<purchase_plan, decline> plan_purchase(const ledger_state& ledger,
                                                   std::string_view session,
                                                   const provider_catalog& catalog,
                                                   const catalog_service& service,
                                                   const provision_request& request,
                                                   const preflight_result& preflight,
                                                   const purchase_ids& ids, std::int64_t now) {
  ledger_state next = ledger;
  purchase_plan plan;
  auto step = [&](decision made) -> std::optional<decline> {
    if (auto* refused = std::get_if<decline>(&made))
      return std::move(*refused);
    auto& event = std::get<accepted>(made).event;
    apply_event(next, event);
    plan.events.push_back(std::move(event));
    return std::nullopt;
  };
  const std::string& provider = catalog.provider;
  const session_state& open_session = ledger.sessions.at(std::string(session));
  const std::int64_t purchase_expiry = now + limits::purchase_hold_seconds;

  if (service.pricing.type != pricing_type::free) {
    create_token_command token;
    token.id = ids.token;
    token.provider = provider;
    token.session = std::string(session);
    if (service.pricing.type == pricing_type::fixed && preflight.hold_amount) {
      token.max_amount = *preflight.hold_amount;
      token.expires_at = std::min(purchase_expiry, open_session.expires_at);
      token.single_use = true;
    } else {
      token.max_amount = request.max_amount.value_or(open_session.run_budget);
      token.expires_at = open_session.expires_at;
      token.single_use = false;
    }
    if (auto refused = step(decide_create_token(next, token, now)))
      return *refused;
    plan.token = order_token{token.id, token.max_amount, token.expires_at};
  }
  if (preflight.hold_amount) {
    hold_command hold;
    hold.id = ids.hold;
    hold.provider = provider;
    hold.session = std::string(session);
    hold.token = ids.token;
    hold.amount = *preflight.hold_amount;
    hold.expires_at = plan.token->expires_at;
    if (auto refused = step(decide_hold(next, hold, now)))
      return *refused;
  }
  plan.provider_key = "steward-" + ids.resource;
  request_resource_command resource;
  resource.id = ids.resource;
  resource.provider = provider;
  resource.service = service.id;
  resource.name = preflight.value.empty() ? preflight.name : preflight.value;
  resource.session = std::string(session);
  if (preflight.hold_amount)
    resource.hold = ids.hold;
  if (plan.token)
    resource.token = ids.token;
  resource.provider_key = plan.provider_key;
  if (auto refused = step(decide_request_resource(next, resource, now)))
    return *refused;
  if (!preflight.approval.empty())
    if (auto refused = step(decide_use_approval(next, {preflight.approval, ids.resource}, now)))
      return *refused;
  plan.order = resource_order_body(service.id, resource.name, request.config.text, plan.token);
  return plan;
}

void write_preflight(json_writer& w, std::string_view service_id, const preflight_result& result) {
  w.begin_object()
    .member("object", "preflight")
    .member("service", service_id)
    .member("dry_run", true)
    .member("pass", result.passed());
  w.key("checks").begin_array();
  for (const auto& check : result.checks) {
    w.begin_object().member("check", check.check).member("pass", check.pass);
    w.key("code");
    if (check.code)
      w.string(info(*check.code).code);
    else if (check.gate)
      w.string(to_string(*check.gate));
    else
      w.null();
    w.member("detail", check.detail);
    w.key("remedy");
    if (check.remedy.empty())
      w.null();
    else
      w.string(check.remedy);
    w.end_object();
  }
  w.end_array().end_object();
}

} // namespace steward::core
