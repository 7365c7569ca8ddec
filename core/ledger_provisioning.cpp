// The provisioning part of a user's ledger: terms, approvals, links and resources
// (core/ledger_provisioning.hpp; docs/ledger.md, "Provisioning"). Pure like the rest of the
// ledger: times and ids arrive in commands and events.

#include "core/ledger.hpp"

#include "core/api_messages.hpp"
#include "core/assert.hpp"
#include "core/ids.hpp"
#include "core/ledger_checks.hpp"

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace steward::core {
namespace {

using ledger_checks::accept;
using ledger_checks::check_amount;
using ledger_checks::check_new_id;
using ledger_checks::refuse;

// --- Member syntax -------------------------------------------------------------------------------

/// Which bytes a member may hold. `text` is what a human writes (any language, no control
/// characters); the ASCII sets are for identifiers, URLs and keys that come from machines.
enum class charset : std::uint8_t {
  text,            ///< is_provisioning_text
  visible_ascii,   ///< 0x21 to 0x7e
  printable_ascii, ///< 0x20 to 0x7e, like an Idempotency-Key
};

/// The rule of one string member; the decisions, the invariants and the journal decoder share it,
/// so that the ledger never journals what it would refuse to read back.
struct member_rule {
  std::string_view name;
  charset chars;
  std::size_t bytes_min;
  std::size_t bytes_max;
};

constexpr member_rule version_rule{"version", charset::visible_ascii, 1,
                                   limits::terms_version_bytes_max};
constexpr member_rule accepted_by_rule{"accepted_by", charset::text, 1,
                                       limits::accepted_by_bytes_max};
constexpr member_rule approval_service_rule{"service", charset::visible_ascii, 0,
                                            limits::service_id_bytes_max};
constexpr member_rule value_rule{"value", charset::text, 0, limits::approval_value_bytes_max};
constexpr member_rule message_rule{"message", charset::text, 1, limits::approval_message_bytes_max};
constexpr member_rule url_rule{"url", charset::visible_ascii, 1, limits::approval_url_bytes_max};
constexpr member_rule decided_by_rule{"decided_by", charset::text, 1, decided_by_bytes_max};
constexpr member_rule note_rule{"note", charset::text, 0, approval_note_bytes_max};
constexpr member_rule account_id_rule{"account_id", charset::visible_ascii, 1,
                                      limits::provider_object_id_bytes_max};
constexpr member_rule vault_ref_rule{"vault_ref", charset::visible_ascii, 1,
                                     limits::vault_ref_bytes_max};
constexpr member_rule resource_service_rule{"service", charset::visible_ascii, 1,
                                            limits::service_id_bytes_max};
constexpr member_rule name_rule{"name", charset::text, 0, limits::resource_name_bytes_max};
constexpr member_rule provider_key_rule{"provider_key", charset::printable_ascii, 1,
                                        limits::idempotency_key_bytes_max};
constexpr member_rule provider_id_rule{"provider_id", charset::visible_ascii, 1,
                                       limits::provider_object_id_bytes_max};
constexpr member_rule failure_code_rule{"failure_code", charset::visible_ascii, 1,
                                        limits::failure_code_bytes_max};

bool fits(const member_rule& rule, std::string_view value) noexcept {
  if (value.size() < rule.bytes_min || value.size() > rule.bytes_max) return false;
  switch (rule.chars) {
  case charset::text: return is_provisioning_text(value);
  case charset::visible_ascii:
    return std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  case charset::printable_ascii:
    return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  }
  return false;
}

bool fits(const member_rule& rule, const std::optional<std::string>& value) noexcept {
  return !value || fits(rule, std::string_view(*value));
}

/// The detail of a decline for a member that breaks its rule.
std::string describe(const member_rule& rule) {
  std::string detail = std::string(rule.name) + " must be ";
  detail += rule.bytes_min == 0 ? "at most " + std::to_string(rule.bytes_max)
                                : std::to_string(rule.bytes_min) + " to " +
                                    std::to_string(rule.bytes_max);
  switch (rule.chars) {
  case charset::text: detail += " bytes of UTF-8 text without control characters"; break;
  case charset::visible_ascii: detail += " visible ASCII characters"; break;
  case charset::printable_ascii: detail += " printable ASCII characters"; break;
  }
  return detail;
}

/// The first of `checks` (rule, whether the value fits it) that fails, or nullptr.
const member_rule* first_misfit(std::initializer_list<std::pair<const member_rule*, bool>> checks) {
  for (const auto& [rule, ok] : checks)
    if (!ok) return rule;
  return nullptr;
}

#define STEWARD_RULE(rule, value) std::pair<const member_rule*, bool>{&(rule), fits((rule), (value))}

const member_rule* terms_misfit(std::string_view version, std::string_view accepted_by) {
  return first_misfit({STEWARD_RULE(version_rule, version),
                       STEWARD_RULE(accepted_by_rule, accepted_by)});
}

const member_rule* approval_misfit(std::string_view service, std::string_view value,
                                   std::string_view message,
                                   const std::optional<std::string>& url) {
  return first_misfit({STEWARD_RULE(approval_service_rule, service), STEWARD_RULE(value_rule, value),
                       STEWARD_RULE(message_rule, message), STEWARD_RULE(url_rule, url)});
}

const member_rule* decision_misfit(std::string_view decided_by,
                                   const std::optional<std::string>& note) {
  return first_misfit({STEWARD_RULE(decided_by_rule, decided_by), STEWARD_RULE(note_rule, note)});
}

const member_rule* link_misfit(std::string_view account_id, std::string_view vault_ref) {
  return first_misfit({STEWARD_RULE(account_id_rule, account_id),
                       STEWARD_RULE(vault_ref_rule, vault_ref)});
}

const member_rule* request_misfit(std::string_view service, std::string_view name,
                                  std::string_view provider_key) {
  return first_misfit({STEWARD_RULE(resource_service_rule, service), STEWARD_RULE(name_rule, name),
                       STEWARD_RULE(provider_key_rule, provider_key)});
}

const member_rule* update_misfit(const std::optional<std::string>& provider_id,
                                 const std::optional<std::string>& vault_ref,
                                 const std::optional<std::string>& failure_code) {
  return first_misfit({STEWARD_RULE(provider_id_rule, provider_id),
                       STEWARD_RULE(vault_ref_rule, vault_ref),
                       STEWARD_RULE(failure_code_rule, failure_code)});
}

#undef STEWARD_RULE

std::optional<std::string_view> name_of(const member_rule* rule) {
  if (rule == nullptr) return std::nullopt;
  return rule->name;
}

// --- The text budget -----------------------------------------------------------------------------

std::size_t bytes_of(const std::optional<std::string>& text) { return text ? text->size() : 0; }

std::size_t text_bytes(const terms_state& terms) {
  return terms.version.size() + terms.accepted_by.size();
}
std::size_t text_bytes(const link_state& link) {
  return link.account_id.size() + link.vault_ref.size();
}
std::size_t text_bytes(const approval_state& a) {
  return a.service.size() + a.value.size() + a.message.size() + bytes_of(a.url) +
         a.decided_by.size() + bytes_of(a.note);
}
std::size_t text_bytes(const resource_state& r) {
  return r.service.size() + r.name.size() + r.provider_key.size() + bytes_of(r.provider_id) +
         bytes_of(r.vault_ref) + bytes_of(r.failure_code);
}

bool is_final(resource_status status) noexcept {
  return status == resource_status::failed || status == resource_status::removed;
}

/// What an object may come to hold: an undecided approval may still get its decision, a live
/// resource its provider_id, vault_ref and failure_code (at their longest).
std::size_t reserved_bytes(const approval_state& a) {
  if (a.approved) return text_bytes(a);
  return text_bytes(a) + decided_by_rule.bytes_max + note_rule.bytes_max;
}
std::size_t reserved_bytes(const resource_state& r) {
  if (is_final(r.status)) return text_bytes(r);
  return r.service.size() + r.name.size() + r.provider_key.size() + provider_id_rule.bytes_max +
         vault_ref_rule.bytes_max + failure_code_rule.bytes_max;
}

template <class Measure>
std::size_t total_bytes(const ledger_state& state, Measure measure) {
  std::size_t total = 0;
  for (const auto& [slug, terms] : state.terms) total += text_bytes(terms);
  for (const auto& [slug, link] : state.links) total += text_bytes(link);
  for (const auto& [id, approval] : state.approvals) total += measure(approval);
  for (const auto& [id, resource] : state.resources) total += measure(resource);
  return total;
}

std::size_t reserved_total(const ledger_state& state) {
  return total_bytes(state, [](const auto& object) { return reserved_bytes(object); });
}

// --- Decisions -----------------------------------------------------------------------------------

/// Declines a new object that would take the text budget past its limit: `freed` is what the
/// object it replaces reserved, `added` what the new one reserves.
std::optional<decline> check_text_budget(const ledger_state& state, std::size_t freed,
                                         std::size_t added) {
  if (reserved_total(state) - freed + added > limits::ledger_provisioning_text_bytes_max)
    return refuse(api_error::rate_limited,
                  "the approvals, resources, links and terms of this user carry too much text; "
                  "wait until closed ones retire");
  return std::nullopt;
}

std::optional<decline> misfit_decline(const member_rule* rule) {
  if (rule == nullptr) return std::nullopt;
  return refuse(api_error::invalid_field, describe(*rule));
}

decline not_pending(std::string_view id, approval_status status) {
  return refuse(api_error::approval_not_pending, "approval " + std::string(id) + " is " +
                                                   std::string(to_string(status)) +
                                                   ", not pending");
}

template <class Map>
auto& must_find(Map& map, std::string_view key) {
  auto it = map.find(key);
  STEWARD_ASSERT(it != map.end());
  return it->second;
}

} // namespace

// --- Names ---------------------------------------------------------------------------------------

bool is_provisioning_text(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char lead = *p;
    if (lead < 0x80) {
      if (lead < 0x20 || lead == 0x7f) return false;
      ++p;
      continue;
    }
    // RFC 3629: the second byte's range excludes overlong forms, surrogates and code points past
    // U+10FFFF.
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    unsigned char second_min = 0x80, second_max = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      code_point = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      code_point = lead & 0x0fu;
      if (lead == 0xe0) second_min = 0xa0;
      if (lead == 0xed) second_max = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      code_point = lead & 0x07u;
      if (lead == 0xf0) second_min = 0x90;
      if (lead == 0xf4) second_max = 0x8f;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < length) return false;
    for (std::size_t i = 1; i < length; ++i) {
      const unsigned char next = p[i];
      if (next < (i == 1 ? second_min : 0x80) || next > (i == 1 ? second_max : 0xbf)) return false;
      code_point = (code_point << 6) | (next & 0x3fu);
    }
    // C1 controls, and the two separators the JSON writer escapes as six bytes.
    if (code_point < 0xa0 || code_point == 0x2028 || code_point == 0x2029) return false;
    p += length;
  }
  return true;
}

