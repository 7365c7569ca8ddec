#pragma once

// The typed request and response bodies of the spend API: the platform endpoints of DESIGN 4.2 and
// the provider charge endpoints of DESIGN 4.3 (docs/api.md lists every member and bound). An HTTP
// handler is then one decode call and one write call:
//
//     charge_request request;
//     if (json_error error = decode_charge_request(body, request)) return reply(problem(error));
//     ... decide, journal, apply ...
//     json_writer w(out);
//     write_charge(w, view);
//
// Everything here is pure: no I/O, no clock, no randomness. Each `decode_*` takes the body as the
// HTTP layer hands it over, with `json_padding_bytes` readable bytes after it (the padding-readable
// entry point of core/json_reader.hpp), checks the syntax of every member (ids, slugs, domains,
// emails, card numbers, bounds), and reports the first error with its code and JSON pointer, in
// the form `problem(error)` turns into a 400. Each decoder first resets its destination, so one
// may be reused; on error the destination is partly written and must be thrown away. Checks that need state (does the session exist, is
// `expires_at` in the future, is the currency the ledger's) stay with the ledger and the actors.
//
// Responses are Stripe style: `id`, `object`, then the members; times are integer unix seconds;
// money is `{"amount","currency"}` except where a request spells it flat (a charge's and a
// refund's own `amount` and `currency`, mirroring the charge request).

#include "core/ids.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/ledger.hpp"
#include "core/money.hpp"
#include "core/problem.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

// --- Bounds of the API's members (docs/api.md) ---------------------------------------------------

/// RFC 5321 4.5.3.1: a forward path is at most 256 octets including the angle brackets.
inline constexpr std::size_t email_bytes_max = 254;
/// RFC 5321 4.5.3.1.1.
inline constexpr std::size_t email_local_part_bytes_max = 64;
inline constexpr std::size_t user_name_bytes_max = 200;
/// The platform's own id of a user (the `{platform_ref}` path segment).
inline constexpr std::size_t platform_ref_bytes_max = 128;
inline constexpr std::size_t session_label_bytes_max = 200;
/// A session lives at most a day; the default when `ttl_seconds` is absent is an hour.
inline constexpr std::int64_t session_ttl_seconds_max = 86'400;
inline constexpr std::int64_t session_ttl_seconds_default = 3'600;
/// Domains in a session's `intents`; each a DNS name of at most 253 bytes (RFC 1035).
inline constexpr std::size_t intent_domains_max = 64;
inline constexpr std::size_t domain_bytes_max = 253;
inline constexpr std::size_t domain_label_bytes_max = 63;
/// Payment method members.
inline constexpr std::size_t psp_bytes_max = 32;
inline constexpr std::size_t payment_reference_bytes_max = 255;
inline constexpr std::size_t card_brand_bytes_max = 32;
/// Provider caps one `PUT /limits` may name (a json_reader object declares at most
/// `json_object_members_max` members; a user's ledger tracks up to `ledger_providers_max`).
inline constexpr std::size_t limits_providers_max = 64;
static_assert(limits_providers_max <= json_object_members_max);
static_assert(limits_providers_max <= limits::ledger_providers_max);
/// Latest `expires_at` accepted anywhere: 9999-12-31T23:59:59Z.
inline constexpr std::int64_t unix_seconds_max = 253'402'300'799;
inline constexpr std::size_t usage_unit_bytes_max = 64;
inline constexpr std::size_t decided_by_bytes_max = 200;
inline constexpr std::size_t approval_note_bytes_max = 1000;
/// `limit` of a list: 1 to this many, `page_limit_default` when absent.
inline constexpr std::size_t page_limit_max = 100;
inline constexpr std::size_t page_limit_default = 10;
/// Bytes of a query string `parse_page_query` looks at; parameters in it, at most.
inline constexpr std::size_t query_bytes_max = 4096;
inline constexpr std::size_t query_parameters_max = 32;

// --- Syntax of names ------------------------------------------------------------------------------

// Provider slugs are checked with `is_valid_provider_slug` (core/ids.hpp).

/// A DNS name as an intent: 2 to 127 dot-separated labels of lowercase `a-z`, `0-9` and `-` (1 to
/// 63 bytes, no `-` at either end), at most 253 bytes, no trailing dot, and a top-level label that
/// is not all digits (so an IP address is not a domain). IDNs are given in their `xn--` form.
bool is_valid_domain(std::string_view domain) noexcept;

/// An email address, checked sensibly rather than by the whole of RFC 5322: `local@domain`, at most
/// 254 bytes; the local part 1 to 64 bytes of letters, digits, ``!#$%&'*+/=?^_`{|}~-``, non-ASCII
/// UTF-8 (RFC 6531) and dots (not first, last or doubled); the domain a DNS name of at least two
/// labels, letters of either case. Quoted local parts and address literals are not accepted.
bool is_valid_email(std::string_view email) noexcept;

/// The `{platform_ref}` path segment (after percent-decoding): 1 to 128 bytes of visible ASCII
/// except `/`, so `auth0|5f7c` and `github:42` fit.
bool is_valid_platform_ref(std::string_view ref) noexcept;

