#pragma once

// The money state of one user, event-sourced (DESIGN 3 and 6; docs/ledger.md has every rule).
//
// A command is first *decided* against the current state: `decide_*` either declines it (a
// `decline` naming the API error and, for budget declines, the scope that failed) or accepts it
// with the event that records it. `apply_event(state, event)` is then the only thing that ever changes
// the state; the user actor journals the event and applies it. Because `apply_event` is deterministic
// and takes nothing but the state and the event (times travel inside events), replaying a user's
// journal from an empty state, or from a snapshot, rebuilds exactly the state the actor had.
//
// Budgets checked on every charge and hold, in this order, the first that fails is named:
//   token             the payment token's max_amount (used + held + amount), its expiry (402
//                     token_expired), revocation (403 token_revoked), single use;
//   session           the session's run budget (spent + held + amount);
//   provider_monthly  the user's cap for that provider this calendar month UTC (default 10000 of
//                     the ledger currency), month-to-date spent + held + amount;
//   global_monthly    the user's optional cap over all providers, likewise.
// Approval is exact: spent + held + amount == cap passes, one minor unit more does not.
//
// Everything here is pure: no I/O, no clock, no randomness (ids come in with the command).

#include "core/api_error.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/ledger_provisioning.hpp"
#include "core/limits.hpp"
#include "core/money.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace steward::core {

// --- Calendar ------------------------------------------------------------------------------------

/// A proleptic Gregorian date in UTC.
struct civil_date {
  std::int64_t year = 1970;
  std::uint32_t month = 1; ///< 1 to 12
  std::uint32_t day = 1;   ///< 1 to 31

  friend bool operator==(const civil_date&, const civil_date&) = default;
};

/// The UTC date of the unix time `unix_s` (negative times are before 1970).
civil_date civil_from_unix_seconds(std::int64_t unix_s) noexcept;

/// Days since 1970-01-01 of a date; the inverse of the above for whole days.
std::int64_t days_from_civil(civil_date date) noexcept;

/// Calendar months since January 1970 (0 is 1970-01, 12 is 1971-01) of the unix time `unix_s`:
/// the "month" of every monthly cap.
std::int64_t month_index(std::int64_t unix_s) noexcept;

/// The `expires_at` (Unix seconds) of a session opened at `unix_ms` (Unix milliseconds) for
/// `ttl_seconds`: the opening time rounded up to a whole second, plus the ttl. Expiry compares
/// whole seconds rounded down, so the session lives at least `ttl_seconds` and less than one
/// second longer (rounded down, a session opened at x.99 s for 1 s would be over 10 ms later).
std::int64_t session_expires_at(std::int64_t unix_ms, std::int64_t ttl_seconds) noexcept;

// --- State ---------------------------------------------------------------------------------------

/// The scope a budget decline or a threshold crossing is about (DESIGN 4.5 `scope`).
enum class budget_scope : std::uint8_t { token, session, provider_monthly, global_monthly };

/// The `scope` string of the API: "token", "session", "provider_monthly", "global_monthly".
std::string_view to_string(budget_scope scope) noexcept;

/// A payment token (`ptk_`): a provider's grant to charge up to `max_amount` until `expires_at`.
struct token_state {
  std::string provider;
  std::optional<std::string> session; ///< the session it was minted for, if any
  money max_amount;
  std::int64_t expires_at = 0;
  bool single_use = false;
  bool revoked = false;
  std::int64_t used = 0;     ///< captured by charges, never reduced (refunds do not re-open a grant)
  std::int64_t held = 0;     ///< reserved by open holds on this token
  std::uint32_t charges = 0; ///< charges made with it (a single-use token allows one)

  friend bool operator==(const token_state&, const token_state&) = default;
};