std::string_view to_string(approval_kind kind) noexcept {
  switch (kind) {
  case approval_kind::tos_acceptance: return "tos_acceptance";
  case approval_kind::billing_setup: return "billing_setup";
  case approval_kind::account_link: return "account_link";
  case approval_kind::purchase_confirmation: return "purchase_confirmation";
  case approval_kind::budget_increase: return "budget_increase";
  }
  return "purchase_confirmation";
}

std::optional<approval_kind> parse_approval_kind(std::string_view text) noexcept {
  for (auto kind : {approval_kind::tos_acceptance, approval_kind::billing_setup,
                    approval_kind::account_link, approval_kind::purchase_confirmation,
                    approval_kind::budget_increase})
    if (to_string(kind) == text) return kind;
  return std::nullopt;
}

std::string_view to_string(approval_status status) noexcept {
  switch (status) {
  case approval_status::pending: return "pending";
  case approval_status::approved: return "approved";
  case approval_status::denied: return "denied";
  case approval_status::expired: return "expired";
  case approval_status::used: return "used";
  }
  return "pending";
}

std::optional<approval_status> parse_approval_status(std::string_view text) noexcept {
  for (auto status : {approval_status::pending, approval_status::approved, approval_status::denied,
                      approval_status::expired, approval_status::used})
    if (to_string(status) == text) return status;
  return std::nullopt;
}

