// The JSON form of ledger events and snapshots: what the journal stores and what activation reads
// back. Decoding is strict (unknown members, wrong types and broken invariants are errors), because
// a journal that decodes loosely could rebuild a different ledger than the one that was written.

#include "core/ledger.hpp"

#include "core/api_messages.hpp"
#include "core/json_failure.hpp"
#include "core/assert.hpp"
#include "core/ids.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace steward::core {
namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

} // namespace

// --- JSON ----------------------------------------------------------------------------------------

namespace {

// Latest time accepted in an event or snapshot is `unix_seconds_max` of core/api_messages.hpp,
// 9999-12-31T23:59:59Z: it keeps every sum of times and every date computation far from overflow.
// The bounds of profile, payment method and session members are the API's (email_bytes_max,
// user_name_bytes_max, platform_ref_bytes_max, psp_bytes_max, payment_reference_bytes_max,
// card_brand_bytes_max, session_label_bytes_max, intent_domains_max, domain_bytes_max), so the
// journal holds nothing the API could not have accepted.

// A snapshot must stay decodable (core/limits.hpp estimates about 400 bytes per charge, token and
// hold and 200 per session). Session metadata and the profile add to that; the sum must still fit.
// A string's JSON form is at most 6 times its bytes (a control byte becomes `\u00XX`).
constexpr std::size_t json_escape_factor_max = 6;
constexpr std::size_t snapshot_base_bytes_max =
  limits::ledger_charges_retained_max * 400 + limits::ledger_tokens_max * 400 +
  limits::ledger_sessions_max * 200 + limits::ledger_holds_max * 400;
/// `,"label":""`, `,"intents":{"domains":[]}`, `,"created":253402300799`, `,"killed":true`.
constexpr std::size_t snapshot_session_extra_bytes = 80;
constexpr std::size_t snapshot_profile_bytes_max =
  200 + json_escape_factor_max * (platform_ref_bytes_max + email_bytes_max + user_name_bytes_max);
/// `,"payment":{...}` with its member names and `updated`, around the escaped strings.
constexpr std::size_t snapshot_payment_bytes_max =
  200 + json_escape_factor_max *
          (psp_bytes_max + payment_reference_bytes_max + 4 + card_brand_bytes_max);
/// The provisioning maps: per object, its JSON without its text members (member names, ids, slugs,
/// enums, money, times at their longest; ledger_provisioning.test.cpp measures them), and the
/// text members together, bounded by `ledger_provisioning_text_bytes_max`. Their text is UTF-8
/// without control characters (`is_provisioning_text`) or ASCII, so escaping at most doubles it
/// (`"` and `\`).
constexpr std::size_t snapshot_terms_bytes_max = 160;
constexpr std::size_t snapshot_link_bytes_max = 200;
constexpr std::size_t snapshot_approval_bytes_max = 560;
constexpr std::size_t snapshot_resource_bytes_max = 560;
constexpr std::size_t provisioning_escape_factor_max = 2;
constexpr std::size_t snapshot_provisioning_bytes_max =
  100 + limits::ledger_terms_max * snapshot_terms_bytes_max +
  limits::ledger_links_max * snapshot_link_bytes_max +
  limits::ledger_approvals_max * snapshot_approval_bytes_max +
  limits::ledger_resources_max * snapshot_resource_bytes_max +
  provisioning_escape_factor_max * limits::ledger_provisioning_text_bytes_max;
static_assert(snapshot_base_bytes_max +
                  limits::ledger_sessions_max * snapshot_session_extra_bytes +
                  json_escape_factor_max * limits::ledger_session_metadata_bytes_max +
                  snapshot_profile_bytes_max + snapshot_payment_bytes_max +
                  snapshot_provisioning_bytes_max <=
                limits::body_bytes_max,
              "a ledger snapshot with session metadata, a profile, a payment method and the "
              "provisioning maps must stay decodable");

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

// Every member any event may carry. An event is decoded into all of them, then the members of its
// type are taken and any other member present is an unknown_field: the reader's own check cannot
// do that, because it must declare the same members for every object.
enum member_bit : std::uint64_t {
  m_id = 1ull << 0,
  m_provider = 1ull << 1,
  m_session = 1ull << 2,
  m_token = 1ull << 3,
  m_hold = 1ull << 4,
  m_charge = 1ull << 5,
  m_description = 1ull << 6,
  m_currency = 1ull << 7,
  m_kind = 1ull << 8,
  m_amount = 1ull << 9,
  m_max_amount = 1ull << 10,
  m_run_budget = 1ull << 11,
  m_cap = 1ull << 12,
  m_expires_at = 1ull << 13,
  m_single_use = 1ull << 14,
  m_at = 1ull << 15,
  m_label = 1ull << 16,
  m_intents = 1ull << 17,
  m_platform_ref = 1ull << 18,
  m_email = 1ull << 19,
  m_email_verified = 1ull << 20,
  m_name = 1ull << 21,
  m_active = 1ull << 22,
  m_psp = 1ull << 23,
  m_reference = 1ull << 24,
  m_last4 = 1ull << 25,
  m_brand = 1ull << 26,
  m_version = 1ull << 27,
  m_accepted_by = 1ull << 28,
  m_service = 1ull << 29,
  m_value = 1ull << 30,
  m_message = 1ull << 31,
  m_url = 1ull << 32,
  m_approved = 1ull << 33,
  m_decided_by = 1ull << 34,
  m_note = 1ull << 35,
  m_resource = 1ull << 36,
  m_account_id = 1ull << 37,
  m_outcome = 1ull << 38,
  m_vault_ref = 1ull << 39,
  m_provider_key = 1ull << 40,
  m_status = 1ull << 41,
  m_provider_id = 1ull << 42,
  m_price = 1ull << 43,
  m_failure_code = 1ull << 44,
};

constexpr std::array<std::string_view, 45> member_names{
  "id",     "provider",   "session",    "token", "hold",       "charge",     "description", "currency",
  "kind",   "amount",     "max_amount", "run_budget", "cap",   "expires_at", "single_use",  "at",
  "label",  "intents",    "platform_ref", "email", "email_verified", "name",   "active",
  "psp",    "reference",  "last4",      "brand",
  "version", "accepted_by", "service", "value", "message", "url", "approved", "decided_by", "note",
  "resource", "account_id", "outcome", "vault_ref", "provider_key", "status", "provider_id",
  "price", "failure_code",
};

struct event_fields {
  std::string type;
  std::optional<std::string> id, provider, session, token, hold, charge, description, currency,
    kind, label, platform_ref, email, name, psp, reference, last4, brand, version, accepted_by,
    service, value, message, url, decided_by, note, resource, account_id, outcome, vault_ref,
    provider_key, status, provider_id, failure_code;
  std::optional<money_field> amount, max_amount, run_budget, cap, price;
  std::optional<std::int64_t> expires_at, at;
  std::optional<bool> single_use, email_verified, active, approved;
  /// `intents` is an object (`{"domains":[...]}`, as in the API), so its presence is recorded by
  /// its declaration callback rather than by an optional.
  bool intents = false;
  std::vector<std::string> intent_domains;