/// A session: its run budget, and what the platform said about it when it opened it.
struct session_state {
  money run_budget;
  std::int64_t expires_at = 0;
  std::int64_t spent = 0; ///< charged in this run, net of refunds
  std::int64_t held = 0;  ///< reserved by open holds of this session
  std::string label{};    ///< the platform's name for the run; may be empty
  /// The domains the agent said it would buy (`intents.domains`), in the order given.
  std::vector<std::string> intent_domains{};
  std::int64_t created = 0; ///< `at` of the session.opened event
  /// Set by a `kill_set` for this session. The ledger only records it: the user actor refuses
  /// charges and holds of a killed session (403 killed); `decide_charge` and `decide_hold` do not
  /// look at it.
  bool killed = false;

  friend bool operator==(const session_state&, const session_state&) = default;
};

/// What the ledger tracks per provider: a cap set for this user (else the default applies), and
/// the month-to-date spend and open holds.
struct provider_state {
  std::optional<money> cap;
  std::int64_t spent = 0; ///< month-to-date, of `ledger_state::month`
  std::int64_t held = 0;

  friend bool operator==(const provider_state&, const provider_state&) = default;
};

/// A hold (`hld_`): money reserved against every budget while a purchase is in flight.
struct hold_state {
  std::string provider;
  std::optional<std::string> session;
  std::optional<std::string> token;
  std::int64_t amount = 0;
  std::int64_t expires_at = 0;

  friend bool operator==(const hold_state&, const hold_state&) = default;
};

/// A charge (`chg_`) kept for refunds.
struct charge_state {
  std::string token;
  std::string provider;
  std::optional<std::string> session;
  std::int64_t amount = 0;
  std::int64_t refunded = 0;
  std::int64_t month = 0; ///< month_index of the month whose spend it counts in
  std::int64_t at = 0;

  friend bool operator==(const charge_state&, const charge_state&) = default;
};


/// The user as the platform last described it (`PUT /v1/users/{platform_ref}`).
struct user_profile {
  std::string platform_ref; ///< the platform's own id of the user; never changes
  std::string email;
  bool email_verified = false;
  std::optional<std::string> name;
  std::int64_t created = 0; ///< `at` of the first user.upserted
  std::int64_t updated = 0; ///< `at` of the latest user.upserted

  friend bool operator==(const user_profile&, const user_profile&) = default;
};

/// The user's payment method as the platform last set it (`PUT /v1/users/{id}/payment_method`,
/// DESIGN 4.2): the PSP's token for it, never a card number. The ledger only records it.
struct payment_method {
  std::string psp;                  ///< e.g. "stripe": 1 to `psp_bytes_max` of a-z, 0-9, `_`, `-`
  std::string reference;            ///< the PSP's token, e.g. "pm_1Nabc": visible ASCII
  std::optional<std::string> last4; ///< exactly four digits
  std::optional<std::string> brand; ///< e.g. "visa": visible ASCII
  std::int64_t updated = 0;         ///< `at` of the latest payment_method.set

  friend bool operator==(const payment_method&, const payment_method&) = default;
};

/// The name of the first member of a payment method ("psp", "reference", "last4", "brand") that
/// breaks the syntax `decode_payment_method_request` (core/api_messages.hpp) checks, or empty:
/// psp 1 to `psp_bytes_max` of a-z, 0-9, `_` and `-`; reference 1 to
/// `payment_reference_bytes_max` visible ASCII; last4 exactly four digits; brand 1 to
/// `card_brand_bytes_max` visible ASCII. Card numbers are not this check's business
/// (`contains_card_number` of core/card_number.hpp): `decide_set_payment_method` refuses them.
std::optional<std::string_view>
check_payment_method_syntax(std::string_view psp, std::string_view reference,
                            const std::optional<std::string>& last4,
                            const std::optional<std::string>& brand) noexcept;

/// Maps keyed by id or slug; ordered, so that a snapshot's bytes follow from the state alone.
template <class T>
using ledger_map = std::map<std::string, T, std::less<>>;