approval_status status_at(const approval_state& approval, std::int64_t now) noexcept {
  if (approval.used_by) return approval_status::used;
  if (approval.approved && !*approval.approved) return approval_status::denied;
  if (now >= approval.expires_at) return approval_status::expired;
  return approval.approved ? approval_status::approved : approval_status::pending;
}

std::string_view to_string(link_outcome outcome) noexcept {
  return outcome == link_outcome::created ? "created" : "linked_existing";
}

std::optional<link_outcome> parse_link_outcome(std::string_view text) noexcept {
  if (text == "created") return link_outcome::created;
  if (text == "linked_existing") return link_outcome::linked_existing;
  return std::nullopt;
}

std::string_view to_string(resource_status status) noexcept {
  switch (status) {
  case resource_status::pending: return "pending";
  case resource_status::ready: return "ready";
  case resource_status::needs_human: return "needs_human";
  case resource_status::unknown: return "unknown";
  case resource_status::failed: return "failed";
  case resource_status::removed: return "removed";
  }
  return "pending";
}

std::optional<resource_status> parse_resource_status(std::string_view text) noexcept {
  for (auto status : {resource_status::pending, resource_status::ready,
                      resource_status::needs_human, resource_status::unknown,
                      resource_status::failed, resource_status::removed})
    if (to_string(status) == text) return status;
  return std::nullopt;
}