  std::uint64_t present() const noexcept {
    std::uint64_t bits = 0;
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
    mark(label.has_value(), m_label);
    mark(intents, m_intents);
    mark(platform_ref.has_value(), m_platform_ref);
    mark(email.has_value(), m_email);
    mark(email_verified.has_value(), m_email_verified);
    mark(name.has_value(), m_name);
    mark(active.has_value(), m_active);
    mark(psp.has_value(), m_psp);
    mark(reference.has_value(), m_reference);
    mark(last4.has_value(), m_last4);
    mark(brand.has_value(), m_brand);
    mark(version.has_value(), m_version);
    mark(accepted_by.has_value(), m_accepted_by);
    mark(service.has_value(), m_service);
    mark(value.has_value(), m_value);
    mark(message.has_value(), m_message);
    mark(url.has_value(), m_url);
    mark(approved.has_value(), m_approved);
    mark(decided_by.has_value(), m_decided_by);
    mark(note.has_value(), m_note);
    mark(resource.has_value(), m_resource);
    mark(account_id.has_value(), m_account_id);
    mark(outcome.has_value(), m_outcome);
    mark(vault_ref.has_value(), m_vault_ref);
    mark(provider_key.has_value(), m_provider_key);
    mark(status.has_value(), m_status);
    mark(provider_id.has_value(), m_provider_id);
    mark(price.has_value(), m_price);
    mark(failure_code.has_value(), m_failure_code);
    return bits;
  }
};

struct event_shape {
  std::string_view type;
  std::uint64_t required;
  std::uint64_t optional;
};

// Members added after the first journals were written (a session's label and intents) are optional,
// so that those journals still decode.
constexpr std::array<event_shape, 26> event_shapes{{
  {"currency.set", m_currency | m_at, 0},
  {"cap.set", m_kind | m_at, m_provider | m_cap},
  {"session.opened", m_id | m_run_budget | m_expires_at | m_at, m_label | m_intents},
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
  {"user.upserted", m_platform_ref | m_email | m_email_verified | m_at, m_name},
  {"kill.set", m_active | m_at, m_session},
  {"payment_method.set", m_psp | m_reference | m_at, m_last4 | m_brand},
  // Provisioning (core/ledger_provisioning.hpp).
  {"terms.accepted", m_provider | m_version | m_accepted_by | m_at, 0},
  {"approval.opened",
   m_id | m_kind | m_provider | m_service | m_value | m_message | m_expires_at | m_at,
   m_session | m_amount | m_url},
  {"approval.decided", m_id | m_approved | m_decided_by | m_at, m_note},
  {"approval.used", m_id | m_resource | m_at, 0},
  {"approval.retired", m_id | m_at, 0},
  {"link.created", m_id | m_provider | m_account_id | m_outcome | m_vault_ref | m_at, 0},
  {"resource.requested", m_id | m_provider | m_service | m_name | m_provider_key | m_at,
   m_session | m_hold | m_token},
  {"resource.updated", m_id | m_status | m_at,
   m_provider_id | m_price | m_vault_ref | m_failure_code},
  {"resource.retired", m_id | m_at, 0},
  {"resource.revealed", m_id | m_at, m_session},
}};

/// Checks an id member against its kind.
json_error check_id(const std::optional<std::string>& id, id_kind kind, std::string_view member) {
  if (id && !is_valid(kind, *id))
    return json_failure(api_error::invalid_field, "/" + std::string(member),
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
    return json_failure(api_error::invalid_field, pointer + "/amount", "must be positive");
  return {};
}

/// `"intents":{"domains":[...]}`, the API's shape of a session's intents; nothing when empty.
void write_intents(json_writer& w, const std::vector<std::string>& domains) {
  if (domains.empty()) return;
  w.key("intents").begin_object().key("domains").begin_array();
  for (const std::string& domain : domains) w.value(domain);
  w.end_array().end_object();
}

/// Declares the `intents` member, setting `present` when it appears.
void declare_intents(object_reader& o, bool& present, std::vector<std::string>& domains) {
  o.optional("intents", [&](object_reader& i) {
    present = true;
    i.required("domains", domains, intent_domains_max, domain_bytes_max);
  });
}

/// Checks a session's intent domains as the ledger accepted them (`pointer` names the object they
/// sit in). An empty label or list is accepted although it is written only when non-empty.
json_error check_intent_domains(const std::vector<std::string>& domains,
                                const std::string& pointer) {
  for (std::size_t i = 0; i < domains.size(); ++i) {
    std::string item = pointer + "/intents/domains/" + std::to_string(i);
    if (!is_valid_domain(domains[i]))
      return json_failure(api_error::invalid_field, item, "must be a lowercase domain name");
    for (std::size_t j = 0; j < i; ++j)
      if (domains[j] == domains[i])
        return json_failure(api_error::invalid_field, item, "duplicate");
  }
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
        // Only when set, so a session without them encodes as before these members existed.
        if (!e.label.empty()) w.member("label", e.label);
        write_intents(w, e.intent_domains);
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
      [&](const user_upserted& e) {
        w.member("platform_ref", e.platform_ref)
          .member("email", e.email)
          .member("email_verified", e.email_verified);
        write_optional(w, "name", e.name);
      },
      [&](const kill_set& e) {
        if (e.session_scope) w.member("session", e.session);
        w.member("active", e.active);
      },
      [&](const payment_method_set& e) {
        w.member("psp", e.psp).member("reference", e.reference);
        write_optional(w, "last4", e.last4);
        write_optional(w, "brand", e.brand);
      },
      [&](const terms_accepted& e) {
        w.member("provider", e.provider)
          .member("version", e.version)
          .member("accepted_by", e.accepted_by);
      },
      [&](const approval_opened& e) {
        w.member("id", e.id).member("kind", to_string(e.kind));
        write_optional(w, "session", e.session);
        w.member("provider", e.provider).member("service", e.service).member("value", e.value);
        if (e.amount) write_money_member(w, "amount", *e.amount);
        w.member("message", e.message);
        write_optional(w, "url", e.url);
        w.member("expires_at", e.expires_at);
      },
      [&](const approval_decided& e) {
        w.member("id", e.id).member("approved", e.approved).member("decided_by", e.decided_by);
        write_optional(w, "note", e.note);
      },
      [&](const approval_used& e) { w.member("id", e.id).member("resource", e.resource); },
      [&](const link_created& e) {
        w.member("id", e.id)
          .member("provider", e.provider)
          .member("account_id", e.account_id)
          .member("outcome", to_string(e.outcome))
          .member("vault_ref", e.vault_ref);
      },
      [&](const resource_requested& e) {
        w.member("id", e.id)
          .member("provider", e.provider)
          .member("service", e.service)
          .member("name", e.name);
        write_optional(w, "session", e.session);
        write_optional(w, "hold", e.hold);
        write_optional(w, "token", e.token);
        w.member("provider_key", e.provider_key);
      },
      [&](const resource_updated& e) {
        w.member("id", e.id).member("status", to_string(e.status));
        write_optional(w, "provider_id", e.provider_id);
        if (e.price) write_money_member(w, "price", *e.price);
        write_optional(w, "vault_ref", e.vault_ref);
        write_optional(w, "failure_code", e.failure_code);
      },
      [&](const resource_revealed& e) {
        w.member("id", e.id);
        write_optional(w, "session", e.session);
      },
    },
    event);
  w.member("at", event_time(event)).end_object();
}