/// One user's money. Change it only through `apply_event`.
struct ledger_state {
  /// Every amount in this ledger is in this currency; there is no exchange on a money path.
  currency ledger_currency = currency::usd;
  /// The month that `provider_state::spent` and `global_spent` count; only moves forward.
  std::int64_t month = 0;
  /// Cap of a provider that has none of its own.
  std::int64_t provider_cap_default = limits::provider_monthly_cap_default;
  std::optional<std::int64_t> global_cap;
  std::int64_t global_spent = 0; ///< month-to-date over all providers
  std::int64_t global_held = 0;
  ledger_map<provider_state> providers;
  ledger_map<session_state> sessions;
  ledger_map<token_state> tokens;
  ledger_map<hold_state> holds;
  ledger_map<charge_state> charges;
  /// Charge ids oldest first, to forget the oldest past `limits::ledger_charges_retained_max`.
  /// A list, not a deque: libstdc++'s deque allocates over 500 bytes even when empty, which every
  /// resident user would pay (most hold a handful of charges).
  std::list<std::string> charge_order;
  /// Empty until the first user.upserted: a ledger can hold money state before the platform
  /// described the user (and a snapshot written before profiles existed has none).
  std::optional<user_profile> profile{};
  /// The user's kill switch (a `kill_set` for the user). Recorded only; the user actor refuses
  /// every charge and hold while it is set (403 killed), the ledger's decisions ignore it.
  bool killed = false;
  /// Empty until the first payment_method.set (and in snapshots written before payment methods
  /// existed).
  std::optional<payment_method> payment{};
  // Provisioning (core/ledger_provisioning.hpp); empty in snapshots written before it existed.
  ledger_map<terms_state> terms{};         ///< by provider slug
  ledger_map<approval_state> approvals{};  ///< by `apr_` id
  ledger_map<link_state> links{};          ///< by provider slug
  ledger_map<resource_state> resources{};  ///< by `res_` id

  friend bool operator==(const ledger_state&, const ledger_state&) = default;
};

/// The cap in force for `provider` (its own, else the user's default).
std::int64_t provider_cap(const ledger_state& state, std::string_view provider) noexcept;

/// Checks the ledger's internal consistency: held sums equal the open holds, no cap is exceeded by
/// spent + held beyond what caps lowered after the fact explain, currencies agree, bounds hold.
/// Returns a description of the first violation, or empty. Used by tests and on snapshot decode.
std::optional<std::string> check_invariants(const ledger_state& state);

// --- Events --------------------------------------------------------------------------------------

/// Sets the ledger currency; only accepted while the ledger holds nothing in another currency.
struct currency_set {
  currency code = currency::usd;
  std::int64_t at = 0;
  friend bool operator==(const currency_set&, const currency_set&) = default;
};

/// Which cap a `cap_set` changes.
enum class cap_kind : std::uint8_t {
  provider_default, ///< the cap of every provider without its own
  provider,         ///< one provider's cap (empty `cap`: back to the default)
  global,           ///< the global monthly cap (empty `cap`: none)
};

struct cap_set {
  cap_kind kind = cap_kind::global;
  std::string provider; ///< only for cap_kind::provider
  std::optional<money> cap;
  std::int64_t at = 0;
  friend bool operator==(const cap_set&, const cap_set&) = default;
};

struct session_opened {
  std::string id;
  money run_budget;
  std::int64_t expires_at = 0;
  std::string label;
  std::vector<std::string> intent_domains;
  std::int64_t at = 0;
  friend bool operator==(const session_opened&, const session_opened&) = default;
};

/// A new run budget for a session (a human approved a `budget_increase`).
struct session_budget_set {
  std::string id;
  money run_budget;
  std::int64_t at = 0;
  friend bool operator==(const session_budget_set&, const session_budget_set&) = default;
};

struct token_created {
  std::string id;
  std::string provider;
  std::optional<std::string> session;
  money max_amount;
  std::int64_t expires_at = 0;
  bool single_use = false;
  std::int64_t at = 0;
  friend bool operator==(const token_created&, const token_created&) = default;
};