bool resource_transition_allowed(resource_status from, resource_status to) noexcept {
  using enum resource_status;
  switch (from) {
  case pending: return to == ready || to == failed || to == unknown || to == needs_human;
  case unknown: return to == ready || to == failed || to == unknown;
  case needs_human: return to == pending || to == failed;
  case ready: return to == ready || to == removed;
  case failed:
  case removed: return false;
  }
  return false;
}

// --- Decisions -----------------------------------------------------------------------------------

decision decide_accept_terms(const ledger_state& state, const accept_terms_command& command,
                             std::int64_t now) {
  if (!state.profile) return refuse(api_error::not_found, "no such user");
  if (!is_valid_provider_slug(command.provider))
    return refuse(api_error::invalid_field, "invalid provider slug");
  if (auto refused = misfit_decline(terms_misfit(command.version, command.accepted_by)))
    return *refused;
  auto existing = state.terms.find(command.provider);
  if (existing == state.terms.end() && state.terms.size() >= limits::ledger_terms_max)
    return refuse(api_error::rate_limited, "terms of too many providers accepted for this user");
  std::size_t freed = existing == state.terms.end() ? 0 : text_bytes(existing->second);
  if (auto refused = check_text_budget(state, freed,
                                       command.version.size() + command.accepted_by.size()))
    return *refused;
  return accept(terms_accepted{command.provider, command.version, command.accepted_by, now});
}

decision decide_open_approval(const ledger_state& state, const open_approval_command& command,
                              std::int64_t now) {
  if (auto refused = check_new_id(id_kind::approval, command.id)) return *refused;
  if (state.approvals.contains(command.id))
    return refuse(api_error::invalid_field, "an approval with this id exists");
  if (!is_valid_provider_slug(command.provider))
    return refuse(api_error::invalid_field, "invalid provider slug");
  if (command.session && !state.sessions.contains(*command.session))
    return refuse(api_error::not_found, "no such session");
  if (auto refused = misfit_decline(
        approval_misfit(command.service, command.value, command.message, command.url)))
    return *refused;
  if (command.amount)
    if (auto refused = check_amount(state, *command.amount, 1, "amount")) return *refused;
  if (command.expires_at <= now || command.expires_at - now > limits::approval_ttl_seconds_max)
    return refuse(api_error::invalid_field,
                  "expires_at must be within " + std::to_string(limits::approval_ttl_seconds_max) +
                    " seconds from now");
  std::size_t pending = 0;
  for (const auto& [id, approval] : state.approvals)
    if (status_at(approval, now) == approval_status::pending) ++pending;
  if (pending >= limits::ledger_approvals_pending_max)
    return refuse(api_error::rate_limited,
                  "too many pending approvals for this user; decide or let some expire first");
  if (state.approvals.size() >= limits::ledger_approvals_max)
    return refuse(api_error::rate_limited, "too many approvals kept for this user");
  approval_opened event{command.id,     command.kind,    command.session, command.provider,
                        command.service, command.value,  command.amount,  command.message,
                        command.url,     command.expires_at, now};
  approval_state opened;
  opened.service = event.service;
  opened.value = event.value;
  opened.message = event.message;
  opened.url = event.url;
  if (auto refused = check_text_budget(state, 0, reserved_bytes(opened))) return *refused;
  return accept(std::move(event));
}

