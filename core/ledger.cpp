#include "core/ledger.hpp"

#include "core/api_messages.hpp"
#include "core/assert.hpp"
#include "core/card_number.hpp"
#include "core/ids.hpp"
#include "core/ledger_checks.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace steward::core {

namespace ledger_checks {

accepted accept(ledger_event event) { return accepted{std::move(event), {}, 0}; }

decline refuse(api_error code, std::string detail, std::optional<budget_scope> scope) {
  return decline{code, scope, std::move(detail)};
}

std::optional<decline> check_amount(const ledger_state& state, money amount, std::int64_t min,
                                    std::string_view what) {
  if (amount.code != state.ledger_currency)
    return refuse(api_error::unsupported_currency,
                  std::string(what) + " must be in " + std::string(to_string(state.ledger_currency)) +
                    ", the currency of this user's budgets");
  if (amount.amount < min || amount.amount > limits::money_amount_max)
    return refuse(api_error::invalid_field, std::string(what) + " must be from " +
                                              std::to_string(min) + " to " +
                                              std::to_string(limits::money_amount_max));
  return std::nullopt;
}

std::optional<decline> check_new_id(id_kind kind, std::string_view id) {
  if (!is_valid(kind, id))
    return refuse(api_error::invalid_field,
                  "id must be a well-formed " + std::string(prefix(kind)) + " id");
  return std::nullopt;
}

} // namespace ledger_checks

