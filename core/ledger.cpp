#include "core/ledger.hpp"

#include "core/assert.hpp"
#include "core/ids.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace steward::core {
namespace {

using int128 = __int128;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// --- Small helpers ---------------------------------------------------------------------------------

decline refuse(api_error code, std::string detail, std::optional<budget_scope> scope = {}) {
  return decline{code, scope, std::move(detail)};
}

/// Provider slugs come from configuration: lowercase letters, digits, '-' and '_', starting with a
/// letter or digit. Checked here too because a slug becomes a key of the ledger.
bool is_valid_slug(std::string_view slug) noexcept {
  if (slug.empty() || slug.size() > limits::provider_slug_bytes_max) return false;
  for (std::size_t i = 0; i < slug.size(); ++i) {
    char c = slug[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '-' && c != '_'))) return false;
  }
  return true;
}

/// Checks an amount of a command against the ledger's currency and the bounds of a field.
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

/// The month a decision at `now` counts in: months only move forward, so an event stamped in an
/// earlier month (a clock stepped back) still counts in the ledger's current one.
std::int64_t effective_month(const ledger_state& state, std::int64_t now) noexcept {
  return std::max(state.month, month_index(now));
}

/// Month-to-date spend of a provider entry as of `now` (zero once the month has turned).
std::int64_t spent_as_of(const ledger_state& state, std::int64_t spent, std::int64_t now) noexcept {
  return effective_month(state, now) == state.month ? spent : 0;
}

accepted accept(ledger_event event) { return accepted{std::move(event), {}, 0}; }

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

std::optional<decline> check_new_id(id_kind kind, std::string_view id) {
  if (!is_valid(kind, id))
    return refuse(api_error::invalid_field,
                  "id must be a " + std::string(prefix(kind)) + " id of " +
                    std::to_string(id_bytes) + " characters");
  return std::nullopt;
}

std::optional<decline> check_provider_room(const ledger_state& state, std::string_view provider) {
  if (!is_valid_slug(provider)) return refuse(api_error::invalid_field, "invalid provider slug");
  if (!state.providers.contains(provider) &&
      state.providers.size() >= limits::ledger_providers_max)
    return refuse(api_error::rate_limited, "too many providers with spend or caps for this user");
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
    if (!is_valid_slug(token.provider)) return "token " + id + " provider slug";
    if (token.session && !state.sessions.contains(*token.session))
      return "token " + id + " names a missing session";
    if (token.max_amount.code != code) return "token " + id + " currency";
    auto held = token_held.find(id);
    if (token.held != (held == token_held.end() ? 0 : held->second)) return "token " + id + " held";
    if (!bounded(token.used) || int128{token.used} + token.held > token.max_amount.amount)
      return "token " + id + " used + held exceeds max_amount";
  }
  for (const auto& [id, session] : state.sessions) {
    if (!is_valid(id_kind::session, id)) return "invalid session id " + id;
    if (session.run_budget.code != code) return "session " + id + " currency";
    auto held = session_held.find(id);
    if (session.held != (held == session_held.end() ? 0 : held->second))
      return "session " + id + " held";
    if (!bounded(session.spent)) return "session " + id + " spent";
  }
  std::int64_t provider_spent = 0;
  for (const auto& [slug, provider] : state.providers) {
    if (!is_valid_slug(slug)) return "provider slug " + slug;
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
        return e.kind == retired::what::token ? "token.retired" : "session.retired";
      },
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
        it->second.run_budget = e.run_budget;
        it->second.expires_at = e.expires_at;
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
        auto [it, inserted] = state.charges.try_emplace(e.id);
        STEWARD_ASSERT(inserted);
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
        if (e.kind == retired::what::token) {
          STEWARD_ASSERT(must_find(state.tokens, e.id).held == 0);
          state.tokens.erase(e.id);
        } else {
          STEWARD_ASSERT(must_find(state.sessions, e.id).held == 0);
          state.sessions.erase(e.id);
        }
      },
    },
    event);
}

// --- Decisions -----------------------------------------------------------------------------------