decision decide_decide_approval(const ledger_state& state, const decide_approval_command& command,
                                std::int64_t now) {
  auto it = state.approvals.find(command.id);
  if (it == state.approvals.end()) return refuse(api_error::not_found, "no such approval");
  approval_status status = status_at(it->second, now);
  if (status != approval_status::pending) return not_pending(command.id, status);
  if (auto refused = misfit_decline(decision_misfit(command.decided_by, command.note)))
    return *refused;
  // No budget check: an undecided approval reserved room for its decision when it was opened.
  return accept(
    approval_decided{command.id, command.approved, command.decided_by, command.note, now});
}

decision decide_use_approval(const ledger_state& state, const use_approval_command& command,
                             std::int64_t now) {
  auto it = state.approvals.find(command.id);
  if (it == state.approvals.end()) return refuse(api_error::not_found, "no such approval");
  approval_status status = status_at(it->second, now);
  if (status != approval_status::approved) {
    decline refused = not_pending(command.id, status);
    refused.detail += " or approved; only an approved, unused, unexpired approval can be used";
    return refused;
  }
  if (!state.resources.contains(command.resource))
    return refuse(api_error::not_found, "no such resource");
  return accept(approval_used{command.id, command.resource, now});
}

std::string find_usable_approval(const ledger_state& state, approval_kind kind,
                                 std::optional<std::string_view> session,
                                 std::string_view provider, std::string_view service,
                                 std::string_view value, std::int64_t now) {
  for (const auto& [id, approval] : state.approvals) {
    if (approval.kind != kind || approval.provider != provider || approval.service != service ||
        approval.value != value)
      continue;
    if (approval.session && (!session || *approval.session != *session)) continue;
    if (status_at(approval, now) == approval_status::approved) return id;
  }
  return {};
}

decision decide_create_link(const ledger_state& state, const create_link_command& command,
                            std::int64_t now) {
  if (!state.profile) return refuse(api_error::not_found, "no such user");
  if (auto refused = check_new_id(id_kind::link, command.id)) return *refused;
  if (!is_valid_provider_slug(command.provider))
    return refuse(api_error::invalid_field, "invalid provider slug");
  for (const auto& [slug, link] : state.links)
    if (link.id == command.id)
      return refuse(api_error::invalid_field, "a link with this id exists");
  if (auto refused = misfit_decline(link_misfit(command.account_id, command.vault_ref)))
    return *refused;
  auto existing = state.links.find(command.provider);
  if (existing == state.links.end() && state.links.size() >= limits::ledger_links_max)
    return refuse(api_error::rate_limited, "links to too many providers for this user");
  std::size_t freed = existing == state.links.end() ? 0 : text_bytes(existing->second);
  if (auto refused = check_text_budget(state, freed,
                                       command.account_id.size() + command.vault_ref.size()))
    return *refused;
  return accept(link_created{command.id, command.provider, command.account_id, command.outcome,
                             command.vault_ref, now});
}

decision decide_request_resource(const ledger_state& state,
                                 const request_resource_command& command, std::int64_t now) {
  if (auto refused = check_new_id(id_kind::resource, command.id)) return *refused;
  if (state.resources.contains(command.id))
    return refuse(api_error::invalid_field, "a resource with this id exists");
  if (!is_valid_provider_slug(command.provider))
    return refuse(api_error::invalid_field, "invalid provider slug");
  if (auto refused =
        misfit_decline(request_misfit(command.service, command.name, command.provider_key)))
    return *refused;
  if (command.session && !state.sessions.contains(*command.session))
    return refuse(api_error::not_found, "no such session");
  if (command.hold) {
    auto hold = state.holds.find(*command.hold);
    if (hold == state.holds.end()) return refuse(api_error::not_found, "no such hold");
    if (hold->second.provider != command.provider)
      return refuse(api_error::invalid_field, "the hold was placed for another provider");
  }
  if (command.token) {
    auto token = state.tokens.find(*command.token);
    if (token == state.tokens.end() || token->second.provider != command.provider)
      return refuse(api_error::not_found, "no such payment token");
  }
  std::size_t live = 0;
  for (const auto& [id, resource] : state.resources)
    if (!is_final(resource.status)) ++live;
  if (live >= limits::ledger_resources_live_max)
    return refuse(api_error::rate_limited, "too many live resources for this user");
  if (state.resources.size() >= limits::ledger_resources_max)
    return refuse(api_error::rate_limited,
                  "too many resources kept for this user; removed and failed ones retire later");
  resource_state requested;
  requested.service = command.service;
  requested.name = command.name;
  requested.provider_key = command.provider_key;
  if (auto refused = check_text_budget(state, 0, reserved_bytes(requested))) return *refused;
  return accept(resource_requested{command.id, command.provider, command.service, command.name,
                                   command.session, command.hold, command.token,
                                   command.provider_key, now});
}