struct token_revoked {
  std::string id;
  std::int64_t at = 0;
  friend bool operator==(const token_revoked&, const token_revoked&) = default;
};

struct hold_placed {
  std::string id;
  std::string provider;
  std::optional<std::string> session;
  std::optional<std::string> token;
  money amount;
  std::int64_t expires_at = 0;
  std::int64_t at = 0;
  friend bool operator==(const hold_placed&, const hold_placed&) = default;
};

/// A hold given back whole, by its owner (released) or by `decide_expire` (expired).
struct hold_released {
  std::string id;
  bool expired = false;
  std::int64_t at = 0;
  friend bool operator==(const hold_released&, const hold_released&) = default;
};

/// A capture against a payment token. With `hold`, the hold is settled by it: its reservation
/// is replaced by the charge and whatever it reserved beyond the charge is released.
struct charge_created {
  std::string id;
  std::string token;
  std::string provider;               ///< the token's, copied so the audit record reads alone
  std::optional<std::string> session; ///< the token's, likewise
  money amount;
  std::string description;
  std::optional<std::string> hold;
  std::int64_t at = 0;
  friend bool operator==(const charge_created&, const charge_created&) = default;
};

struct refund_created {
  std::string id;
  std::string charge;
  money amount;
  std::int64_t at = 0;
  friend bool operator==(const refund_created&, const refund_created&) = default;
};

/// An object dropped from the ledger `limits::ledger_retire_after_seconds` after it expired or
/// closed: a token or session ("token.retired", "session.retired"), an approval or a resource
/// ("approval.retired", "resource.retired"; core/ledger_provisioning.hpp says when).
struct retired {
  enum class what : std::uint8_t { token, session, approval, resource };
  what kind = what::token;
  std::string id;
  std::int64_t at = 0;
  friend bool operator==(const retired&, const retired&) = default;
};

/// The user's profile after a `PUT /v1/users/{platform_ref}`: the whole resulting profile, not
/// the members the request named, so the journal reads alone and replay needs no merge. Every
/// accepted PUT is one, even when nothing changed, because each is an audit record.
struct user_upserted {
  std::string platform_ref;
  std::string email;
  bool email_verified = false;
  std::optional<std::string> name;
  std::int64_t at = 0;
  friend bool operator==(const user_upserted&, const user_upserted&) = default;
};

/// The kill switch of the user (`session_scope` false, `session` empty) or of one session set
/// (`active`) or lifted.
struct kill_set {
  bool session_scope = false;
  std::string session; ///< the session's id when `session_scope`, else empty
  bool active = true;
  std::int64_t at = 0;
  friend bool operator==(const kill_set&, const kill_set&) = default;
};

/// The user's payment method after a `PUT /v1/users/{id}/payment_method`: the whole method, as the
/// PUT replaces it. Members absent from the PUT (`last4`, `brand`) are absent here too.
struct payment_method_set {
  std::string psp;
  std::string reference;
  std::optional<std::string> last4;
  std::optional<std::string> brand;
  std::int64_t at = 0;
  friend bool operator==(const payment_method_set&, const payment_method_set&) = default;
};

using ledger_event =
  std::variant<currency_set, cap_set, session_opened, session_budget_set, token_created,
               token_revoked, hold_placed, hold_released, charge_created, refund_created, retired,
               user_upserted, kill_set, payment_method_set, terms_accepted, approval_opened,
               approval_decided, approval_used, link_created, resource_requested,
               resource_updated, resource_revealed>;

/// The `type` member of an event's JSON, e.g. "charge.created".
std::string_view event_type(const ledger_event& event) noexcept;

/// The event's time (unix seconds).
std::int64_t event_time(const ledger_event& event) noexcept;

/// Changes `state` by `event`. The event must have been accepted by a `decide_*` against this very
/// state (or be read back from the journal in order); an event that does not fit (an unknown id,
/// an overflowing sum) is a programmer error or a corrupt journal, and aborts.
/// (Not named `apply`: argument-dependent lookup on std::variant would find std::apply, which is
/// the better match for a non-const event and fails to compile far from the call.)
void apply_event(ledger_state& state, const ledger_event& event);