decision decide_set_currency(const ledger_state& state, const set_currency_command& command,
                             std::int64_t now) {
  // Without exchange rates, amounts already in the ledger could not be re-expressed; so the
  // currency is chosen before the first token, session, hold, charge or cap.
  if (!state.sessions.empty() || !state.tokens.empty() || !state.holds.empty() ||
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
  return accept(session_opened{command.id, command.run_budget, command.expires_at, now});
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
  if (!is_valid_slug(command.provider)) return refuse(api_error::invalid_field, "invalid provider");
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

decision decide_charge(const ledger_state& state, const charge_command& command,
                       std::int64_t now) {
  if (auto refused = check_new_id(id_kind::charge, command.id)) return *refused;
  if (state.charges.contains(command.id))
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
  if (command.hold) {
    auto it = state.holds.find(*command.hold);
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
                                          command.amount, command.description, command.hold, now});
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
  return events;
}

// --- JSON ----------------------------------------------------------------------------------------

namespace {

/// Latest time accepted in an event or snapshot: 9999-12-31T23:59:59Z. Keeps every sum of times
/// and every date computation far from overflow.
constexpr std::int64_t unix_seconds_max = 253'402'300'799;

void write_optional(json_writer& w, std::string_view key, const std::optional<std::string>& v) {
  if (v) w.member(key, *v);
}

void write_money_member(json_writer& w, std::string_view key, money m) {
  w.key(key);
  write_money(w, m);
}

std::string_view to_string(cap_kind kind) noexcept {
  switch (kind) {
  case cap_kind::provider_default: return "provider_default";
  case cap_kind::provider: return "provider";
  case cap_kind::global: return "global";
  }
  return "global";
}

std::optional<cap_kind> parse_cap_kind(std::string_view text) noexcept {
  if (text == "provider_default") return cap_kind::provider_default;
  if (text == "provider") return cap_kind::provider;
  if (text == "global") return cap_kind::global;
  return std::nullopt;
}

json_error field_error(api_error code, std::string pointer, std::string detail) {
  json_error error;
  error.failed = true;
  error.code = code;
  error.pointer = std::move(pointer);
  error.detail = std::move(detail);
  return error;
}

// Every member any event may carry. An event is decoded into all of them, then the members of its
// type are taken and any other member present is an unknown_field: the reader's own check cannot
// do that, because it must declare the same members for every object.
enum member_bit : std::uint32_t {
  m_id = 1u << 0,
  m_provider = 1u << 1,
  m_session = 1u << 2,
  m_token = 1u << 3,
  m_hold = 1u << 4,
  m_charge = 1u << 5,
  m_description = 1u << 6,
  m_currency = 1u << 7,
  m_kind = 1u << 8,
  m_amount = 1u << 9,
  m_max_amount = 1u << 10,
  m_run_budget = 1u << 11,
  m_cap = 1u << 12,
  m_expires_at = 1u << 13,
  m_single_use = 1u << 14,
  m_at = 1u << 15,
};

constexpr std::array<std::string_view, 16> member_names{
  "id",     "provider",   "session",    "token", "hold",       "charge",     "description", "currency",
  "kind",   "amount",     "max_amount", "run_budget", "cap",   "expires_at", "single_use",  "at",
};

struct event_fields {
  std::string type;
  std::optional<std::string> id, provider, session, token, hold, charge, description, currency,
    kind;
  std::optional<money_field> amount, max_amount, run_budget, cap;
  std::optional<std::int64_t> expires_at, at;
  std::optional<bool> single_use;

  std::uint32_t present() const noexcept {
    std::uint32_t bits = 0;
    auto mark = [&](bool has, member_bit bit) {
      if (has) bits |= bit;
    };
    mark(id.has_value(), m_id);
    mark(provider.has_value(), m_provider);
    mark(session.has_value(), m_session);
    mark(token.has_value(), m_token);
    mark(hold.has_value(), m_hold);
    mark(charge.has_value(), m_charge);
    mark(description.has_value(), m_description);
    mark(currency.has_value(), m_currency);
    mark(kind.has_value(), m_kind);
    mark(amount.has_value(), m_amount);
    mark(max_amount.has_value(), m_max_amount);
    mark(run_budget.has_value(), m_run_budget);
    mark(cap.has_value(), m_cap);
    mark(expires_at.has_value(), m_expires_at);
    mark(single_use.has_value(), m_single_use);
    mark(at.has_value(), m_at);
    return bits;
  }
};

struct event_shape {
  std::string_view type;
  std::uint32_t required;
  std::uint32_t optional;
};

constexpr std::array<event_shape, 13> event_shapes{{
  {"currency.set", m_currency | m_at, 0},
  {"cap.set", m_kind | m_at, m_provider | m_cap},
  {"session.opened", m_id | m_run_budget | m_expires_at | m_at, 0},
  {"session.budget_set", m_id | m_run_budget | m_at, 0},
  {"token.created", m_id | m_provider | m_max_amount | m_expires_at | m_single_use | m_at,
   m_session},
  {"token.revoked", m_id | m_at, 0},
  {"hold.placed", m_id | m_provider | m_amount | m_expires_at | m_at, m_session | m_token},
  {"hold.released", m_id | m_at, 0},
  {"hold.expired", m_id | m_at, 0},
  {"charge.created", m_id | m_token | m_provider | m_amount | m_description | m_at,
   m_session | m_hold},
  {"refund.created", m_id | m_charge | m_amount | m_at, 0},
  {"token.retired", m_id | m_at, 0},
  {"session.retired", m_id | m_at, 0},
}};

/// Checks an id member against its kind.
json_error check_id(const std::optional<std::string>& id, id_kind kind, std::string_view member) {
  if (id && !is_valid(kind, *id))
    return field_error(api_error::invalid_field, "/" + std::string(member),
                       "must be a " + std::string(prefix(kind)) + " id");
  return {};
}

/// Resolves a money member and checks its sign; `min` is 0 or 1.
json_error take_money(const std::optional<money_field>& field, std::string_view member,
                      std::int64_t min, money& out) {
  if (!field) return {};
  std::string pointer = "/" + std::string(member);
  if (json_error error = resolve_money(*field, pointer, out)) return error;
  if (out.amount < min)
    return field_error(api_error::invalid_field, pointer + "/amount", "must be positive");
  return {};
}

} // namespace

void encode_event(const ledger_event& event, std::string& out) {
  json_writer w(out);
  w.begin_object().member("type", event_type(event));
  std::visit(
    overloaded{
      [&](const currency_set& e) { w.member("currency", to_string(e.code)); },
      [&](const cap_set& e) {
        w.member("kind", to_string(e.kind));
        if (e.kind == cap_kind::provider) w.member("provider", e.provider);
        if (e.cap) write_money_member(w, "cap", *e.cap);
      },
      [&](const session_opened& e) {
        w.member("id", e.id);
        write_money_member(w, "run_budget", e.run_budget);
        w.member("expires_at", e.expires_at);
      },
      [&](const session_budget_set& e) {
        w.member("id", e.id);
        write_money_member(w, "run_budget", e.run_budget);
      },
      [&](const token_created& e) {
        w.member("id", e.id).member("provider", e.provider);
        write_optional(w, "session", e.session);
        write_money_member(w, "max_amount", e.max_amount);
        w.member("expires_at", e.expires_at).member("single_use", e.single_use);
      },
      [&](const token_revoked& e) { w.member("id", e.id); },
      [&](const hold_placed& e) {
        w.member("id", e.id).member("provider", e.provider);
        write_optional(w, "session", e.session);
        write_optional(w, "token", e.token);
        write_money_member(w, "amount", e.amount);
        w.member("expires_at", e.expires_at);
      },
      [&](const hold_released& e) { w.member("id", e.id); },
      [&](const charge_created& e) {
        w.member("id", e.id).member("token", e.token).member("provider", e.provider);
        write_optional(w, "session", e.session);
        write_money_member(w, "amount", e.amount);
        w.member("description", e.description);
        write_optional(w, "hold", e.hold);
      },
      [&](const refund_created& e) {
        w.member("id", e.id).member("charge", e.charge);
        write_money_member(w, "amount", e.amount);
      },
      [&](const retired& e) { w.member("id", e.id); },
    },
    event);
  w.member("at", event_time(event)).end_object();
}

json_error decode_event(std::string_view json, ledger_event& out) {
  event_fields f;
  auto money_member = [](object_reader& r, money_field& m) {
    declare_money(r, m, amount_sign::non_negative);
  };
  json_error error = decode(json, [&](object_reader& o) {
    o.required("type", f.type, 32);
    o.optional("id", f.id, id_bytes);
    o.optional("provider", f.provider, limits::provider_slug_bytes_max);
    o.optional("session", f.session, id_bytes);
    o.optional("token", f.token, id_bytes);
    o.optional("hold", f.hold, id_bytes);
    o.optional("charge", f.charge, id_bytes);
    o.optional("description", f.description, limits::charge_description_bytes_max);
    o.optional("currency", f.currency, currency_field_bytes_max);
    o.optional("kind", f.kind, 32);
    o.optional("amount", f.amount, money_member);
    o.optional("max_amount", f.max_amount, money_member);
    o.optional("run_budget", f.run_budget, money_member);
    o.optional("cap", f.cap, money_member);
    o.optional("expires_at", f.expires_at, std::int64_t{0}, unix_seconds_max);
    o.optional("single_use", f.single_use);
    o.optional("at", f.at, std::int64_t{0}, unix_seconds_max);
  });
  if (error) return error;

  const event_shape* shape = nullptr;
  for (const event_shape& candidate : event_shapes)
    if (candidate.type == f.type) shape = &candidate;
  if (shape == nullptr)
    return field_error(api_error::invalid_field, "/type", "unknown event type");
  std::uint32_t present = f.present();
  for (std::size_t bit = 0; bit < member_names.size(); ++bit) {
    std::uint32_t mask = 1u << bit;
    if ((present & mask) && !((shape->required | shape->optional) & mask))
      return field_error(api_error::unknown_field, "/" + std::string(member_names[bit]),
                         "not a member of " + std::string(f.type));
    if (!(present & mask) && (shape->required & mask))
      return field_error(api_error::invalid_field, "/" + std::string(member_names[bit]),
                         "required");
  }
  if (f.provider && !is_valid_slug(*f.provider))
    return field_error(api_error::invalid_field, "/provider", "invalid provider slug");
  id_kind id_of_type = id_kind::event;
  if (f.type.starts_with("session.")) id_of_type = id_kind::session;
  if (f.type.starts_with("token.")) id_of_type = id_kind::payment_token;
  if (f.type.starts_with("hold.")) id_of_type = id_kind::hold;
  if (f.type.starts_with("charge.")) id_of_type = id_kind::charge;
  if (f.type.starts_with("refund.")) id_of_type = id_kind::refund;
  if (json_error e = check_id(f.id, id_of_type, "id")) return e;
  if (json_error e = check_id(f.session, id_kind::session, "session")) return e;
  if (json_error e = check_id(f.token, id_kind::payment_token, "token")) return e;
  if (json_error e = check_id(f.hold, id_kind::hold, "hold")) return e;
  if (json_error e = check_id(f.charge, id_kind::charge, "charge")) return e;

  money amount, max_amount, run_budget, cap;
  if (json_error e = take_money(f.amount, "amount", 1, amount)) return e;
  if (json_error e = take_money(f.max_amount, "max_amount", 1, max_amount)) return e;
  if (json_error e = take_money(f.run_budget, "run_budget", 0, run_budget)) return e;
  if (json_error e = take_money(f.cap, "cap", 0, cap)) return e;

  const std::int64_t at = *f.at;
  const std::string_view type = f.type;
  if (type == "currency.set") {
    auto code = parse_currency(*f.currency);
    if (!code) return field_error(api_error::unsupported_currency, "/currency", "unsupported");
    out = currency_set{*code, at};
  } else if (type == "cap.set") {
    auto kind = parse_cap_kind(*f.kind);
    if (!kind) return field_error(api_error::invalid_field, "/kind", "unknown cap kind");
    if ((*kind == cap_kind::provider) != f.provider.has_value())
      return field_error(api_error::invalid_field, "/provider",
                         "required for, and only for, a provider cap");
    out = cap_set{*kind, f.provider.value_or(""), f.cap ? std::optional(cap) : std::nullopt, at};
  } else if (type == "session.opened") {
    out = session_opened{*f.id, run_budget, *f.expires_at, at};
  } else if (type == "session.budget_set") {
    out = session_budget_set{*f.id, run_budget, at};
  } else if (type == "token.created") {
    out = token_created{*f.id, *f.provider, f.session, max_amount, *f.expires_at, *f.single_use, at};
  } else if (type == "token.revoked") {
    out = token_revoked{*f.id, at};
  } else if (type == "hold.placed") {
    out = hold_placed{*f.id, *f.provider, f.session, f.token, amount, *f.expires_at, at};
  } else if (type == "hold.released" || type == "hold.expired") {
    out = hold_released{*f.id, type == "hold.expired", at};
  } else if (type == "charge.created") {
    out = charge_created{*f.id, *f.token, *f.provider, f.session, amount, *f.description, f.hold, at};
  } else if (type == "refund.created") {
    out = refund_created{*f.id, *f.charge, amount, at};
  } else {
    out = retired{type == "token.retired" ? retired::what::token : retired::what::session, *f.id,
                  at};
  }
  return {};
}

// --- Snapshots -----------------------------------------------------------------------------------

void encode_snapshot(const ledger_state& state, std::string& out) {
  json_writer w(out);
  w.begin_object()
    .member("currency", to_string(state.ledger_currency))
    .member("month", state.month)
    .member("provider_cap_default", state.provider_cap_default);
  if (state.global_cap) w.member("global_cap", *state.global_cap);
  w.member("global_spent", state.global_spent).member("global_held", state.global_held);

  w.key("providers").begin_array();
  for (const auto& [slug, p] : state.providers) {
    w.begin_object().member("provider", slug);
    if (p.cap) write_money_member(w, "cap", *p.cap);
    w.member("spent", p.spent).member("held", p.held).end_object();
  }
  w.end_array();

  w.key("sessions").begin_array();
  for (const auto& [id, s] : state.sessions) {
    w.begin_object().member("id", id);
    write_money_member(w, "run_budget", s.run_budget);
    w.member("expires_at", s.expires_at).member("spent", s.spent).member("held", s.held);
    w.end_object();
  }
  w.end_array();

  w.key("tokens").begin_array();
  for (const auto& [id, t] : state.tokens) {
    w.begin_object().member("id", id).member("provider", t.provider);
    write_optional(w, "session", t.session);
    write_money_member(w, "max_amount", t.max_amount);
    w.member("expires_at", t.expires_at)
      .member("single_use", t.single_use)
      .member("revoked", t.revoked)
      .member("used", t.used)
      .member("held", t.held)
      .member("charges", t.charges)
      .end_object();
  }
  w.end_array();

  w.key("holds").begin_array();
  for (const auto& [id, h] : state.holds) {
    w.begin_object().member("id", id).member("provider", h.provider);
    write_optional(w, "session", h.session);
    write_optional(w, "token", h.token);
    w.member("amount", h.amount).member("expires_at", h.expires_at).end_object();
  }
  w.end_array();

  // Oldest first: the order is state (it decides which charge is forgotten next).
  w.key("charges").begin_array();
  for (const std::string& id : state.charge_order) {
    const charge_state& c = state.charges.find(id)->second;
    w.begin_object().member("id", id).member("token", c.token).member("provider", c.provider);
    write_optional(w, "session", c.session);
    w.member("amount", c.amount)
      .member("refunded", c.refunded)
      .member("month", c.month)
      .member("at", c.at)
      .end_object();
  }
  w.end_array();
  w.end_object();
}

namespace {

struct provider_row {
  std::string provider;
  std::optional<money_field> cap;
  std::int64_t spent = 0, held = 0;
};
struct session_row {
  std::string id;
  money_field run_budget;
  std::int64_t expires_at = 0, spent = 0, held = 0;
};
struct token_row {
  std::string id, provider;
  std::optional<std::string> session;
  money_field max_amount;
  std::int64_t expires_at = 0;
  bool single_use = false, revoked = false;
  std::int64_t used = 0, held = 0;
  std::uint32_t charges = 0;
};
struct hold_row {
  std::string id, provider;
  std::optional<std::string> session, token;
  std::int64_t amount = 0, expires_at = 0;
};
struct charge_row {
  std::string id, token, provider;
  std::optional<std::string> session;
  std::int64_t amount = 0, refunded = 0, month = 0, at = 0;
};

/// Resolves a money field of a snapshot row; the row's currency must be the ledger's.
json_error snapshot_money(const money_field& field, std::string pointer, currency code,
                          money& out) {
  if (json_error error = resolve_money(field, pointer, out)) return error;
  if (out.code != code)
    return field_error(api_error::invalid_field, pointer + "/currency",
                       "differs from the ledger currency");
  return {};
}

template <class Map, class Value>
json_error insert_unique(Map& map, const std::string& key, Value value, std::string pointer) {
  if (!map.emplace(key, std::move(value)).second)
    return field_error(api_error::invalid_field, std::move(pointer), "duplicate " + key);
  return {};
}

} // namespace

json_error decode_snapshot(std::string_view json, ledger_state& out) {
  constexpr std::int64_t amount_max = limits::money_amount_max * 4;
  constexpr std::int64_t month_max = (9999 - 1970 + 1) * 12;
  std::string currency_text;
  ledger_state s;
  std::vector<provider_row> providers;
  std::vector<session_row> sessions;
  std::vector<token_row> tokens;
  std::vector<hold_row> holds;
  std::vector<charge_row> charges;
  auto money_member = [](object_reader& r, money_field& m) {
    declare_money(r, m, amount_sign::non_negative);
  };
  json_error error = decode(json, [&](object_reader& o) {
    o.required("currency", currency_text, currency_field_bytes_max);
    o.required("month", s.month, std::int64_t{0}, month_max);
    o.required("provider_cap_default", s.provider_cap_default, std::int64_t{0},
               limits::money_amount_max);
    o.optional("global_cap", s.global_cap, std::int64_t{0}, limits::money_amount_max);
    o.required("global_spent", s.global_spent, std::int64_t{0}, amount_max);
    o.required("global_held", s.global_held, std::int64_t{0}, amount_max);
    o.required("providers", providers, limits::ledger_providers_max,
               [&](object_reader& r, provider_row& p) {
                 r.required("provider", p.provider, limits::provider_slug_bytes_max);
                 r.optional("cap", p.cap, money_member);
                 r.required("spent", p.spent, std::int64_t{0}, amount_max);
                 r.required("held", p.held, std::int64_t{0}, amount_max);
               });
    o.required("sessions", sessions, limits::ledger_sessions_max,
               [&](object_reader& r, session_row& x) {
                 r.required("id", x.id, id_bytes);
                 r.required("run_budget", [&](object_reader& m) { money_member(m, x.run_budget); });
                 r.required("expires_at", x.expires_at, std::int64_t{0}, unix_seconds_max);
                 r.required("spent", x.spent, std::int64_t{0}, amount_max);
                 r.required("held", x.held, std::int64_t{0}, amount_max);
               });
    o.required("tokens", tokens, limits::ledger_tokens_max, [&](object_reader& r, token_row& x) {
      r.required("id", x.id, id_bytes);
      r.required("provider", x.provider, limits::provider_slug_bytes_max);
      r.optional("session", x.session, id_bytes);
      r.required("max_amount", [&](object_reader& m) { money_member(m, x.max_amount); });
      r.required("expires_at", x.expires_at, std::int64_t{0}, unix_seconds_max);
      r.required("single_use", x.single_use);
      r.required("revoked", x.revoked);
      r.required("used", x.used, std::int64_t{0}, amount_max);
      r.required("held", x.held, std::int64_t{0}, amount_max);
      r.required("charges", x.charges);
    });
    o.required("holds", holds, limits::ledger_holds_max, [&](object_reader& r, hold_row& x) {
      r.required("id", x.id, id_bytes);
      r.required("provider", x.provider, limits::provider_slug_bytes_max);
      r.optional("session", x.session, id_bytes);
      r.optional("token", x.token, id_bytes);
      r.required("amount", x.amount, std::int64_t{1}, limits::money_amount_max);
      r.required("expires_at", x.expires_at, std::int64_t{0}, unix_seconds_max);
    });
    o.required("charges", charges, limits::ledger_charges_retained_max,
               [&](object_reader& r, charge_row& x) {
                 r.required("id", x.id, id_bytes);
                 r.required("token", x.token, id_bytes);
                 r.required("provider", x.provider, limits::provider_slug_bytes_max);
                 r.optional("session", x.session, id_bytes);
                 r.required("amount", x.amount, std::int64_t{1}, limits::money_amount_max);
                 r.required("refunded", x.refunded, std::int64_t{0}, limits::money_amount_max);
                 r.required("month", x.month, std::int64_t{0}, month_max);
                 r.required("at", x.at, std::int64_t{0}, unix_seconds_max);
               });
  });
  if (error) return error;

  auto code = parse_currency(currency_text);
  if (!code) return field_error(api_error::unsupported_currency, "/currency", "unsupported");
  s.ledger_currency = *code;
  for (std::size_t i = 0; i < providers.size(); ++i) {
    provider_row& row = providers[i];
    std::string pointer = "/providers/" + std::to_string(i);
    provider_state p{std::nullopt, row.spent, row.held};
    if (row.cap) {
      money cap;
      if (json_error e = snapshot_money(*row.cap, pointer + "/cap", *code, cap)) return e;
      p.cap = cap;
    }
    if (json_error e = insert_unique(s.providers, row.provider, p, pointer)) return e;
  }
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    session_row& row = sessions[i];
    std::string pointer = "/sessions/" + std::to_string(i);
    session_state x{{}, row.expires_at, row.spent, row.held};
    if (json_error e = snapshot_money(row.run_budget, pointer + "/run_budget", *code, x.run_budget))
      return e;
    if (json_error e = insert_unique(s.sessions, row.id, x, pointer)) return e;
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    token_row& row = tokens[i];
    std::string pointer = "/tokens/" + std::to_string(i);
    token_state x{row.provider, row.session, {}, row.expires_at, row.single_use, row.revoked,
                  row.used, row.held, row.charges};
    if (json_error e = snapshot_money(row.max_amount, pointer + "/max_amount", *code, x.max_amount))
      return e;
    if (json_error e = insert_unique(s.tokens, row.id, x, pointer)) return e;
  }
  for (std::size_t i = 0; i < holds.size(); ++i) {
    hold_row& row = holds[i];
    hold_state x{row.provider, row.session, row.token, row.amount, row.expires_at};
    if (json_error e = insert_unique(s.holds, row.id, x, "/holds/" + std::to_string(i))) return e;
  }
  for (std::size_t i = 0; i < charges.size(); ++i) {
    charge_row& row = charges[i];
    charge_state x{row.token, row.provider, row.session, row.amount, row.refunded, row.month, row.at};
    if (json_error e = insert_unique(s.charges, row.id, x, "/charges/" + std::to_string(i)))
      return e;
    s.charge_order.push_back(row.id);
  }
  // Ids of references (a charge's token, a token's session) are checked by check_invariants where
  // the referenced object must still exist; the rest only need to be well-formed.
  for (const auto& [id, c] : s.charges)
    if (!is_valid(id_kind::payment_token, c.token) ||
        (c.session && !is_valid(id_kind::session, *c.session)) || !is_valid_slug(c.provider))
      return field_error(api_error::invalid_field, "/charges", "malformed charge " + id);
  if (auto violation = check_invariants(s))
    return field_error(api_error::invalid_field, "", "inconsistent snapshot: " + *violation);
  out = std::move(s);
  return {};
}

} // namespace steward::core
