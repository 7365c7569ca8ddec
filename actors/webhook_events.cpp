#include "actors/webhook_events.hpp"

#include "core/ids.hpp"
#include "core/json_writer.hpp"
#include "core/sha256.hpp"

#include <algorithm>

namespace steward::actors {

std::string derived_event_id(std::string_view seed) {
  auto digest = core::sha256(seed);
  core::id_bits bits{};
  std::copy_n(digest.begin(), bits.size(), bits.begin());
  return core::format_id(core::id_kind::event, bits);
}

std::string threshold_payload(const std::string& user, const core::ledger_state& ledger,
                              const core::charge_created& charge,
                              const core::threshold_crossing& crossing) {
  std::int64_t used = 0;
  std::int64_t cap = 0;
  switch (crossing.scope) {
    case core::budget_scope::session: {
      const auto& session = ledger.sessions.at(*charge.session);
      used = session.spent + session.held;
      cap = session.run_budget.amount;
      break;
    }
    case core::budget_scope::provider_monthly: {
      const auto& provider = ledger.providers.at(charge.provider);
      used = provider.spent + provider.held;
      cap = core::provider_cap(ledger, charge.provider);
      break;
    }
    case core::budget_scope::global_monthly:
      used = ledger.global_spent + ledger.global_held;
      cap = ledger.global_cap.value_or(0);
      break;
    case core::budget_scope::token: break;
  }
  std::string out;
  core::json_writer json(out);
  json.begin_object()
    .member("user", std::string_view(user))
    .member("scope", core::to_string(crossing.scope))
    .member("percent", std::int64_t{crossing.percent});
  json.key("provider");
  if (crossing.scope == core::budget_scope::global_monthly)
    json.null();
  else
    json.value(std::string_view(charge.provider));
  json.key("session");
  if (crossing.scope == core::budget_scope::session)
    json.value(std::string_view(*charge.session));
  else
    json.null();
  json.key("used");
  core::write_money(json, {used, ledger.ledger_currency});
  json.key("cap");
  core::write_money(json, {cap, ledger.ledger_currency});
  json.member("charge", std::string_view(charge.id)).end_object();
  return out;
}

std::string kill_payload(std::string_view scope, std::string_view id, std::int64_t at) {
  std::string out;
  core::json_writer json(out);
  json.begin_object().member("scope", scope);
  json.key("id");
  if (id.empty())
    json.null();
  else
    json.value(id);
  json.member("created", at).end_object();
  return out;
}

} // namespace steward::actors