decision decide_reveal_resource(const ledger_state& state, std::string_view id,
                                std::optional<std::string> session, std::int64_t now) {
  auto it = state.resources.find(id);
  if (it == state.resources.end() || !it->second.vault_ref)
    return refuse(api_error::not_found, "no such resource with credentials");
  if (it->second.status != resource_status::ready)
    return refuse(api_error::resource_state_conflict,
                  "the resource is " + std::string(to_string(it->second.status)) +
                    "; only a ready resource's credentials are revealed");
  if (session && !state.sessions.contains(*session))
    return refuse(api_error::not_found, "no such session");
  return accept(resource_revealed{std::string(id), std::move(session), now});
}

decision decide_update_resource(const ledger_state& state, const update_resource_command& command,
                                std::int64_t now) {
  auto it = state.resources.find(command.id);
  if (it == state.resources.end()) return refuse(api_error::not_found, "no such resource");
  const resource_status from = it->second.status;
  if (!resource_transition_allowed(from, command.status))
    return refuse(api_error::resource_state_conflict,
                  "resource " + command.id + " is " + std::string(to_string(from)) +
                    (is_final(from) ? " (final)" : "") + "; it cannot become " +
                    std::string(to_string(command.status)));
  if (auto refused = misfit_decline(
        update_misfit(command.provider_id, command.vault_ref, command.failure_code)))
    return *refused;
  if (command.price)
    if (auto refused = check_amount(state, *command.price, 0, "price")) return *refused;
  // No budget check: a live resource reserved room for these members when it was requested.
  return accept(resource_updated{command.id, command.status, command.provider_id, command.price,
                                 command.vault_ref, command.failure_code, now});
}

void decide_retire_provisioning(const ledger_state& state, std::int64_t now,
                                std::vector<retired>& events) {
  const std::int64_t before = now - limits::ledger_retire_after_seconds;
  for (const auto& [id, approval] : state.approvals) {
    // Closed: used, denied, or past its expiry (pending or approved, it can no longer be used).
    std::int64_t closed = approval.expires_at;
    if (approval.used_by)
      closed = approval.used_at;
    else if (approval.approved && !*approval.approved)
      closed = approval.decided_at;
    if (closed <= before) events.push_back(retired{retired::what::approval, id, now});
  }
  for (const auto& [id, resource] : state.resources)
    if (is_final(resource.status) && resource.updated <= before)
      events.push_back(retired{retired::what::resource, id, now});
}

// --- Applying events -----------------------------------------------------------------------------

void apply_provisioning(ledger_state& state, const terms_accepted& e) {
  state.terms[e.provider] = terms_state{e.version, e.accepted_by, e.at};
}

void apply_provisioning(ledger_state& state, const approval_opened& e) {
  auto [it, inserted] = state.approvals.try_emplace(e.id);
  STEWARD_ASSERT(inserted);
  approval_state& approval = it->second;
  approval.kind = e.kind;
  approval.session = e.session;
  approval.provider = e.provider;
  approval.service = e.service;
  approval.value = e.value;
  approval.amount = e.amount;
  approval.message = e.message;
  approval.url = e.url;
  approval.expires_at = e.expires_at;
  approval.created = e.at;
}

void apply_provisioning(ledger_state& state, const approval_decided& e) {
  approval_state& approval = must_find(state.approvals, e.id);
  STEWARD_ASSERT(!approval.approved);
  approval.approved = e.approved;
  approval.decided_by = e.decided_by;
  approval.note = e.note;
  approval.decided_at = e.at;
}

void apply_provisioning(ledger_state& state, const approval_used& e) {
  approval_state& approval = must_find(state.approvals, e.id);
  STEWARD_ASSERT(approval.approved.value_or(false) && !approval.used_by);
  approval.used_by = e.resource;
  approval.used_at = e.at;
}