// --- Decisions -----------------------------------------------------------------------------------

/// Why a command was refused: the API error, for `budget_exceeded` the scope that failed, and a
/// detail for the problem body.
struct decline {
  api_error code = api_error::invalid_field;
  std::optional<budget_scope> scope;
  std::string detail;
};

/// Percentages of a cap whose crossing is reported (DESIGN 3).
inline constexpr std::array<std::uint8_t, 3> threshold_percents{50, 80, 100};

/// One cap whose spent + held went from below `percent`% to at or above it. The cap's subject is
/// in the accepted event: its `session` for `session`, its `provider` for `provider_monthly`.
struct threshold_crossing {
  budget_scope scope = budget_scope::provider_monthly;
  std::uint8_t percent = 0;
  friend bool operator==(const threshold_crossing&, const threshold_crossing&) = default;
};

/// At most every percent of the three caps that have thresholds (session, provider, global).
inline constexpr std::size_t threshold_crossings_max = 3 * threshold_percents.size();

/// An accepted command: the event to journal and apply, and the thresholds applying it crosses.
struct accepted {
  ledger_event event;
  std::array<threshold_crossing, threshold_crossings_max> crossings{};
  std::uint8_t crossing_count = 0;
};

using decision = std::variant<accepted, decline>;

struct set_currency_command {
  currency code = currency::usd;
};
struct set_cap_command {
  cap_kind kind = cap_kind::global;
  std::string provider;
  std::optional<money> cap;
};
struct open_session_command {
  std::string id;
  money run_budget;
  std::int64_t expires_at = 0;
  std::string label{};                       ///< at most `session_label_bytes_max` bytes
  std::vector<std::string> intent_domains{}; ///< distinct domains, at most `intent_domains_max`
};
struct set_session_budget_command {
  std::string id;
  money run_budget;
};
struct create_token_command {
  std::string id;
  std::string provider;
  std::optional<std::string> session;
  money max_amount;
  std::int64_t expires_at = 0;
  bool single_use = false;
};
struct hold_command {
  std::string id;
  std::string provider;
  std::optional<std::string> session;
  std::optional<std::string> token;
  money amount;
  std::int64_t expires_at = 0;
};
struct charge_command {
  std::string id;
  std::string token;
  std::string provider; ///< the calling provider; a token of another provider is not_found
  money amount;
  std::string description;
  std::optional<std::string> hold;
};
struct refund_command {
  std::string id;
  std::string charge;
  std::string provider; ///< the calling provider; a charge of another provider is not_found
  money amount;
};
/// `PUT /v1/users/{platform_ref}`: absent members keep the profile's values.
struct upsert_user_command {
  std::string platform_ref;           ///< from the path; must be the profile's once it exists
  std::optional<std::string> email;   ///< required to create the user
  std::optional<bool> email_verified; ///< false when creating without it
  nullable<std::string> name;         ///< absent keeps, `null` clears, a value sets
};
/// `PUT /v1/users/{id}/payment_method`: replaces the whole method.
struct set_payment_method_command {
  std::string psp;
  std::string reference;
  std::optional<std::string> last4;
  std::optional<std::string> brand;
};

decision decide_set_currency(const ledger_state& state, const set_currency_command& command,
                             std::int64_t now);
decision decide_set_cap(const ledger_state& state, const set_cap_command& command,
                        std::int64_t now);
/// Opens a session. Besides the id, budget and expiry, checks the label and intent domains as
/// the API does (invalid_field) and `limits::ledger_session_metadata_bytes_max` (rate_limited).
decision decide_open_session(const ledger_state& state, const open_session_command& command,
                             std::int64_t now);
decision decide_set_session_budget(const ledger_state& state,
                                   const set_session_budget_command& command, std::int64_t now);
decision decide_create_token(const ledger_state& state, const create_token_command& command,
                             std::int64_t now);