namespace {

using ledger_checks::accept;
using ledger_checks::check_amount;
using ledger_checks::check_new_id;
using ledger_checks::refuse;

using int128 = __int128;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// --- Small helpers ---------------------------------------------------------------------------------

/// The month a decision at `now` counts in: months only move forward, so an event stamped in an
/// earlier month (a clock stepped back) still counts in the ledger's current one.
std::int64_t effective_month(const ledger_state& state, std::int64_t now) noexcept {
  return std::max(state.month, month_index(now));
}

/// Month-to-date spend of a provider entry as of `now` (zero once the month has turned).
std::int64_t spent_as_of(const ledger_state& state, std::int64_t spent, std::int64_t now) noexcept {
  return effective_month(state, now) == state.month ? spent : 0;
}

/// Moves the ledger into the month of `at` when that is later, which resets month-to-date spend.
void roll_month(ledger_state& state, std::int64_t at) {
  std::int64_t month = month_index(at);
  if (month <= state.month) return;
  state.month = month;
  state.global_spent = 0;
  for (auto it = state.providers.begin(); it != state.providers.end();) {
    it->second.spent = 0;
    if (!it->second.cap && it->second.held == 0)
      it = state.providers.erase(it);
    else
      ++it;
  }
}

/// Drops a provider entry that carries nothing, so the map only holds providers that matter.
void prune_provider(ledger_state& state, std::string_view provider) {
  auto it = state.providers.find(provider);
  if (it != state.providers.end() && !it->second.cap && it->second.spent == 0 &&
      it->second.held == 0)
    state.providers.erase(it);
}

void add_to(std::int64_t& total, std::int64_t amount) {
  auto sum = checked_add(total, amount);
  STEWARD_ASSERT(sum.has_value());
  total = *sum;
  STEWARD_ASSERT(total >= 0);
}

template <class Map>
auto& must_find(Map& map, std::string_view key) {
  auto it = map.find(key);
  STEWARD_ASSERT(it != map.end());
  return it->second;
}

// --- The budget check shared by holds and charges ------------------------------------------------

/// What a charge or hold asks of the budgets. A charge that settles a hold is credited, per
/// scope, with what that hold reserved there: only the excess over the hold is new demand.
struct budget_demand {
  const token_state* token = nullptr;
  const session_state* session = nullptr;
  std::string_view provider;
  std::int64_t amount = 0;
  std::int64_t token_credit = 0;
  std::int64_t session_credit = 0;
  std::int64_t provider_credit = 0;
  std::int64_t global_credit = 0;
};

/// Checks one cap. 128-bit sums: the operands are bounded int64s, so they cannot overflow here.
bool over_cap(int128 used, int128 credit, int128 amount, int128 cap) noexcept {
  return used - credit + amount > cap;
}

void record_crossings(accepted& result, budget_scope scope, int128 before, int128 after,
                      int128 cap) {
  for (std::uint8_t percent : threshold_percents) {
    int128 mark = cap * percent; // compare x/cap >= p/100 as 100x >= p*cap, exactly
    if (before * 100 < mark && after * 100 >= mark) {
      STEWARD_ASSERT(result.crossing_count < threshold_crossings_max);
      result.crossings[result.crossing_count++] = {scope, percent};
    }
  }
}

std::string over_detail(std::string_view what, int128 left, currency code) {
  if (left < 0) left = 0;
  return std::string(what) + " has " + std::to_string(static_cast<std::int64_t>(left)) + " " +
         std::string(to_string(code)) + " left";
}

/// Declines with the first budget that cannot take the demand, in the documented order, or
/// records the thresholds the demand crosses in `result`.
std::optional<decline> check_budgets(const ledger_state& state, const budget_demand& d,
                                     std::int64_t now, accepted& result) {
  const currency code = state.ledger_currency;
  if (d.token != nullptr) {
    int128 used = int128{d.token->used} + d.token->held;
    if (over_cap(used, d.token_credit, d.amount, d.token->max_amount.amount))
      return refuse(api_error::budget_exceeded,
                    over_detail("the payment token", int128{d.token->max_amount.amount} - used +
                                                        d.token_credit, code),
                    budget_scope::token);
  }
  int128 session_before = 0, session_after = 0, session_cap = 0;
  if (d.session != nullptr) {
    session_before = int128{d.session->spent} + d.session->held;
    session_after = session_before - d.session_credit + d.amount;
    session_cap = d.session->run_budget.amount;
    if (session_after > session_cap)
      return refuse(api_error::budget_exceeded,
                    over_detail("the session's run budget",
                                session_cap - session_before + d.session_credit, code),
                    budget_scope::session);
  }
  const provider_state* provider = nullptr;
  if (auto it = state.providers.find(d.provider); it != state.providers.end())
    provider = &it->second;
  int128 provider_before =
    provider ? int128{spent_as_of(state, provider->spent, now)} + provider->held : 0;
  int128 provider_after = provider_before - d.provider_credit + d.amount;
  int128 provider_limit = provider_cap(state, d.provider);
  if (provider_after > provider_limit)
    return refuse(api_error::budget_exceeded,
                  over_detail("the monthly cap for " + std::string(d.provider),
                              provider_limit - provider_before + d.provider_credit, code),
                  budget_scope::provider_monthly);
  int128 global_before = int128{spent_as_of(state, state.global_spent, now)} + state.global_held;
  int128 global_after = global_before - d.global_credit + d.amount;
  if (state.global_cap && global_after > *state.global_cap)
    return refuse(api_error::budget_exceeded,
                  over_detail("the global monthly cap",
                              int128{*state.global_cap} - global_before + d.global_credit, code),
                  budget_scope::global_monthly);

  if (d.session != nullptr)
    record_crossings(result, budget_scope::session, session_before, session_after, session_cap);
  record_crossings(result, budget_scope::provider_monthly, provider_before, provider_after,
                   provider_limit);
  if (state.global_cap)
    record_crossings(result, budget_scope::global_monthly, global_before, global_after,
                     *state.global_cap);
  return std::nullopt;
}

/// The checks every use of a token makes before its budget: revoked, expired, single use spent.
std::optional<decline> check_token_usable(const token_state& token, std::int64_t now) {
  if (token.revoked)
    return refuse(api_error::token_revoked, "the payment token was revoked", budget_scope::token);
  if (now >= token.expires_at)
    return refuse(api_error::token_expired, "the payment token expired", budget_scope::token);
  if (token.single_use && token.charges > 0)
    return refuse(api_error::budget_exceeded, "the single-use payment token was already used",
                  budget_scope::token);
  return std::nullopt;
}

std::optional<decline> check_provider_room(const ledger_state& state, std::string_view provider) {
  if (!is_valid_provider_slug(provider)) return refuse(api_error::invalid_field, "invalid provider slug");
  if (!state.providers.contains(provider) &&
      state.providers.size() >= limits::ledger_providers_max)
    return refuse(api_error::rate_limited, "too many providers with spend or caps for this user");
  return std::nullopt;
}

/// Bytes of a session's label and intent domains, as counted against
/// `limits::ledger_session_metadata_bytes_max`.
std::size_t metadata_bytes(std::string_view label, const std::vector<std::string>& domains) {
  std::size_t bytes = label.size();
  for (const std::string& domain : domains) bytes += domain.size();
  return bytes;
}

/// Checks a session's label and intent domains as the API does (bounds, domain syntax, distinct),
/// so that the ledger never journals what its own decoder would refuse.
std::optional<decline> check_session_metadata(const ledger_state& state,
                                              const open_session_command& command) {
  if (command.label.size() > session_label_bytes_max)
    return refuse(api_error::invalid_field, "label must be at most " +
                                              std::to_string(session_label_bytes_max) + " bytes");
  if (command.intent_domains.size() > intent_domains_max)
    return refuse(api_error::invalid_field, "at most " + std::to_string(intent_domains_max) +
                                              " intent domains");
  for (std::size_t i = 0; i < command.intent_domains.size(); ++i) {
    const std::string& domain = command.intent_domains[i];
    if (!is_valid_domain(domain))
      return refuse(api_error::invalid_field, "intent domain " + std::to_string(i) +
                                                " must be a lowercase domain name");
    for (std::size_t j = 0; j < i; ++j)
      if (command.intent_domains[j] == domain)
        return refuse(api_error::invalid_field,
                      "intent domain " + std::to_string(i) + " repeats " + std::to_string(j));
  }
  std::size_t total = metadata_bytes(command.label, command.intent_domains);
  for (const auto& [id, session] : state.sessions)
    total += metadata_bytes(session.label, session.intent_domains);
  if (total > limits::ledger_session_metadata_bytes_max)
    return refuse(api_error::rate_limited,
                  "the live sessions of this user carry too many label and domain bytes");
  return std::nullopt;
}

/// Undoes a hold's reservation everywhere and removes it.
void drop_hold(ledger_state& state, std::string_view id) {
  auto it = state.holds.find(id);
  STEWARD_ASSERT(it != state.holds.end());
  const hold_state& hold = it->second;
  if (hold.token) add_to(must_find(state.tokens, *hold.token).held, -hold.amount);
  if (hold.session) add_to(must_find(state.sessions, *hold.session).held, -hold.amount);
  add_to(must_find(state.providers, hold.provider).held, -hold.amount);
  add_to(state.global_held, -hold.amount);
  std::string provider = hold.provider;
  state.holds.erase(it);
  prune_provider(state, provider);
}

} // namespace