// --- Requests --------------------------------------------------------------------------------------

/// `PUT /v1/users/{platform_ref}`. A PUT replaces only what it names: absent members keep the
/// user's values. Creating a user needs `email` (the user actor checks, as only it knows whether
/// the user exists); `name: null` clears the name.
struct user_upsert_request {
  std::optional<std::string> email;
  std::optional<bool> email_verified;
  nullable<std::string> name;
};
json_error decode_user_upsert_request(std::string_view body, user_upsert_request& out);

/// `POST /v1/users/{id}/sessions`.
struct session_create_request {
  money run_budget;                                          ///< required, 0 and up
  std::int64_t ttl_seconds = session_ttl_seconds_default;    ///< 1 to 86400
  std::vector<std::string> intent_domains;                   ///< `intents.domains`, distinct
  std::string label;
};
json_error decode_session_create_request(std::string_view body, session_create_request& out);

/// `PUT /v1/users/{id}/payment_method`: a tokenised PSP reference, never a card number.
struct payment_method_request {
  std::string psp;       ///< required, e.g. "stripe": 1 to 32 of a-z, 0-9, `_`, `-`
  std::string reference; ///< required, the PSP's token, e.g. "pm_1Nabc": visible ASCII
  std::optional<std::string> last4; ///< exactly four digits
  std::optional<std::string> brand; ///< e.g. "visa": visible ASCII
};
json_error decode_payment_method_request(std::string_view body, payment_method_request& out);

/// One provider's cap in `PUT /limits`; an empty `cap` (`null` on the wire) returns the provider
/// to the user's default cap.
struct provider_cap_change {
  std::string provider;
  std::optional<money> cap;
};

/// `PUT /v1/users/{id}/limits`. `monthly` absent: the global cap is unchanged; `null`: removed.
/// `providers` absent or `{}`: no provider cap changes; providers it does not name keep theirs.
struct limits_request {
  nullable<money> monthly;
  std::vector<provider_cap_change> providers; ///< sorted by slug, distinct
};
json_error decode_limits_request(std::string_view body, limits_request& out);

/// `POST /v1/users/{id}/payment_tokens`. Whether `expires_at` is in the future is the ledger's
/// check (it has the clock).
struct payment_token_create_request {
  std::string provider;
  money max_amount; ///< 1 and up
  std::int64_t expires_at = 0;
  bool single_use = false;
  /// A session whose run budget the token's charges count against (decided here: DESIGN 4.2 lists
  /// no such member, but without it the platform could not pre-authorise within a run).
  std::optional<std::string> session;
};
json_error decode_payment_token_create_request(std::string_view body,
                                               payment_token_create_request& out);

/// What a kill switch covers.
enum class kill_scope : std::uint8_t { session, user, provider, global };

/// "session", "user", "provider", "global".
std::string_view to_string(kill_scope scope) noexcept;
std::optional<kill_scope> parse_kill_scope(std::string_view text) noexcept;

/// `POST /v1/kill` and `DELETE /v1/kill`. `id` is a `ses_` id, a `usr_` id or a provider slug for
/// those scopes, and must be absent (empty here) for `global`.
struct kill_request {
  kill_scope scope = kill_scope::global;
  std::string id;
};
json_error decode_kill_request(std::string_view body, kill_request& out);

/// `usage` of a metered charge.
struct charge_usage {
  std::int64_t quantity = 0; ///< 1 to money_amount_max
  std::string unit;          ///< e.g. "gb_month"
};

/// `POST /v1/provider/charges`. The currency must be supported (else `unsupported_currency`);
/// whether it is the ledger's currency is the ledger's check.
struct charge_request {
  std::string payment_token; ///< a `ptk_` id
  money amount;              ///< from the flat `amount` (1 and up) and `currency`
  std::string description;   ///< required, at most 500 bytes
  std::optional<std::string> resource; ///< a `res_` id
  std::optional<charge_usage> usage;
};
json_error decode_charge_request(std::string_view body, charge_request& out);

/// `POST /v1/provider/charges/{id}/refunds`: `amount` in minor units of the charge's currency.
struct refund_request {
  std::int64_t amount = 0; ///< 1 to money_amount_max
};
json_error decode_refund_request(std::string_view body, refund_request& out);

/// `POST /v1/approvals/{id}/approve` and `/deny`.
struct approval_decision_request {
  std::string decided_by; ///< required: who decided, as the platform names them
  std::string note;
};
json_error decode_approval_decision_request(std::string_view body,
                                            approval_decision_request& out);

// --- Pagination ---------------------------------------------------------------------------------

/// `limit` and `starting_after` of a list request.
struct page_request {
  std::size_t limit = page_limit_default;
  std::optional<std::string> starting_after;
};

/// Decodes `%XX` escapes (either case) and, when `plus_is_space`, `+` as a space (the form
/// encoding of query strings). False on a malformed escape; `out` is then unspecified.
bool percent_decode(std::string_view text, std::string& out, bool plus_is_space);