namespace {

/// Refuses a provisioning event whose members break the rules its decision enforces.
template <class Event>
json_error take_provisioning(Event event, ledger_event& out) {
  if (auto member = provisioning_event_syntax(event))
    return json_failure(api_error::invalid_field, "/" + std::string(*member),
                       "breaks the rule of " + std::string(*member));
  out = std::move(event);
  return {};
}

/// The events decode_event did not build itself: the provisioning events and the retirements.
/// Members are present as the event's shape requires.
json_error decode_provisioning_event(event_fields& f, std::string_view type, money amount,
                                     money price, std::int64_t at, ledger_event& out) {
  if (type == "terms.accepted")
    return take_provisioning(terms_accepted{*f.provider, *f.version, *f.accepted_by, at}, out);
  if (type == "approval.opened") {
    auto kind = parse_approval_kind(*f.kind);
    if (!kind) return json_failure(api_error::invalid_field, "/kind", "unknown approval kind");
    return take_provisioning(
      approval_opened{*f.id, *kind, f.session, *f.provider, *f.service, *f.value,
                      f.amount ? std::optional(amount) : std::nullopt, *f.message, f.url,
                      *f.expires_at, at},
      out);
  }
  if (type == "approval.decided")
    return take_provisioning(approval_decided{*f.id, *f.approved, *f.decided_by, f.note, at}, out);
  if (type == "approval.used") {
    out = approval_used{*f.id, *f.resource, at};
    return {};
  }
  if (type == "link.created") {
    auto outcome = parse_link_outcome(*f.outcome);
    if (!outcome) return json_failure(api_error::invalid_field, "/outcome", "unknown link outcome");
    return take_provisioning(
      link_created{*f.id, *f.provider, *f.account_id, *outcome, *f.vault_ref, at}, out);
  }
  if (type == "resource.requested")
    return take_provisioning(resource_requested{*f.id, *f.provider, *f.service, *f.name,
                                                f.session, f.hold, f.token, *f.provider_key, at},
                             out);
  if (type == "resource.updated") {
    auto status = parse_resource_status(*f.status);
    if (!status) return json_failure(api_error::invalid_field, "/status", "unknown resource status");
    return take_provisioning(resource_updated{*f.id, *status, f.provider_id,
                                              f.price ? std::optional(price) : std::nullopt,
                                              f.vault_ref, f.failure_code, at},
                             out);
  }
  if (type == "resource.revealed") {
    out = resource_revealed{*f.id, f.session, at};
    return {};
  }
  retired::what what = retired::what::token;
  if (type == "session.retired") what = retired::what::session;
  if (type == "approval.retired") what = retired::what::approval;
  if (type == "resource.retired") what = retired::what::resource;
  out = retired{what, *f.id, at};
  return {};
}

} // namespace