void apply_provisioning(ledger_state& state, const link_created& e) {
  state.links[e.provider] = link_state{e.id, e.account_id, e.outcome, e.vault_ref, e.at};
}

void apply_provisioning(ledger_state& state, const resource_requested& e) {
  auto [it, inserted] = state.resources.try_emplace(e.id);
  STEWARD_ASSERT(inserted);
  resource_state& resource = it->second;
  resource.provider = e.provider;
  resource.service = e.service;
  resource.name = e.name;
  resource.session = e.session;
  resource.status = resource_status::pending;
  resource.hold = e.hold;
  resource.token = e.token;
  resource.provider_key = e.provider_key;
  resource.created = e.at;
  resource.updated = e.at;
}

void apply_provisioning(ledger_state& state, const resource_updated& e) {
  resource_state& resource = must_find(state.resources, e.id);
  STEWARD_ASSERT(resource_transition_allowed(resource.status, e.status));
  resource.status = e.status;
  if (e.provider_id) resource.provider_id = e.provider_id;
  if (e.price) resource.price = e.price;
  if (e.vault_ref) resource.vault_ref = e.vault_ref;
  if (e.failure_code) resource.failure_code = e.failure_code;
  resource.updated = e.at;
}

void apply_provisioning(ledger_state&, const resource_revealed&) {}

// --- Invariants and syntax -----------------------------------------------------------------------

std::optional<std::string> check_provisioning_invariants(const ledger_state& state) {
  if (state.terms.size() > limits::ledger_terms_max ||
      state.links.size() > limits::ledger_links_max ||
      state.approvals.size() > limits::ledger_approvals_max ||
      state.resources.size() > limits::ledger_resources_max)
    return "a provisioning map exceeds its limit";
  auto money_ok = [&](const std::optional<money>& m, std::int64_t min) {
    return !m || (m->code == state.ledger_currency && m->amount >= min &&
                  m->amount <= limits::money_amount_max);
  };
  for (const auto& [slug, terms] : state.terms) {
    if (!is_valid_provider_slug(slug)) return "terms provider slug " + slug;
    if (auto member = name_of(terms_misfit(terms.version, terms.accepted_by)))
      return "terms of " + slug + " " + std::string(*member);
  }
  ledger_map<bool> link_ids;
  for (const auto& [slug, link] : state.links) {
    if (!is_valid_provider_slug(slug)) return "link provider slug " + slug;
    if (!is_valid(id_kind::link, link.id)) return "invalid link id " + link.id;
    if (!link_ids.emplace(link.id, true).second) return "link id " + link.id + " used twice";
    if (auto member = name_of(link_misfit(link.account_id, link.vault_ref)))
      return "link of " + slug + " " + std::string(*member);
  }
  for (const auto& [id, a] : state.approvals) {
    if (!is_valid(id_kind::approval, id)) return "invalid approval id " + id;
    if (!is_valid_provider_slug(a.provider)) return "approval " + id + " provider slug";
    if (a.session && !is_valid(id_kind::session, *a.session)) return "approval " + id + " session";
    if (auto member = name_of(approval_misfit(a.service, a.value, a.message, a.url)))
      return "approval " + id + " " + std::string(*member);
    if (!money_ok(a.amount, 1)) return "approval " + id + " amount";
    if (a.approved) {
      if (auto member = name_of(decision_misfit(a.decided_by, a.note)))
        return "approval " + id + " " + std::string(*member);
    } else if (!a.decided_by.empty() || a.note || a.decided_at != 0) {
      return "approval " + id + " has a decision but no outcome";
    }
    if (a.used_by && (!a.approved.value_or(false) || !is_valid(id_kind::resource, *a.used_by)))
      return "approval " + id + " used but not approved";
    if (!a.used_by && a.used_at != 0) return "approval " + id + " used_at without used_by";
  }
  std::size_t live = 0;
  for (const auto& [id, r] : state.resources) {
    if (!is_valid(id_kind::resource, id)) return "invalid resource id " + id;
    if (!is_valid_provider_slug(r.provider)) return "resource " + id + " provider slug";
    if ((r.session && !is_valid(id_kind::session, *r.session)) ||
        (r.hold && !is_valid(id_kind::hold, *r.hold)) ||
        (r.token && !is_valid(id_kind::payment_token, *r.token)))
      return "resource " + id + " reference";
    if (auto member = name_of(request_misfit(r.service, r.name, r.provider_key)))
      return "resource " + id + " " + std::string(*member);
    if (auto member = name_of(update_misfit(r.provider_id, r.vault_ref, r.failure_code)))
      return "resource " + id + " " + std::string(*member);
    if (!money_ok(r.price, 0)) return "resource " + id + " price";
    if (r.updated < r.created) return "resource " + id + " updated before created";
    if (!is_final(r.status)) ++live;
  }
  if (live > limits::ledger_resources_live_max) return "too many live resources";
  // What the objects hold, not what they reserve: the reservation is a rule for new objects.
  if (total_bytes(state, [](const auto& object) { return text_bytes(object); }) >
      limits::ledger_provisioning_text_bytes_max)
    return "provisioning text exceeds its budget";
  return std::nullopt;
}