/// Percent-encodes every byte of `text` outside RFC 3986's unreserved set (ALPHA, DIGIT, `-._~`),
/// with uppercase hex digits: safe in a query parameter and in a form body.
std::string percent_encode(std::string_view text);

/// Reads `limit` (1 to 100, default 10) and `starting_after` from a query string without its `?`
/// (`limit=20&starting_after=chg_...`), percent-decoded. `starting_after` must be a well-formed id,
/// of `kind` when given. Other parameters are left to the route; a parameter given twice, a
/// malformed escape, more than `query_parameters_max` parameters or more than `query_bytes_max`
/// bytes are errors. Errors are `invalid_field` with the pointer `/limit` or `/starting_after`
/// (`""` for the query string as a whole).
json_error parse_page_query(std::string_view query, std::optional<id_kind> kind,
                            page_request& out);

/// The decimal value of parameter `name` in a query string without its `?`: `fallback` when it
/// is absent, nullopt when it is given twice, has no `=`, is empty, is not all digits or exceeds
/// `max`. Other parameters are ignored. (The audit list's `limit` and its numeric
/// `starting_after`, an event seq rather than an id.)
std::optional<std::uint64_t> query_number(std::string_view query, std::string_view name,
                                          std::uint64_t fallback, std::uint64_t max);

// --- Responses ----------------------------------------------------------------------------------

/// A user as the API shows it.
struct user_view {
  std::string id; ///< usr_
  std::string platform_ref;
  std::string email;
  bool email_verified = false;
  std::optional<std::string> name;
  std::int64_t created = 0;
};
/// `{"id","object":"user","platform_ref","email","email_verified","name","created"}`; `name` is
/// `null` when unset.
void write_user(json_writer& w, const user_view& user);

/// A session as the API shows it; the money comes from the ledger's `session_state`.
struct session_view {
  std::string id; ///< ses_
  std::string user;
  std::string label;
  std::vector<std::string> intent_domains;
  session_state budget;
  bool killed = false;
  std::int64_t created = 0;
};
/// `{"id","object":"session","user","label","budget":{"limit","spent","held"},"intents":{"domains"},
/// "killed","expires_at","created"}` and, only when `token` is given (at creation, the one time it
/// is shown), `"token"` last.
void write_session(json_writer& w, const session_view& session,
                   std::optional<std::string_view> token = std::nullopt);

/// `{"id","object":"payment_token","provider","session","max_amount","used","held","expires_at",
/// "single_use","revoked"}`; `session` is `null` for a token minted for no session. Amounts are in
/// the currency of `max_amount`.
void write_payment_token(json_writer& w, std::string_view id, const token_state& token);

/// A charge as the API shows it (the ledger keeps no description, so the actor assembles this).
struct charge_view {
  std::string id; ///< chg_
  money amount;
  std::int64_t amount_refunded = 0;
  std::string payment_token;
  std::string provider;
  std::string description;
  std::optional<std::string> resource;
  std::int64_t created = 0;
};
/// `{"id","object":"charge","status":"succeeded","amount","currency","payment_token","provider",
/// "description","created","amount_refunded"}`, then `"resource"` when there is one.
void write_charge(json_writer& w, const charge_view& charge);

/// `{"id","object":"refund","status":"succeeded","charge","amount","currency","created"}`, built
/// from the accepted event.
void write_refund(json_writer& w, const refund_created& refund);

/// Month-to-date spend of a user at `now`:
/// `{"object":"spend","month":"2026-05","currency","total":{"spent","held","cap"},
///   "provider_cap_default","providers":[{"provider","spent","held","cap"}],
///   "holds":[{"id","provider","session","token","amount","expires_at"}]}`.
/// `total.cap` is `null` without a global cap. When the ledger has seen no event in the month of
/// `now` yet, its month-to-date spend is last month's, so it is shown as zero (the ledger resets it
/// on the month's first event; holds carry over).
void write_spend(json_writer& w, const ledger_state& ledger, std::int64_t now);

/// One active (or just lifted) kill switch.
struct kill_view {
  kill_scope scope = kill_scope::global;
  std::string id; ///< empty for global
  bool active = true;
  std::int64_t created = 0;
};
/// `{"object":"kill","scope","id","active","created"}`; `id` is `null` for global.
void write_kill(json_writer& w, const kill_view& kill);

/// `{"object":"list","data":[...],"has_more":bool}`, calling `write_item(w, item)` once per item.
template <class Range, class WriteItem>
void write_list(json_writer& w, const Range& items, bool has_more, WriteItem&& write_item) {
  w.begin_object().member("object", std::string_view("list"));
  w.key("data").begin_array();
  for (const auto& item : items) write_item(w, item);
  w.end_array();
  w.member("has_more", has_more).end_object();
}

/// The 402 `budget_exceeded` problem with its `scope` member.
problem budget_exceeded_problem(budget_scope scope, std::string_view detail);

/// The problem of any ledger decline: its code and detail, plus `scope` when it names one.
problem decline_problem(const decline& refused);

} // namespace steward::core