json_error decode_event(std::string_view json, ledger_event& out) {
  event_fields f;
  auto money_member = [](object_reader& r, money_field& m) {
    declare_money(r, m, amount_sign::non_negative);
  };
  json_error error = decode(json, [&](object_reader& o) {
    o.required("type", f.type, 32);
    o.optional("id", f.id, id_bytes_max);
    o.optional("provider", f.provider, limits::provider_slug_bytes_max);
    o.optional("session", f.session, id_bytes);
    o.optional("token", f.token, id_bytes);
    o.optional("hold", f.hold, id_bytes);
    o.optional("charge", f.charge, id_bytes_max);
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
    o.optional("label", f.label, session_label_bytes_max);
    declare_intents(o, f.intents, f.intent_domains);
    o.optional("platform_ref", f.platform_ref, platform_ref_bytes_max);
    o.optional("email", f.email, email_bytes_max);
    o.optional("email_verified", f.email_verified);
    o.optional("name", f.name, std::max(user_name_bytes_max, limits::resource_name_bytes_max));
    o.optional("active", f.active);
    o.optional("psp", f.psp, psp_bytes_max);
    o.optional("reference", f.reference, payment_reference_bytes_max);
    o.optional("last4", f.last4, 4);
    o.optional("brand", f.brand, card_brand_bytes_max);
    o.optional("version", f.version, limits::terms_version_bytes_max);
    o.optional("accepted_by", f.accepted_by, limits::accepted_by_bytes_max);
    o.optional("service", f.service, limits::service_id_bytes_max);
    o.optional("value", f.value, limits::approval_value_bytes_max);
    o.optional("message", f.message, limits::approval_message_bytes_max);
    o.optional("url", f.url, limits::approval_url_bytes_max);
    o.optional("approved", f.approved);
    o.optional("decided_by", f.decided_by, decided_by_bytes_max);
    o.optional("note", f.note, approval_note_bytes_max);
    o.optional("resource", f.resource, id_bytes);
    o.optional("account_id", f.account_id, limits::provider_object_id_bytes_max);
    o.optional("outcome", f.outcome, 32);
    o.optional("vault_ref", f.vault_ref, limits::vault_ref_bytes_max);
    o.optional("provider_key", f.provider_key, limits::idempotency_key_bytes_max);
    o.optional("status", f.status, 32);
    o.optional("provider_id", f.provider_id, limits::provider_object_id_bytes_max);
    o.optional("price", f.price, money_member);
    o.optional("failure_code", f.failure_code, limits::failure_code_bytes_max);
  });
  if (error) return error;

  const event_shape* shape = nullptr;
  for (const event_shape& candidate : event_shapes)
    if (candidate.type == f.type) shape = &candidate;
  if (shape == nullptr)
    return json_failure(api_error::invalid_field, "/type", "unknown event type");
  std::uint64_t present = f.present();
  for (std::size_t bit = 0; bit < member_names.size(); ++bit) {
    std::uint64_t mask = 1ull << bit;
    if ((present & mask) && !((shape->required | shape->optional) & mask))
      return json_failure(api_error::unknown_field, "/" + std::string(member_names[bit]),
                         "not a member of " + std::string(f.type));
    if (!(present & mask) && (shape->required & mask))
      return json_failure(api_error::invalid_field, "/" + std::string(member_names[bit]),
                         "required");
  }
  if (f.provider && !is_valid_provider_slug(*f.provider))
    return json_failure(api_error::invalid_field, "/provider", "invalid provider slug");
  id_kind id_of_type = id_kind::event;
  if (f.type.starts_with("session.")) id_of_type = id_kind::session;
  if (f.type.starts_with("token.")) id_of_type = id_kind::payment_token;
  if (f.type.starts_with("hold.")) id_of_type = id_kind::hold;
  if (f.type.starts_with("charge.")) id_of_type = id_kind::charge;
  if (f.type.starts_with("refund.")) id_of_type = id_kind::refund;
  if (f.type.starts_with("approval.")) id_of_type = id_kind::approval;
  if (f.type.starts_with("link.")) id_of_type = id_kind::link;
  if (f.type.starts_with("resource.")) id_of_type = id_kind::resource;
  if (json_error e = check_id(f.id, id_of_type, "id")) return e;
  if (json_error e = check_id(f.session, id_kind::session, "session")) return e;
  if (json_error e = check_id(f.token, id_kind::payment_token, "token")) return e;
  if (json_error e = check_id(f.hold, id_kind::hold, "hold")) return e;
  if (json_error e = check_id(f.charge, id_kind::charge, "charge")) return e;
  if (json_error e = check_id(f.resource, id_kind::resource, "resource")) return e;
  if (json_error e = check_intent_domains(f.intent_domains, "")) return e;
  if (f.platform_ref && !is_valid_platform_ref(*f.platform_ref))
    return json_failure(api_error::invalid_field, "/platform_ref", "invalid platform_ref");
  if (f.email && !is_valid_email(*f.email))
    return json_failure(api_error::invalid_field, "/email", "must be an email address");

  money amount, max_amount, run_budget, cap, price;
  if (json_error e = take_money(f.amount, "amount", 1, amount)) return e;
  if (json_error e = take_money(f.max_amount, "max_amount", 1, max_amount)) return e;
  if (json_error e = take_money(f.run_budget, "run_budget", 0, run_budget)) return e;
  if (json_error e = take_money(f.cap, "cap", 0, cap)) return e;
  if (json_error e = take_money(f.price, "price", 0, price)) return e;

  const std::int64_t at = *f.at;
  const std::string_view type = f.type;
  if (type == "currency.set") {
    auto code = parse_currency(*f.currency);
    if (!code) return json_failure(api_error::unsupported_currency, "/currency", "unsupported");
    out = currency_set{*code, at};
  } else if (type == "cap.set") {
    auto kind = parse_cap_kind(*f.kind);
    if (!kind) return json_failure(api_error::invalid_field, "/kind", "unknown cap kind");
    if ((*kind == cap_kind::provider) != f.provider.has_value())
      return json_failure(api_error::invalid_field, "/provider",
                         "required for, and only for, a provider cap");
    out = cap_set{*kind, f.provider.value_or(""), f.cap ? std::optional(cap) : std::nullopt, at};
  } else if (type == "session.opened") {
    out = session_opened{*f.id, run_budget, *f.expires_at, f.label.value_or(""),
                         std::move(f.intent_domains), at};
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
  } else if (type == "user.upserted") {
    // `name` is read up to a resource name's bound; a user's is shorter.
    if (f.name && f.name->size() > user_name_bytes_max)
      return json_failure(api_error::invalid_field, "/name",
                         "must be at most " + std::to_string(user_name_bytes_max) + " bytes");
    out = user_upserted{*f.platform_ref, *f.email, *f.email_verified, f.name, at};
  } else if (type == "kill.set") {
    out = kill_set{f.session.has_value(), f.session.value_or(""), *f.active, at};
  } else if (type == "payment_method.set") {
    if (auto member = check_payment_method_syntax(*f.psp, *f.reference, f.last4, f.brand))
      return json_failure(api_error::invalid_field, "/" + std::string(*member),
                         "breaks the syntax of a payment method");
    out = payment_method_set{*f.psp, *f.reference, f.last4, f.brand, at};
  } else if (json_error e = decode_provisioning_event(f, type, amount, price, at, out)) {
    return e;
  }
  return {};
}