/// Revoking a token that is already revoked is accepted again (the event is harmless), so a
/// retried revoke never fails.
decision decide_revoke_token(const ledger_state& state, std::string_view token, std::int64_t now);
decision decide_hold(const ledger_state& state, const hold_command& command, std::int64_t now);
decision decide_release_hold(const ledger_state& state, std::string_view hold, std::int64_t now);
/// A charge with `hold` settles that hold; a charge on a single-use token without one settles the
/// open hold placed on that token, if any (a purchase's hold, which the provider charging the
/// token does not know).
decision decide_charge(const ledger_state& state, const charge_command& command,
                       std::int64_t now);
decision decide_refund(const ledger_state& state, const refund_command& command,
                       std::int64_t now);

/// Creates or updates the user's profile. Declines: `invalid_field` when creating without an
/// email ("email is required to create a user") or when a member is malformed (platform_ref,
/// email syntax, name longer than `user_name_bytes_max`); `forbidden` when the profile exists
/// under another platform_ref. Otherwise accepted, even when nothing changes.
decision decide_upsert_user(const ledger_state& state, const upsert_user_command& command,
                            std::int64_t now);

/// Sets (`active`) or lifts the kill switch of `session`, or of the whole user when `session` is
/// empty. A session the ledger does not hold is `not_found`; otherwise always accepted, so that
/// killing twice, or lifting a switch that is not set, is harmless.
decision decide_kill(const ledger_state& state, std::optional<std::string_view> session,
                     bool active, std::int64_t now);

/// Sets the user's payment method. Declines: `not_found` ("no such user") when the ledger has no
/// profile (the user was never created); `invalid_field` when a member looks like a card number
/// (checked first, whatever else is wrong with it, and without quoting it: the detail may be
/// logged) or breaks `check_payment_method_syntax`. The API decoder checks the same; this is
/// defence in depth, so that no path can journal a card number. Otherwise accepted, even when
/// nothing changes.
decision decide_set_payment_method(const ledger_state& state,
                                   const set_payment_method_command& command, std::int64_t now);

/// The events that tidy the ledger at `now`: every hold past its expiry is released (so it stops
/// counting against budgets), and tokens and sessions expired for longer than
/// `limits::ledger_retire_after_seconds` are retired (a session only once no open hold and no
/// token refers to it), and so are closed approvals and failed or removed resources
/// (`decide_retire_provisioning`). Empty when there is nothing to do.
std::vector<ledger_event> decide_expire(const ledger_state& state, std::int64_t now);

// --- JSON ----------------------------------------------------------------------------------------

/// Appends the event's canonical JSON: `type` first, then its members in a fixed order, `at` last.
/// Members added after journals were first written (a session's `label` and `intents`) appear only
/// when they are not empty, so such an event is written exactly as before they existed.
void encode_event(const ledger_event& event, std::string& out);

/// Reads an event written by `encode_event`. Members that do not belong to its type are
/// `unknown_field`; ids, currencies and bounds are checked as for API input.
json_error decode_event(std::string_view json, ledger_event& out);

/// Appends the whole state as one JSON object (a snapshot). Members added after snapshots were
/// first written (`killed`, `profile`, `payment`, a session's `label`, `intents`, `created`,
/// `killed`, and the provisioning maps `terms`, `approvals`, `links`, `resources`) appear only when
/// they differ from their default, and are optional on decode.
void encode_snapshot(const ledger_state& state, std::string& out);

/// Reads a snapshot; rejects one that breaks `check_invariants` as `invalid_field`.
json_error decode_snapshot(std::string_view json, ledger_state& out);

/// Strings that recur in snapshots (member names, ids' prefixes, common values), to prime the
/// compression of a snapshot kept in memory (`core::deflate_bytes`; a hibernated user's image,
/// actors/directory.hpp). Only the ratio depends on it, never the result; both sides of one
/// process use the same one, so it may change freely between builds.
std::string_view snapshot_dictionary() noexcept;

} // namespace steward::core