// --- Calendar ------------------------------------------------------------------------------------

// Dates are computed in 400-year eras: the Gregorian calendar repeats every 146097 days. Shifting
// the year to start on March 1 puts the leap day last, so the day of the year maps to a month
// without a table: months from March have lengths 31 30 31 30 31 31 30 31 30 31 31 (28/29), and
// (153 * m + 2) / 5 gives the first day of shifted month m.

civil_date civil_from_unix_seconds(std::int64_t unix_s) noexcept {
  std::int64_t days = unix_s / 86400;
  if (unix_s % 86400 < 0) --days; // floor, so 1969-12-31T23:59:59 is day -1
  days += 719468;                 // from 1970-01-01 to 0000-03-01
  std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  std::int64_t day_of_era = days - era * 146097;                                 // [0, 146096]
  std::int64_t year_of_era =
    (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365; // [0, 399]
  std::int64_t day_of_year =
    day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);      // [0, 365]
  std::int64_t shifted_month = (5 * day_of_year + 2) / 153;                      // [0, 11], 0 = Mar
  civil_date date;
  date.day = static_cast<std::uint32_t>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  date.month = static_cast<std::uint32_t>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  date.year = year_of_era + era * 400 + (date.month <= 2 ? 1 : 0);
  return date;
}

std::int64_t days_from_civil(civil_date date) noexcept {
  std::int64_t year = date.year - (date.month <= 2 ? 1 : 0);
  std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  std::int64_t year_of_era = year - era * 400;
  std::int64_t shifted_month = date.month > 2 ? date.month - 3 : date.month + 9;
  std::int64_t day_of_year = (153 * shifted_month + 2) / 5 + date.day - 1;
  std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

std::int64_t month_index(std::int64_t unix_s) noexcept {
  civil_date date = civil_from_unix_seconds(unix_s);
  return (date.year - 1970) * 12 + (static_cast<std::int64_t>(date.month) - 1);
}

std::int64_t session_expires_at(std::int64_t unix_ms, std::int64_t ttl_seconds) noexcept {
  std::int64_t seconds = unix_ms / 1000;
  if (unix_ms % 1000 > 0)
    ++seconds;
  return seconds + ttl_seconds;
}

// --- State ---------------------------------------------------------------------------------------

std::string_view to_string(budget_scope scope) noexcept {
  switch (scope) {
  case budget_scope::token: return "token";
  case budget_scope::session: return "session";
  case budget_scope::provider_monthly: return "provider_monthly";
  case budget_scope::global_monthly: return "global_monthly";
  }
  return "token";
}

std::int64_t provider_cap(const ledger_state& state, std::string_view provider) noexcept {
  auto it = state.providers.find(provider);
  if (it != state.providers.end() && it->second.cap) return it->second.cap->amount;
  return state.provider_cap_default;
}

std::optional<std::string_view>
check_payment_method_syntax(std::string_view psp, std::string_view reference,
                            const std::optional<std::string>& last4,
                            const std::optional<std::string>& brand) noexcept {
  auto visible_ascii = [](std::string_view text, std::size_t bytes_max) {
    return !text.empty() && text.size() <= bytes_max &&
           std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  auto psp_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  if (psp.empty() || psp.size() > psp_bytes_max || !std::all_of(psp.begin(), psp.end(), psp_char))
    return "psp";
  if (!visible_ascii(reference, payment_reference_bytes_max)) return "reference";
  if (last4 && (last4->size() != 4 || !std::all_of(last4->begin(), last4->end(), [](char c) {
                  return c >= '0' && c <= '9';
                })))
    return "last4";
  if (brand && !visible_ascii(*brand, card_brand_bytes_max)) return "brand";
  return std::nullopt;
}

std::optional<std::string> check_invariants(const ledger_state& state) {
  const currency code = state.ledger_currency;
  auto bounded = [](std::int64_t v) { return v >= 0 && v <= limits::money_amount_max * 4; };
  if (state.provider_cap_default < 0 || state.provider_cap_default > limits::money_amount_max)
    return "provider_cap_default out of range";
  if (state.global_cap && (*state.global_cap < 0 || *state.global_cap > limits::money_amount_max))
    return "global_cap out of range";
  if (state.providers.size() > limits::ledger_providers_max ||
      state.sessions.size() > limits::ledger_sessions_max ||
      state.tokens.size() > limits::ledger_tokens_max ||
      state.holds.size() > limits::ledger_holds_max ||
      state.charges.size() > limits::ledger_charges_retained_max)
    return "a map exceeds its limit";

  ledger_map<std::int64_t> token_held, session_held, provider_held;
  std::int64_t global_held = 0;
  for (const auto& [id, hold] : state.holds) {
    if (!is_valid(id_kind::hold, id)) return "invalid hold id " + id;
    if (hold.amount <= 0 || hold.amount > limits::money_amount_max) return "hold amount " + id;
    if (hold.token) {
      auto token = state.tokens.find(*hold.token);
      if (token == state.tokens.end()) return "hold " + id + " names a missing token";
      if (token->second.provider != hold.provider) return "hold " + id + " provider != token's";
      token_held[*hold.token] += hold.amount;
    }
    if (hold.session) {
      if (!state.sessions.contains(*hold.session)) return "hold " + id + " names a missing session";
      session_held[*hold.session] += hold.amount;
    }
    if (!state.providers.contains(hold.provider)) return "hold " + id + " names a missing provider";
    provider_held[hold.provider] += hold.amount;
    global_held += hold.amount;
  }
  if (global_held != state.global_held) return "global_held != sum of holds";

  for (const auto& [id, token] : state.tokens) {
    if (!is_valid(id_kind::payment_token, id)) return "invalid token id " + id;
    if (!is_valid_provider_slug(token.provider)) return "token " + id + " provider slug";
    if (token.session && !state.sessions.contains(*token.session))
      return "token " + id + " names a missing session";
    if (token.max_amount.code != code) return "token " + id + " currency";
    auto held = token_held.find(id);
    if (token.held != (held == token_held.end() ? 0 : held->second)) return "token " + id + " held";
    if (!bounded(token.used) || int128{token.used} + token.held > token.max_amount.amount)
      return "token " + id + " used + held exceeds max_amount";
  }
  std::size_t metadata = 0;
  for (const auto& [id, session] : state.sessions) {
    if (!is_valid(id_kind::session, id)) return "invalid session id " + id;
    if (session.run_budget.code != code) return "session " + id + " currency";
    auto held = session_held.find(id);
    if (session.held != (held == session_held.end() ? 0 : held->second))
      return "session " + id + " held";
    if (!bounded(session.spent)) return "session " + id + " spent";
    if (session.label.size() > session_label_bytes_max) return "session " + id + " label";
    if (session.intent_domains.size() > intent_domains_max ||
        !std::all_of(session.intent_domains.begin(), session.intent_domains.end(),
                     [](const std::string& d) { return is_valid_domain(d); }))
      return "session " + id + " intent domains";
    metadata += metadata_bytes(session.label, session.intent_domains);
  }
  if (metadata > limits::ledger_session_metadata_bytes_max) return "session metadata exceeds its limit";
  if (auto violation = check_provisioning_invariants(state)) return violation;
  if (state.profile) {
    const user_profile& profile = *state.profile;
    if (!is_valid_platform_ref(profile.platform_ref)) return "profile platform_ref";
    if (!is_valid_email(profile.email)) return "profile email";
    if (profile.name && profile.name->size() > user_name_bytes_max) return "profile name";
  }
  // Syntax only: a card number cannot get here past decide_set_payment_method, and refusing a
  // snapshot over it would lock the user out without un-storing anything.
  if (state.payment) {
    const payment_method& payment = *state.payment;
    if (auto member = check_payment_method_syntax(payment.psp, payment.reference, payment.last4,
                                                  payment.brand))
      return "payment " + std::string(*member);
  }
  std::int64_t provider_spent = 0;
  for (const auto& [slug, provider] : state.providers) {
    if (!is_valid_provider_slug(slug)) return "provider slug " + slug;
    if (provider.cap && provider.cap->code != code) return "provider " + slug + " currency";
    auto held = provider_held.find(slug);
    if (provider.held != (held == provider_held.end() ? 0 : held->second))
      return "provider " + slug + " held";
    if (!bounded(provider.spent)) return "provider " + slug + " spent";
    if (!provider.cap && provider.spent == 0 && provider.held == 0)
      return "provider " + slug + " kept although empty";
    provider_spent += provider.spent;
  }
  if (provider_spent != state.global_spent) return "global_spent != sum of provider spend";

  if (state.charge_order.size() != state.charges.size()) return "charge_order size";
  for (const auto& id : state.charge_order) {
    auto it = state.charges.find(id);
    if (it == state.charges.end()) return "charge_order names a missing charge";
    const charge_state& charge = it->second;
    if (!is_valid(id_kind::charge, id)) return "invalid charge id " + id;
    if (charge.amount <= 0 || charge.refunded < 0 || charge.refunded > charge.amount)
      return "charge " + id + " refunded";
    if (charge.month > state.month) return "charge " + id + " month";
  }
  return std::nullopt;
}

// --- Events --------------------------------------------------------------------------------------

std::string_view event_type(const ledger_event& event) noexcept {
  return std::visit(
    overloaded{
      [](const currency_set&) -> std::string_view { return "currency.set"; },
      [](const cap_set&) -> std::string_view { return "cap.set"; },
      [](const session_opened&) -> std::string_view { return "session.opened"; },
      [](const session_budget_set&) -> std::string_view { return "session.budget_set"; },
      [](const token_created&) -> std::string_view { return "token.created"; },
      [](const token_revoked&) -> std::string_view { return "token.revoked"; },
      [](const hold_placed&) -> std::string_view { return "hold.placed"; },
      [](const hold_released& e) -> std::string_view {
        return e.expired ? "hold.expired" : "hold.released";
      },
      [](const charge_created&) -> std::string_view { return "charge.created"; },
      [](const refund_created&) -> std::string_view { return "refund.created"; },
      [](const retired& e) -> std::string_view {
        switch (e.kind) {
        case retired::what::token: return "token.retired";
        case retired::what::session: return "session.retired";
        case retired::what::approval: return "approval.retired";
        case retired::what::resource: return "resource.retired";
        }
        return "token.retired";
      },
      [](const user_upserted&) -> std::string_view { return "user.upserted"; },
      [](const kill_set&) -> std::string_view { return "kill.set"; },
      [](const payment_method_set&) -> std::string_view { return "payment_method.set"; },
      [](const terms_accepted&) -> std::string_view { return "terms.accepted"; },
      [](const approval_opened&) -> std::string_view { return "approval.opened"; },
      [](const approval_decided&) -> std::string_view { return "approval.decided"; },
      [](const approval_used&) -> std::string_view { return "approval.used"; },
      [](const link_created&) -> std::string_view { return "link.created"; },
      [](const resource_requested&) -> std::string_view { return "resource.requested"; },
      [](const resource_updated&) -> std::string_view { return "resource.updated"; },
      [](const resource_revealed&) -> std::string_view { return "resource.revealed"; },
    },
    event);
}

std::int64_t event_time(const ledger_event& event) noexcept {
  return std::visit([](const auto& e) { return e.at; }, event);
}

void apply_event(ledger_state& state, const ledger_event& event) {
  roll_month(state, event_time(event));
  std::visit(
    overloaded{
      [&](const currency_set& e) {
        state.ledger_currency = e.code;
      },
      [&](const cap_set& e) {
        switch (e.kind) {
        case cap_kind::provider_default:
          state.provider_cap_default = e.cap ? e.cap->amount : limits::provider_monthly_cap_default;
          break;
        case cap_kind::global:
          state.global_cap = e.cap ? std::optional(e.cap->amount) : std::nullopt;
          break;
        case cap_kind::provider:
          state.providers[e.provider].cap = e.cap;
          prune_provider(state, e.provider);
          break;
        }
      },
      [&](const session_opened& e) {
        auto [it, inserted] = state.sessions.try_emplace(e.id);
        STEWARD_ASSERT(inserted);
        session_state& session = it->second;
        session.run_budget = e.run_budget;
        session.expires_at = e.expires_at;
        session.label = e.label;
        session.intent_domains = e.intent_domains;
        session.created = e.at;
      },
      [&](const session_budget_set& e) { must_find(state.sessions, e.id).run_budget = e.run_budget; },
      [&](const token_created& e) {
        auto [it, inserted] = state.tokens.try_emplace(e.id);
        STEWARD_ASSERT(inserted);
        token_state& token = it->second;
        token.provider = e.provider;
        token.session = e.session;
        token.max_amount = e.max_amount;
        token.expires_at = e.expires_at;
        token.single_use = e.single_use;
      },
      [&](const token_revoked& e) { must_find(state.tokens, e.id).revoked = true; },
      [&](const hold_placed& e) {
        auto [it, inserted] = state.holds.try_emplace(e.id);
        STEWARD_ASSERT(inserted);
        it->second = {e.provider, e.session, e.token, e.amount.amount, e.expires_at};
        if (e.token) add_to(must_find(state.tokens, *e.token).held, e.amount.amount);
        if (e.session) add_to(must_find(state.sessions, *e.session).held, e.amount.amount);
        add_to(state.providers[e.provider].held, e.amount.amount);
        add_to(state.global_held, e.amount.amount);
      },
      [&](const hold_released& e) { drop_hold(state, e.id); },
      [&](const charge_created& e) {
        if (e.hold) drop_hold(state, *e.hold);
        token_state& token = must_find(state.tokens, e.token);
        add_to(token.used, e.amount.amount);
        ++token.charges;
        if (e.session) add_to(must_find(state.sessions, *e.session).spent, e.amount.amount);
        add_to(state.providers[e.provider].spent, e.amount.amount);
        add_to(state.global_spent, e.amount.amount);
        // Hinted at the end, where a time-ordered id goes (`keeps_charge`); others search.
        const std::size_t kept = state.charges.size();
        auto it = state.charges.try_emplace(state.charges.end(), e.id);
        STEWARD_ASSERT(state.charges.size() == kept + 1);
        it->second = {e.token, e.provider, e.session, e.amount.amount, 0, state.month, e.at};
        state.charge_order.push_back(e.id);
        if (state.charge_order.size() > limits::ledger_charges_retained_max) {
          state.charges.erase(state.charge_order.front());
          state.charge_order.pop_front();
        }
      },
      [&](const refund_created& e) {
        charge_state& charge = must_find(state.charges, e.charge);
        add_to(charge.refunded, e.amount.amount);
        STEWARD_ASSERT(charge.refunded <= charge.amount);
        // A refund gives back month-to-date room only in the month the charge counted in; a
        // refund of last month's charge must not create headroom this month.
        if (charge.month == state.month) {
          add_to(must_find(state.providers, charge.provider).spent, -e.amount.amount);
          add_to(state.global_spent, -e.amount.amount);
          prune_provider(state, charge.provider);
        }
        if (charge.session) {
          if (auto it = state.sessions.find(*charge.session); it != state.sessions.end())
            add_to(it->second.spent, -e.amount.amount);
        }
      },
      [&](const retired& e) {
        switch (e.kind) {
        case retired::what::token:
          STEWARD_ASSERT(must_find(state.tokens, e.id).held == 0);
          state.tokens.erase(e.id);
          break;
        case retired::what::session:
          STEWARD_ASSERT(must_find(state.sessions, e.id).held == 0);
          state.sessions.erase(e.id);
          break;
        case retired::what::approval: {
          auto erased = state.approvals.erase(e.id);
          STEWARD_ASSERT(erased == 1);
          break;
        }
        case retired::what::resource: {
          auto erased = state.resources.erase(e.id);
          STEWARD_ASSERT(erased == 1);
          break;
        }
        }
      },
      [&](const user_upserted& e) {
        STEWARD_ASSERT(!state.profile || state.profile->platform_ref == e.platform_ref);
        const std::int64_t created = state.profile ? state.profile->created : e.at;
        state.profile =
          user_profile{e.platform_ref, e.email, e.email_verified, e.name, created, e.at};
      },
      [&](const kill_set& e) {
        if (e.session_scope)
          must_find(state.sessions, e.session).killed = e.active;
        else
          state.killed = e.active;
      },
      [&](const payment_method_set& e) {
        state.payment = payment_method{e.psp, e.reference, e.last4, e.brand, e.at};
      },
      // The provisioning events (core/ledger_provisioning.cpp).
      [&](const auto& e) { apply_provisioning(state, e); },
    },
    event);
}

// --- Decisions -----------------------------------------------------------------------------------

decision decide_set_currency(const ledger_state& state, const set_currency_command& command,
                             std::int64_t now) {
  // Without exchange rates, amounts already in the ledger could not be re-expressed; so the
  // currency is chosen before the first token, session, hold, charge or cap.
  if (!state.sessions.empty() || !state.tokens.empty() || !state.holds.empty() ||
      !state.approvals.empty() || !state.resources.empty() ||
      !state.charges.empty() || !state.providers.empty() || state.global_cap ||
      state.global_spent != 0)
    return refuse(api_error::invalid_field,
                  "the currency can only be changed before any budget, token or charge exists");
  return accept(currency_set{command.code, now});
}

decision decide_set_cap(const ledger_state& state, const set_cap_command& command,
                        std::int64_t now) {
  if (command.kind == cap_kind::provider) {
    if (auto refused = check_provider_room(state, command.provider)) return *refused;
  } else if (!command.provider.empty()) {
    return refuse(api_error::invalid_field, "only a provider cap names a provider");
  }
  if (command.cap)
    if (auto refused = check_amount(state, *command.cap, 0, "cap")) return *refused;
  return accept(cap_set{command.kind, command.provider, command.cap, now});
}

decision decide_open_session(const ledger_state& state, const open_session_command& command,
                             std::int64_t now) {
  if (auto refused = check_new_id(id_kind::session, command.id)) return *refused;
  if (state.sessions.contains(command.id))
    return refuse(api_error::invalid_field, "a session with this id exists");
  if (state.sessions.size() >= limits::ledger_sessions_max)
    return refuse(api_error::rate_limited, "too many live sessions for this user");
  if (auto refused = check_amount(state, command.run_budget, 0, "run_budget")) return *refused;
  if (command.expires_at <= now)
    return refuse(api_error::invalid_field, "expires_at must be in the future");
  if (auto refused = check_session_metadata(state, command)) return *refused;
  return accept(session_opened{command.id, command.run_budget, command.expires_at, command.label,
                               command.intent_domains, now});
}

decision decide_set_session_budget(const ledger_state& state,
                                   const set_session_budget_command& command, std::int64_t now) {
  if (!state.sessions.contains(command.id))
    return refuse(api_error::not_found, "no such session");
  if (auto refused = check_amount(state, command.run_budget, 0, "run_budget")) return *refused;
  return accept(session_budget_set{command.id, command.run_budget, now});
}

decision decide_create_token(const ledger_state& state, const create_token_command& command,
                             std::int64_t now) {
  if (auto refused = check_new_id(id_kind::payment_token, command.id)) return *refused;
  if (state.tokens.contains(command.id))
    return refuse(api_error::invalid_field, "a payment token with this id exists");
  if (state.tokens.size() >= limits::ledger_tokens_max)
    return refuse(api_error::rate_limited, "too many live payment tokens for this user");
  if (!is_valid_provider_slug(command.provider)) return refuse(api_error::invalid_field, "invalid provider");
  if (command.session && !state.sessions.contains(*command.session))
    return refuse(api_error::not_found, "no such session");
  if (auto refused = check_amount(state, command.max_amount, 1, "max_amount")) return *refused;
  if (command.expires_at <= now)
    return refuse(api_error::invalid_field, "expires_at must be in the future");
  return accept(token_created{command.id, command.provider, command.session, command.max_amount,
                              command.expires_at, command.single_use, now});
}

decision decide_revoke_token(const ledger_state& state, std::string_view token,
                             std::int64_t now) {
  if (!state.tokens.contains(token)) return refuse(api_error::not_found, "no such payment token");
  return accept(token_revoked{std::string(token), now});
}

decision decide_hold(const ledger_state& state, const hold_command& command, std::int64_t now) {
  if (auto refused = check_new_id(id_kind::hold, command.id)) return *refused;
  if (state.holds.contains(command.id))
    return refuse(api_error::invalid_field, "a hold with this id exists");
  if (state.holds.size() >= limits::ledger_holds_max)
    return refuse(api_error::rate_limited, "too many open holds for this user");
  if (auto refused = check_provider_room(state, command.provider)) return *refused;
  if (auto refused = check_amount(state, command.amount, 1, "amount")) return *refused;
  if (command.expires_at <= now || command.expires_at - now > limits::hold_ttl_seconds_max)
    return refuse(api_error::invalid_field,
                  "expires_at must be within " + std::to_string(limits::hold_ttl_seconds_max) +
                    " seconds from now");

  budget_demand demand;
  demand.provider = command.provider;
  demand.amount = command.amount.amount;
  std::optional<std::string> session = command.session;
  if (command.token) {
    auto it = state.tokens.find(*command.token);
    if (it == state.tokens.end() || it->second.provider != command.provider)
      return refuse(api_error::not_found, "no such payment token");
    if (auto refused = check_token_usable(it->second, now)) return *refused;
    demand.token = &it->second;
    // A hold on a session's token reserves against that session, named or not.
    if (it->second.session) {
      if (session && *session != *it->second.session)
        return refuse(api_error::invalid_field, "the payment token belongs to another session");
      session = it->second.session;
    }
  }
  if (session) {
    auto it = state.sessions.find(*session);
    if (it == state.sessions.end()) return refuse(api_error::not_found, "no such session");
    demand.session = &it->second;
  }
  accepted result = accept(hold_placed{command.id, command.provider, session, command.token,
                                       command.amount, command.expires_at, now});
  if (auto refused = check_budgets(state, demand, now, result)) return *refused;
  return result;
}

decision decide_release_hold(const ledger_state& state, std::string_view hold, std::int64_t now) {
  if (!state.holds.contains(hold)) return refuse(api_error::not_found, "no such hold");
  return accept(hold_released{std::string(hold), false, now});
}

namespace {

/// Whether `state` keeps a charge `id`. A new charge's id leads with its minting millisecond, so
/// it sorts after every charge kept (core/ids.hpp): the last key answers without a search then.
bool keeps_charge(const ledger_state& state, std::string_view id) {
  if (state.charges.empty() || state.charges.rbegin()->first < id) return false;
  return state.charges.contains(id);
}

} // namespace

decision decide_charge(const ledger_state& state, const charge_command& command,
                       std::int64_t now) {
  if (auto refused = check_new_id(id_kind::charge, command.id)) return *refused;
  if (keeps_charge(state, command.id))
    return refuse(api_error::invalid_field, "a charge with this id exists");
  auto token_it = state.tokens.find(command.token);
  if (token_it == state.tokens.end() || token_it->second.provider != command.provider)
    return refuse(api_error::not_found, "no such payment token");
  const token_state& token = token_it->second;
  if (auto refused = check_amount(state, command.amount, 1, "amount")) return *refused;
  if (command.description.size() > limits::charge_description_bytes_max)
    return refuse(api_error::invalid_field, "description is too long");
  if (!state.providers.contains(command.provider) &&
      state.providers.size() >= limits::ledger_providers_max)
    return refuse(api_error::rate_limited, "too many providers with spend or caps for this user");
  if (auto refused = check_token_usable(token, now)) return *refused;

  budget_demand demand;
  demand.token = &token;
  demand.provider = command.provider;
  demand.amount = command.amount.amount;
  if (token.session) demand.session = &must_find(state.sessions, *token.session);
  // A charge on a single-use token that names no hold settles the open hold placed on that
  // token: a provider charging the payment token of a purchase settles the purchase's hold
  // without having to know it exists (DESIGN 5 gives providers only the token).
  std::optional<std::string> hold_id = command.hold;
  if (!hold_id && token.single_use)
    for (const auto& [id, open] : state.holds)
      if (open.token && *open.token == command.token && now < open.expires_at) {
        hold_id = id;
        break;
      }
  if (hold_id) {
    auto it = state.holds.find(*hold_id);
    if (it == state.holds.end() || now >= it->second.expires_at)
      return refuse(api_error::not_found, "no such open hold");
    const hold_state& hold = it->second;
    if (hold.provider != command.provider || (hold.token && *hold.token != command.token) ||
        (hold.session && hold.session != token.session))
      return refuse(api_error::invalid_field, "the hold was placed for another token or session");
    // The hold already reserved its amount against each scope it names; the charge needs only
    // what it adds beyond that.
    demand.token_credit = hold.token ? hold.amount : 0;
    demand.session_credit = hold.session ? hold.amount : 0;
    demand.provider_credit = hold.amount;
    demand.global_credit = hold.amount;
  }
  accepted result = accept(charge_created{command.id, command.token, token.provider, token.session,
                                          command.amount, command.description, hold_id, now});
  if (auto refused = check_budgets(state, demand, now, result)) return *refused;
  return result;
}

decision decide_refund(const ledger_state& state, const refund_command& command,
                       std::int64_t now) {
  if (auto refused = check_new_id(id_kind::refund, command.id)) return *refused;
  auto it = state.charges.find(command.charge);
  if (it == state.charges.end() || it->second.provider != command.provider)
    return refuse(api_error::not_found, "no such charge");
  if (auto refused = check_amount(state, command.amount, 1, "amount")) return *refused;
  std::int64_t refundable = it->second.amount - it->second.refunded;
  if (command.amount.amount > refundable)
    return refuse(api_error::invalid_field,
                  "amount exceeds the refundable " + std::to_string(refundable));
  return accept(refund_created{command.id, command.charge, command.amount, now});
}

decision decide_upsert_user(const ledger_state& state, const upsert_user_command& command,
                            std::int64_t now) {
  // The platform_ref is checked first: a caller that names another user learns nothing else.
  if (state.profile && state.profile->platform_ref != command.platform_ref)
    return refuse(api_error::forbidden, "this user belongs to another platform_ref");
  if (!state.profile && !command.email)
    return refuse(api_error::invalid_field, "email is required to create a user");
  if (!is_valid_platform_ref(command.platform_ref))
    return refuse(api_error::invalid_field, "invalid platform_ref");
  if (command.email && !is_valid_email(*command.email))
    return refuse(api_error::invalid_field, "email must be an email address");
  if (command.name.present && command.name.value &&
      command.name.value->size() > user_name_bytes_max)
    return refuse(api_error::invalid_field,
                  "name must be at most " + std::to_string(user_name_bytes_max) + " bytes");

  // The event carries the whole resulting profile, so replay needs no merge.
  user_upserted event;
  event.platform_ref = command.platform_ref;
  event.at = now;
  if (state.profile) {
    event.email = command.email.value_or(state.profile->email);
    event.email_verified = command.email_verified.value_or(state.profile->email_verified);
    event.name = command.name.present ? command.name.value : state.profile->name;
  } else {
    event.email = *command.email;
    event.email_verified = command.email_verified.value_or(false);
    event.name = command.name.value; // absent and null both leave a new user without a name
  }
  return accept(std::move(event));
}

decision decide_kill(const ledger_state& state, std::optional<std::string_view> session,
                     bool active, std::int64_t now) {
  if (session && !state.sessions.contains(*session))
    return refuse(api_error::not_found, "no such session");
  return accept(kill_set{session.has_value(), std::string(session.value_or("")), active, now});
}

decision decide_set_payment_method(const ledger_state& state,
                                   const set_payment_method_command& command, std::int64_t now) {
  if (!state.profile) return refuse(api_error::not_found, "no such user");
  // Card numbers first, as the API decoder does: a card number is reported as one, not as a
  // member that is too long. The detail never quotes the value.
  const std::pair<std::string_view, const std::string*> members[] = {
    {"psp", &command.psp},
    {"reference", &command.reference},
    {"last4", command.last4 ? &*command.last4 : nullptr},
    {"brand", command.brand ? &*command.brand : nullptr},
  };
  for (const auto& [member, value] : members)
    if (value && contains_card_number(*value))
      return refuse(api_error::invalid_field,
                    std::string(member) +
                      " looks like a card number; card numbers are never accepted, send the "
                      "PSP's token for the payment method (e.g. pm_...)");
  if (auto member = check_payment_method_syntax(command.psp, command.reference, command.last4,
                                                command.brand)) {
    std::string detail;
    if (*member == "psp")
      detail = "psp must be 1 to " + std::to_string(psp_bytes_max) +
               " of a-z, 0-9, '_' and '-', e.g. \"stripe\"";
    else if (*member == "reference")
      detail = "reference must be 1 to " + std::to_string(payment_reference_bytes_max) +
               " visible ASCII characters (the PSP's token)";
    else if (*member == "last4")
      detail = "last4 must be exactly four digits";
    else
      detail = "brand must be 1 to " + std::to_string(card_brand_bytes_max) +
               " visible ASCII characters, e.g. \"visa\"";
    return refuse(api_error::invalid_field, std::move(detail));
  }
  return accept(
    payment_method_set{command.psp, command.reference, command.last4, command.brand, now});
}

std::vector<ledger_event> decide_expire(const ledger_state& state, std::int64_t now) {
  std::vector<ledger_event> events;
  ledger_map<bool> expiring_holds;
  for (const auto& [id, hold] : state.holds) {
    if (hold.expires_at > now) continue;
    events.push_back(hold_released{id, true, now});
    expiring_holds.emplace(id, true);
  }
  auto retire_due = [&](std::int64_t expires_at) {
    return expires_at <= now - limits::ledger_retire_after_seconds;
  };
  auto held_by_open_hold = [&](auto matches) {
    for (const auto& [id, hold] : state.holds)
      if (!expiring_holds.contains(id) && matches(hold)) return true;
    return false;
  };
  ledger_map<bool> retiring_tokens;
  for (const auto& [id, token] : state.tokens) {
    if (!retire_due(token.expires_at)) continue;
    // A named copy: clang 14 cannot capture a structured binding in a lambda.
    const auto& token_id = id;
    if (held_by_open_hold([&token_id](const hold_state& h) { return h.token == token_id; })) continue;
    events.push_back(retired{retired::what::token, id, now});
    retiring_tokens.emplace(id, true);
  }
  for (const auto& [id, session] : state.sessions) {
    if (!retire_due(session.expires_at)) continue;
    const auto& session_id = id;
    if (held_by_open_hold([&session_id](const hold_state& h) { return h.session == session_id; }))
      continue;
    bool token_refers = false;
    for (const auto& [token_id, token] : state.tokens)
      if (token.session == id && !retiring_tokens.contains(token_id)) token_refers = true;
    if (token_refers) continue;
    events.push_back(retired{retired::what::session, id, now});
  }
  std::vector<retired> closed;
  decide_retire_provisioning(state, now, closed);
  events.insert(events.end(), closed.begin(), closed.end());
  return events;
}

} // namespace steward::core