// --- Snapshots -----------------------------------------------------------------------------------

namespace {

/// The provisioning maps of a snapshot, each only when it is not empty (so a ledger without them
/// encodes as before they existed).
void encode_provisioning(json_writer& w, const ledger_state& state) {
  if (!state.terms.empty()) {
    w.key("terms").begin_array();
    for (const auto& [slug, t] : state.terms)
      w.begin_object()
        .member("provider", slug)
        .member("version", t.version)
        .member("accepted_by", t.accepted_by)
        .member("at", t.at)
        .end_object();
    w.end_array();
  }
  if (!state.approvals.empty()) {
    w.key("approvals").begin_array();
    for (const auto& [id, a] : state.approvals) {
      w.begin_object().member("id", id).member("kind", to_string(a.kind));
      write_optional(w, "session", a.session);
      w.member("provider", a.provider).member("service", a.service).member("value", a.value);
      if (a.amount) write_money_member(w, "amount", *a.amount);
      w.member("message", a.message);
      write_optional(w, "url", a.url);
      w.member("expires_at", a.expires_at).member("created", a.created);
      if (a.approved) {
        w.member("approved", *a.approved)
          .member("decided_by", a.decided_by)
          .member("decided_at", a.decided_at);
        write_optional(w, "note", a.note);
      }
      if (a.used_by) w.member("used_by", *a.used_by).member("used_at", a.used_at);
      w.end_object();
    }
    w.end_array();
  }
  if (!state.links.empty()) {
    w.key("links").begin_array();
    for (const auto& [slug, l] : state.links)
      w.begin_object()
        .member("provider", slug)
        .member("id", l.id)
        .member("account_id", l.account_id)
        .member("outcome", to_string(l.outcome))
        .member("vault_ref", l.vault_ref)
        .member("at", l.at)
        .end_object();
    w.end_array();
  }
  if (!state.resources.empty()) {
    w.key("resources").begin_array();
    for (const auto& [id, r] : state.resources) {
      w.begin_object()
        .member("id", id)
        .member("provider", r.provider)
        .member("service", r.service)
        .member("name", r.name);
      write_optional(w, "session", r.session);
      w.member("status", to_string(r.status));
      write_optional(w, "provider_id", r.provider_id);
      write_optional(w, "hold", r.hold);
      write_optional(w, "token", r.token);
      if (r.price) write_money_member(w, "price", *r.price);
      write_optional(w, "vault_ref", r.vault_ref);
      w.member("provider_key", r.provider_key);
      write_optional(w, "failure_code", r.failure_code);
      w.member("created", r.created).member("updated", r.updated).end_object();
    }
    w.end_array();
  }
}

} // namespace