std::optional<std::string_view> provisioning_event_syntax(const terms_accepted& e) noexcept {
  return name_of(terms_misfit(e.version, e.accepted_by));
}
std::optional<std::string_view> provisioning_event_syntax(const approval_opened& e) noexcept {
  return name_of(approval_misfit(e.service, e.value, e.message, e.url));
}
std::optional<std::string_view> provisioning_event_syntax(const approval_decided& e) noexcept {
  return name_of(decision_misfit(e.decided_by, e.note));
}
std::optional<std::string_view> provisioning_event_syntax(const link_created& e) noexcept {
  return name_of(link_misfit(e.account_id, e.vault_ref));
}
std::optional<std::string_view> provisioning_event_syntax(const resource_requested& e) noexcept {
  return name_of(request_misfit(e.service, e.name, e.provider_key));
}
std::optional<std::string_view> provisioning_event_syntax(const resource_updated& e) noexcept {
  return name_of(update_misfit(e.provider_id, e.vault_ref, e.failure_code));
}

// --- JSON for the API ----------------------------------------------------------------------------

namespace {

void write_or_null(json_writer& w, std::string_view key, const std::optional<std::string>& v) {
  w.key(key);
  if (v)
    w.string(*v);
  else
    w.null();
}

void write_or_null(json_writer& w, std::string_view key, const std::optional<money>& v) {
  w.key(key);
  if (v)
    write_money(w, *v);
  else
    w.null();
}

/// An empty string member as null: "not about a service", "no particular value".
void write_nonempty_or_null(json_writer& w, std::string_view key, std::string_view v) {
  w.key(key);
  if (v.empty())
    w.null();
  else
    w.string(v);
}

} // namespace

void write_approval(json_writer& w, std::string_view id, const approval_state& a,
                    std::int64_t now) {
  w.begin_object()
    .member("id", id)
    .member("object", "approval")
    .member("kind", to_string(a.kind))
    .member("status", to_string(status_at(a, now)));
  write_or_null(w, "session", a.session);
  w.member("provider", a.provider);
  write_nonempty_or_null(w, "service", a.service);
  write_nonempty_or_null(w, "value", a.value);
  write_or_null(w, "amount", a.amount);
  w.member("message", a.message);
  write_or_null(w, "url", a.url);
  w.member("expires_at", a.expires_at).member("created", a.created);
  if (a.approved) {
    w.member("decided_by", a.decided_by).member("decided_at", a.decided_at);
  } else {
    w.key("decided_by").null().key("decided_at").null();
  }
  write_or_null(w, "note", a.note);
  write_or_null(w, "used_by", a.used_by);
  w.end_object();
}

void write_resource(json_writer& w, std::string_view id, const resource_state& r) {
  w.begin_object()
    .member("id", id)
    .member("object", "resource")
    .member("service", r.provider + "/" + r.service)
    .member("provider", r.provider)
    .member("name", r.name)
    .member("status", to_string(r.status));
  write_or_null(w, "price", r.price);
  write_or_null(w, "session", r.session);
  write_or_null(w, "provider_id", r.provider_id);
  write_or_null(w, "failure_code", r.failure_code);
  w.member("created", r.created).member("updated", r.updated).end_object();
}

void write_link(json_writer& w, std::string_view provider, const link_state& link) {
  w.begin_object()
    .member("id", link.id)
    .member("object", "link")
    .member("provider", provider)
    .member("account_id", link.account_id)
    .member("outcome", to_string(link.outcome))
    .member("created", link.at)
    .end_object();
}

} // namespace steward::core