void encode_snapshot(const ledger_state& state, std::string& out) {
  json_writer w(out);
  w.begin_object()
    .member("currency", to_string(state.ledger_currency))
    .member("month", state.month)
    .member("provider_cap_default", state.provider_cap_default);
  if (state.global_cap) w.member("global_cap", *state.global_cap);
  w.member("global_spent", state.global_spent).member("global_held", state.global_held);
  // Members added after the first snapshots were written appear only when they differ from the
  // default, like the new members of events.
  if (state.killed) w.member("killed", true);
  if (state.profile) {
    const user_profile& p = *state.profile;
    w.key("profile")
      .begin_object()
      .member("platform_ref", p.platform_ref)
      .member("email", p.email)
      .member("email_verified", p.email_verified);
    write_optional(w, "name", p.name);
    w.member("created", p.created).member("updated", p.updated).end_object();
  }
  if (state.payment) {
    const payment_method& p = *state.payment;
    w.key("payment").begin_object().member("psp", p.psp).member("reference", p.reference);
    write_optional(w, "last4", p.last4);
    write_optional(w, "brand", p.brand);
    w.member("updated", p.updated).end_object();
  }

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
    if (!s.label.empty()) w.member("label", s.label);
    write_intents(w, s.intent_domains);
    if (s.created != 0) w.member("created", s.created);
    if (s.killed) w.member("killed", true);
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
  encode_provisioning(w, state);
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
  std::string label;
  bool intents = false;
  std::vector<std::string> intent_domains;
  std::int64_t created = 0;
  bool killed = false;
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
struct terms_row {
  std::string provider;
  terms_state terms;
};
struct approval_row {
  std::string id, kind;
  approval_state approval;
  std::optional<money_field> amount;
};
struct link_row {
  std::string provider, outcome;
  link_state link;
};
struct resource_row {
  std::string id, status;
  resource_state resource;
  std::optional<money_field> price;
};

/// Resolves a money field of a snapshot row; the row's currency must be the ledger's.
json_error snapshot_money(const money_field& field, std::string pointer, currency code,
                          money& out) {
  if (json_error error = resolve_money(field, pointer, out)) return error;
  if (out.code != code)
    return json_failure(api_error::invalid_field, pointer + "/currency",
                       "differs from the ledger currency");
  return {};
}

template <class Map, class Value>
json_error insert_unique(Map& map, const std::string& key, Value value, std::string pointer) {
  if (!map.emplace(key, std::move(value)).second)
    return json_failure(api_error::invalid_field, std::move(pointer), "duplicate " + key);
  return {};
}

/// Moves the decoded provisioning rows into `s`: enums parsed, money in the ledger currency, keys
/// unique. Their syntax and bounds are left to check_invariants.
json_error decode_provisioning_rows(std::vector<terms_row>& terms,
                                    std::vector<approval_row>& approvals,
                                    std::vector<link_row>& links,
                                    std::vector<resource_row>& resources, currency code,
                                    ledger_state& s) {
  for (std::size_t i = 0; i < terms.size(); ++i)
    if (json_error e = insert_unique(s.terms, terms[i].provider, std::move(terms[i].terms),
                                     "/terms/" + std::to_string(i)))
      return e;
  for (std::size_t i = 0; i < approvals.size(); ++i) {
    approval_row& row = approvals[i];
    std::string pointer = "/approvals/" + std::to_string(i);
    auto kind = parse_approval_kind(row.kind);
    if (!kind) return json_failure(api_error::invalid_field, pointer + "/kind", "unknown kind");
    row.approval.kind = *kind;
    if (row.amount) {
      money amount;
      if (json_error e = snapshot_money(*row.amount, pointer + "/amount", code, amount)) return e;
      row.approval.amount = amount;
    }
    if (json_error e = insert_unique(s.approvals, row.id, std::move(row.approval), pointer))
      return e;
  }
  for (std::size_t i = 0; i < links.size(); ++i) {
    link_row& row = links[i];
    std::string pointer = "/links/" + std::to_string(i);
    auto outcome = parse_link_outcome(row.outcome);
    if (!outcome)
      return json_failure(api_error::invalid_field, pointer + "/outcome", "unknown outcome");
    row.link.outcome = *outcome;
    if (json_error e = insert_unique(s.links, row.provider, std::move(row.link), pointer)) return e;
  }
  for (std::size_t i = 0; i < resources.size(); ++i) {
    resource_row& row = resources[i];
    std::string pointer = "/resources/" + std::to_string(i);
    auto status = parse_resource_status(row.status);
    if (!status) return json_failure(api_error::invalid_field, pointer + "/status", "unknown status");
    row.resource.status = *status;
    if (row.price) {
      money price;
      if (json_error e = snapshot_money(*row.price, pointer + "/price", code, price)) return e;
      row.resource.price = price;
    }
    if (json_error e = insert_unique(s.resources, row.id, std::move(row.resource), pointer))
      return e;
  }
  return {};
}

} // namespace

std::string_view snapshot_dictionary() noexcept {
  // The snapshot's member names and the values every user repeats, spelled as encode_snapshot
  // writes them, the most common last (DEFLATE reaches back from the end of its dictionary most
  // cheaply).
  static constexpr std::string_view dictionary =
    R"(,"terms":[{"provider":"","version":"","accepted_by":"","at":}],)"
    R"("approvals":[{"id":"apr_","kind":"","session":"ses_","provider":"","service":"","value":"",)"
    R"("amount":,"message":"","url":"","expires_at":,"created":,"approved":,"decided_by":"",)"
    R"("decided_at":,"note":"","used_by":"","used_at":}],)"
    R"("links":[{"provider":"","id":"","account_id":"","outcome":"","vault_ref":"","at":}],)"
    R"("resources":[{"id":"res_","provider":"","service":"","name":"","session":"ses_",)"
    R"("status":"ready","provider_id":"","hold":"hld_","token":"ptk_","price":,"vault_ref":"",)"
    R"("provider_key":"","failure_code":"","created":,"updated":}],)"
    R"("payment":{"psp":"","reference":"","last4":"","brand":"","updated":},)"
    R"("sessions":[{"id":"ses_","run_budget":{"amount":,"currency":"usd"},"expires_at":,"spent":,)"
    R"("held":0,"label":"","created":,"killed":false}],)"
    R"("holds":[{"id":"hld_","provider":"","session":"ses_","token":"ptk_","amount":,)"
    R"("expires_at":}],)"
    R"("profile":{"platform_ref":"","email":"","email_verified":true,"name":"","created":,)"
    R"("updated":},)"
    R"("providers":[{"provider":"","cap":{"amount":,"currency":"usd"},"spent":,"held":0}],)"
    R"("tokens":[{"id":"ptk_","provider":"","session":"ses_",)"
    R"("max_amount":{"amount":,"currency":"usd"},)"
    R"("expires_at":,"single_use":false,"revoked":false,"used":,"held":0,"charges":}],)"
    R"({"currency":"usd","month":,"provider_cap_default":10000,"global_spent":,"global_held":0,)"
    R"("killed":false,"charges":[{"id":"chg_","token":"ptk_","provider":"","session":"ses_",)"
    R"("amount":,"refunded":0,"month":,"at":},)";
  return dictionary;
}

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
  std::vector<terms_row> terms;
  std::vector<approval_row> approvals;
  std::vector<link_row> links;
  std::vector<resource_row> resources;
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
    o.optional("killed", s.killed);
    o.optional("profile", s.profile, [&](object_reader& r, user_profile& p) {
      r.required("platform_ref", p.platform_ref, platform_ref_bytes_max);
      r.required("email", p.email, email_bytes_max);
      r.required("email_verified", p.email_verified);
      r.optional("name", p.name, user_name_bytes_max);
      r.required("created", p.created, std::int64_t{0}, unix_seconds_max);
      r.required("updated", p.updated, std::int64_t{0}, unix_seconds_max);
    });
    o.optional("payment", s.payment, [&](object_reader& r, payment_method& p) {
      r.required("psp", p.psp, psp_bytes_max);
      r.required("reference", p.reference, payment_reference_bytes_max);
      r.optional("last4", p.last4, 4);
      r.optional("brand", p.brand, card_brand_bytes_max);
      r.required("updated", p.updated, std::int64_t{0}, unix_seconds_max);
    });
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
                 r.optional("label", x.label, session_label_bytes_max);
                 declare_intents(r, x.intents, x.intent_domains);
                 r.optional("created", x.created, std::int64_t{0}, unix_seconds_max);
                 r.optional("killed", x.killed);
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
                 r.required("id", x.id, id_bytes_max);
                 r.required("token", x.token, id_bytes);
                 r.required("provider", x.provider, limits::provider_slug_bytes_max);
                 r.optional("session", x.session, id_bytes);
                 r.required("amount", x.amount, std::int64_t{1}, limits::money_amount_max);
                 r.required("refunded", x.refunded, std::int64_t{0}, limits::money_amount_max);
                 r.required("month", x.month, std::int64_t{0}, month_max);
                 r.required("at", x.at, std::int64_t{0}, unix_seconds_max);
               });
    o.optional("terms", terms, limits::ledger_terms_max, [&](object_reader& r, terms_row& x) {
      r.required("provider", x.provider, limits::provider_slug_bytes_max);
      r.required("version", x.terms.version, limits::terms_version_bytes_max);
      r.required("accepted_by", x.terms.accepted_by, limits::accepted_by_bytes_max);
      r.required("at", x.terms.at, std::int64_t{0}, unix_seconds_max);
    });
    o.optional("approvals", approvals, limits::ledger_approvals_max,
               [&](object_reader& r, approval_row& x) {
                 approval_state& a = x.approval;
                 r.required("id", x.id, id_bytes);
                 r.required("kind", x.kind, 32);
                 r.optional("session", a.session, id_bytes);
                 r.required("provider", a.provider, limits::provider_slug_bytes_max);
                 r.required("service", a.service, limits::service_id_bytes_max);
                 r.required("value", a.value, limits::approval_value_bytes_max);
                 r.optional("amount", x.amount, money_member);
                 r.required("message", a.message, limits::approval_message_bytes_max);
                 r.optional("url", a.url, limits::approval_url_bytes_max);
                 r.required("expires_at", a.expires_at, std::int64_t{0}, unix_seconds_max);
                 r.required("created", a.created, std::int64_t{0}, unix_seconds_max);
                 r.optional("approved", a.approved);
                 r.optional("decided_by", a.decided_by, decided_by_bytes_max);
                 r.optional("decided_at", a.decided_at, std::int64_t{0}, unix_seconds_max);
                 r.optional("note", a.note, approval_note_bytes_max);
                 r.optional("used_by", a.used_by, id_bytes);
                 r.optional("used_at", a.used_at, std::int64_t{0}, unix_seconds_max);
               });
    o.optional("links", links, limits::ledger_links_max, [&](object_reader& r, link_row& x) {
      r.required("provider", x.provider, limits::provider_slug_bytes_max);
      r.required("id", x.link.id, id_bytes);
      r.required("account_id", x.link.account_id, limits::provider_object_id_bytes_max);
      r.required("outcome", x.outcome, 32);
      r.required("vault_ref", x.link.vault_ref, limits::vault_ref_bytes_max);
      r.required("at", x.link.at, std::int64_t{0}, unix_seconds_max);
    });
    o.optional("resources", resources, limits::ledger_resources_max,
               [&](object_reader& r, resource_row& x) {
                 resource_state& res = x.resource;
                 r.required("id", x.id, id_bytes);
                 r.required("provider", res.provider, limits::provider_slug_bytes_max);
                 r.required("service", res.service, limits::service_id_bytes_max);
                 r.required("name", res.name, limits::resource_name_bytes_max);
                 r.optional("session", res.session, id_bytes);
                 r.required("status", x.status, 32);
                 r.optional("provider_id", res.provider_id, limits::provider_object_id_bytes_max);
                 r.optional("hold", res.hold, id_bytes);
                 r.optional("token", res.token, id_bytes);
                 r.optional("price", x.price, money_member);
                 r.optional("vault_ref", res.vault_ref, limits::vault_ref_bytes_max);
                 r.required("provider_key", res.provider_key, limits::idempotency_key_bytes_max);
                 r.optional("failure_code", res.failure_code, limits::failure_code_bytes_max);
                 r.required("created", res.created, std::int64_t{0}, unix_seconds_max);
                 r.required("updated", res.updated, std::int64_t{0}, unix_seconds_max);
               });
  });
  if (error) return error;

  auto code = parse_currency(currency_text);
  if (!code) return json_failure(api_error::unsupported_currency, "/currency", "unsupported");
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
    if (json_error e = check_intent_domains(row.intent_domains, pointer)) return e;
    session_state x{{}, row.expires_at, row.spent, row.held, std::move(row.label),
                    std::move(row.intent_domains), row.created, row.killed};
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
  if (json_error e = decode_provisioning_rows(terms, approvals, links, resources, *code, s)) return e;
  // Ids of references (a charge's token, a token's session) are checked by check_invariants where
  // the referenced object must still exist; the rest only need to be well-formed.
  for (const auto& [id, c] : s.charges)
    if (!is_valid(id_kind::payment_token, c.token) ||
        (c.session && !is_valid(id_kind::session, *c.session)) || !is_valid_provider_slug(c.provider))
      return json_failure(api_error::invalid_field, "/charges", "malformed charge " + id);
  if (auto violation = check_invariants(s))
    return json_failure(api_error::invalid_field, "", "inconsistent snapshot: " + *violation);
  out = std::move(s);
  return {};
}

} // namespace steward::core
