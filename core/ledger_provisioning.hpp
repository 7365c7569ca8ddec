#pragma once

// What provisioning needs of one user's ledger (DESIGN 3, 4.1, 4.2 and 5; docs/ledger.md,
// "Provisioning"): terms acceptances, approvals (human gates), provider account links and
// resources. They live in `ledger_state` beside the money, so that one user actor decides them
// against one consistent state and one journal records them; like the money they change only
// through `apply_event`.
//
// Include core/ledger.hpp, not this header: the decisions declared here take the `ledger_state`
// and return the `decision` defined there. This header only names them (a function declaration may
// use incomplete types), so that ledger.hpp can include it for the types of its state and events.
//
// The ledger never holds a secret: an account token or a resource's credentials are sealed in the
// vault, and the ledger keeps only the `vault_ref` naming them.

#include "core/json_writer.hpp"
#include "core/limits.hpp"
#include "core/money.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace steward::core {

struct ledger_state;
struct accepted;
struct decline;
struct retired;
using decision = std::variant<accepted, decline>;

// --- State ---------------------------------------------------------------------------------------

/// The provider terms a human accepted (`POST /v1/users/{id}/terms/{provider}`); keyed by provider.
struct terms_state {
  std::string version;     ///< the provider's terms version, 1 to 64 visible ASCII
  std::string accepted_by; ///< who accepted, as the platform names them
  std::int64_t at = 0;

  friend bool operator==(const terms_state&, const terms_state&) = default;
};

/// What a human gate asks for (DESIGN 3).
enum class approval_kind : std::uint8_t {
  tos_acceptance,
  billing_setup,
  account_link,
  purchase_confirmation,
  budget_increase,
};

/// The API's string of a kind, e.g. "purchase_confirmation".
std::string_view to_string(approval_kind kind) noexcept;
std::optional<approval_kind> parse_approval_kind(std::string_view text) noexcept;

/// An approval's status as the API shows it. `expired` is computed from the time asked about: an
/// undecided approval at or past its `expires_at`, and also an approved one that was not used
/// before then (it can no longer be used).
enum class approval_status : std::uint8_t { pending, approved, denied, expired, used };

std::string_view to_string(approval_status status) noexcept;
std::optional<approval_status> parse_approval_status(std::string_view text) noexcept;

/// A human gate (`apr_`). Single use: once a resource consumed it, `used_by` names the resource.
struct approval_state {
  approval_kind kind = approval_kind::purchase_confirmation;
  std::optional<std::string> session; ///< the session that asked, if any
  std::string provider;
  std::string service;        ///< the catalog service id; empty when the gate is not about one
  std::string value;          ///< the exact value approved (e.g. a domain); may be empty
  std::optional<money> amount; ///< the most it approves paying
  std::string message;        ///< for the human
  std::optional<std::string> url; ///< an authorize URL, a terms URL
  std::int64_t expires_at = 0;
  std::int64_t created = 0;
  std::optional<bool> approved; ///< empty until decided
  std::string decided_by;       ///< empty until decided
  std::optional<std::string> note;
  std::int64_t decided_at = 0;
  std::optional<std::string> used_by; ///< the resource (`res_`) that consumed it
  std::int64_t used_at = 0;

  friend bool operator==(const approval_state&, const approval_state&) = default;
};

/// The status of `approval` at `now`.
approval_status status_at(const approval_state& approval, std::int64_t now) noexcept;

/// How a link came to be (DESIGN 5, `POST {base}/accounts`).
enum class link_outcome : std::uint8_t { created, linked_existing };

std::string_view to_string(link_outcome outcome) noexcept;
std::optional<link_outcome> parse_link_outcome(std::string_view text) noexcept;

/// The user's account at a provider (`lnk_`); keyed by provider slug, one per provider.
struct link_state {
  std::string id;
  std::string account_id; ///< the provider's id of the account
  link_outcome outcome = link_outcome::created;
  std::string vault_ref;  ///< names the sealed account token in the vault
  std::int64_t at = 0;

  friend bool operator==(const link_state&, const link_state&) = default;
};

/// A resource's lifecycle (DESIGN 3). `removed` and `failed` are final.
enum class resource_status : std::uint8_t { pending, ready, needs_human, unknown, failed, removed };

std::string_view to_string(resource_status status) noexcept;
std::optional<resource_status> parse_resource_status(std::string_view text) noexcept;

/// Whether a resource may go from `from` to `to`: pending → ready, failed, unknown, needs_human;
/// unknown → ready, failed, unknown; needs_human → pending, failed; ready → ready (rotation),
/// removed. Nothing leaves removed or failed.
bool resource_transition_allowed(resource_status from, resource_status to) noexcept;

/// A provisioned thing (`res_`).
struct resource_state {
  std::string provider;
  std::string service; ///< the catalog service id, without the provider
  std::string name;
  std::optional<std::string> session;
  resource_status status = resource_status::pending;
  std::optional<std::string> provider_id; ///< the provider's own id of it
  std::optional<std::string> hold;        ///< the hold of its purchase
  std::optional<std::string> token;       ///< the payment token of its purchase
  std::optional<money> price;
  std::optional<std::string> vault_ref;   ///< names its sealed credentials in the vault
  /// The Idempotency-Key used with the provider: an `unknown` outcome is reconciled by sending the
  /// same request with the same key again.
  std::string provider_key;
  std::optional<std::string> failure_code;
  std::int64_t created = 0;
  std::int64_t updated = 0;

  friend bool operator==(const resource_state&, const resource_state&) = default;
};

// --- Events --------------------------------------------------------------------------------------

/// "terms.accepted": replaces an earlier acceptance of the same provider's terms.
struct terms_accepted {
  std::string provider;
  std::string version;
  std::string accepted_by;
  std::int64_t at = 0;
  friend bool operator==(const terms_accepted&, const terms_accepted&) = default;
};

/// "approval.opened".
struct approval_opened {
  std::string id;
  approval_kind kind = approval_kind::purchase_confirmation;
  std::optional<std::string> session;
  std::string provider;
  std::string service;
  std::string value;
  std::optional<money> amount;
  std::string message;
  std::optional<std::string> url;
  std::int64_t expires_at = 0;
  std::int64_t at = 0;
  friend bool operator==(const approval_opened&, const approval_opened&) = default;
};

/// "approval.decided": the human approved or denied.
struct approval_decided {
  std::string id;
  bool approved = false;
  std::string decided_by;
  std::optional<std::string> note;
  std::int64_t at = 0;
  friend bool operator==(const approval_decided&, const approval_decided&) = default;
};

/// "approval.used": a resource consumed the approval.
struct approval_used {
  std::string id;
  std::string resource;
  std::int64_t at = 0;
  friend bool operator==(const approval_used&, const approval_used&) = default;
};

/// "link.created": a second link for a provider replaces the first (a re-link after the human
/// revoked access).
struct link_created {
  std::string id;
  std::string provider;
  std::string account_id;
  link_outcome outcome = link_outcome::created;
  std::string vault_ref;
  std::int64_t at = 0;
  friend bool operator==(const link_created&, const link_created&) = default;
};

/// "resource.requested": a new resource, status pending.
struct resource_requested {
  std::string id;
  std::string provider;
  std::string service;
  std::string name;
  std::optional<std::string> session;
  std::optional<std::string> hold;
  std::optional<std::string> token;
  std::string provider_key;
  std::int64_t at = 0;
  friend bool operator==(const resource_requested&, const resource_requested&) = default;
};

/// "resource.updated": a new status; each optional member present replaces the resource's, an
/// absent one keeps it.
struct resource_updated {
  std::string id;
  resource_status status = resource_status::pending;
  std::optional<std::string> provider_id;
  std::optional<money> price;
  std::optional<std::string> vault_ref;
  std::optional<std::string> failure_code;
  std::int64_t at = 0;
  friend bool operator==(const resource_updated&, const resource_updated&) = default;
};

/// "resource.revealed": someone was shown the resource's credentials (the audit of
/// `POST /v1/resources/{id}/credentials/reveal`). Changes nothing but the record.
struct resource_revealed {
  std::string id;
  std::optional<std::string> session; ///< the agent's session; absent for the platform
  std::int64_t at = 0;
  friend bool operator==(const resource_revealed&, const resource_revealed&) = default;
};

// --- Commands and decisions ----------------------------------------------------------------------

struct accept_terms_command {
  std::string provider;
  std::string version;
  std::string accepted_by;
};
struct open_approval_command {
  std::string id;
  approval_kind kind = approval_kind::purchase_confirmation;
  std::optional<std::string> session;
  std::string provider;
  std::string service{};
  std::string value{};
  std::optional<money> amount{};
  std::string message{};
  std::optional<std::string> url{};
  std::int64_t expires_at = 0;
};
struct decide_approval_command {
  std::string id;
  bool approved = false;
  std::string decided_by;
  std::optional<std::string> note{};
};
struct use_approval_command {
  std::string id;
  std::string resource;
};
struct create_link_command {
  std::string id;
  std::string provider;
  std::string account_id;
  link_outcome outcome = link_outcome::created;
  std::string vault_ref;
};
struct request_resource_command {
  std::string id;
  std::string provider;
  std::string service;
  std::string name;
  std::optional<std::string> session{};
  std::optional<std::string> hold{};
  std::optional<std::string> token{};
  std::string provider_key{};
};
struct update_resource_command {
  std::string id;
  resource_status status = resource_status::ready;
  std::optional<std::string> provider_id{};
  std::optional<money> price{};
  std::optional<std::string> vault_ref{};
  std::optional<std::string> failure_code{};
};

/// Records the acceptance of a provider's terms. Declines: not_found when the user does not
/// exist (no profile); invalid_field for the provider slug, a version that is not 1 to
/// `terms_version_bytes_max` visible ASCII, an accepted_by that is not 1 to
/// `accepted_by_bytes_max` bytes of text; rate_limited past `ledger_terms_max` providers or the
/// provisioning text budget.
decision decide_accept_terms(const ledger_state& state, const accept_terms_command& command,
                             std::int64_t now);

/// Opens a human gate. Declines: invalid_field (id, slug, texts, amount, expiry not in
/// (now, now + `approval_ttl_seconds_max`]), unsupported_currency, not_found (session),
/// rate_limited (`ledger_approvals_pending_max` pending, `ledger_approvals_max` kept, or the text
/// budget).
decision decide_open_approval(const ledger_state& state, const open_approval_command& command,
                              std::int64_t now);

/// The human's approval or denial. Declines: not_found (unknown id); approval_not_pending (409)
/// when the approval is not pending at `now`, naming its status; invalid_field (decided_by 1 to
/// `decided_by_bytes_max`, note at most `approval_note_bytes_max` bytes of text).
decision decide_decide_approval(const ledger_state& state, const decide_approval_command& command,
                                std::int64_t now);

/// Consumes an approved approval for a resource. Declines: not_found (approval or resource);
/// approval_not_pending unless the approval is approved, unused and not expired at `now`.
decision decide_use_approval(const ledger_state& state, const use_approval_command& command,
                             std::int64_t now);

/// The id of an approval that is approved, unused and unexpired at `now` and matches exactly:
/// kind, provider, service and value equal, and its session equal to `session` or absent. The
/// first by id when several match; empty when none does.
std::string find_usable_approval(const ledger_state& state, approval_kind kind,
                                 std::optional<std::string_view> session,
                                 std::string_view provider, std::string_view service,
                                 std::string_view value, std::int64_t now);

/// Links the user's account at a provider, replacing an earlier link of that provider. Declines:
/// not_found (no profile); invalid_field (id, slug, account_id, vault_ref); rate_limited.
decision decide_create_link(const ledger_state& state, const create_link_command& command,
                            std::int64_t now);

/// Records a requested resource (status pending). Declines: invalid_field (id new and well
/// formed, slug, service 1 to 128 visible ASCII, name at most 253 bytes of text, provider_key 1
/// to 255 printable ASCII, a hold of another provider); not_found (session, hold, or a token of
/// this provider); rate_limited (`ledger_resources_live_max` live, `ledger_resources_max` kept,
/// or the text budget).
decision decide_request_resource(const ledger_state& state,
                                 const request_resource_command& command, std::int64_t now);

/// Records a reveal of a resource's credentials. Declines: not_found (no such resource, or none
/// sealed); resource_state_conflict unless the resource is ready.
decision decide_reveal_resource(const ledger_state& state, std::string_view id,
                                std::optional<std::string> session, std::int64_t now);

/// Moves a resource to a new status (`resource_transition_allowed`). Declines: not_found;
/// resource_state_conflict (409) for a transition not allowed; invalid_field or
/// unsupported_currency for a member.
decision decide_update_resource(const ledger_state& state, const update_resource_command& command,
                                std::int64_t now);

// --- JSON for the API ----------------------------------------------------------------------------

/// `{"id","object":"approval","kind","status","session","provider","service","value","amount",
/// "message","url","expires_at","created","decided_by","decided_at","note","used_by"}`; unset
/// members (and an empty service or value) are null, as everywhere in the API.
void write_approval(json_writer& w, std::string_view id, const approval_state& approval,
                    std::int64_t now);

/// `{"id","object":"resource","service":"<provider>/<service>","provider","name","status","price",
/// "session","provider_id","failure_code","created","updated"}`. Never the vault_ref nor anything
/// secret.
void write_resource(json_writer& w, std::string_view id, const resource_state& resource);

/// `{"id","object":"link","provider","account_id","outcome","created"}`. Never the vault_ref.
void write_link(json_writer& w, std::string_view provider, const link_state& link);

// --- Used by ledger.cpp and ledger_codec.cpp -----------------------------------------------------

/// Applies one provisioning event (`apply_event` dispatches here).
void apply_provisioning(ledger_state& state, const terms_accepted& event);
void apply_provisioning(ledger_state& state, const approval_opened& event);
void apply_provisioning(ledger_state& state, const approval_decided& event);
void apply_provisioning(ledger_state& state, const approval_used& event);
void apply_provisioning(ledger_state& state, const link_created& event);
void apply_provisioning(ledger_state& state, const resource_requested& event);
void apply_provisioning(ledger_state& state, const resource_updated& event);
void apply_provisioning(ledger_state& state, const resource_revealed& event);

/// The invariants of the provisioning maps (bounds, syntax, the text budget); part of
/// `check_invariants`. A description of the first violation, or empty.
std::optional<std::string> check_provisioning_invariants(const ledger_state& state);

/// Appends to `events` the retirements due at `now` (part of `decide_expire`): approvals closed
/// (used, denied, or past their expiry) and resources failed or removed, for longer than
/// `limits::ledger_retire_after_seconds`.
void decide_retire_provisioning(const ledger_state& state, std::int64_t now,
                                std::vector<retired>& events);

/// The name of the first member of a decoded provisioning event that breaks the syntax the
/// decisions enforce, or empty (ledger_codec.cpp refuses such an event as invalid_field).
std::optional<std::string_view> provisioning_event_syntax(const terms_accepted& event) noexcept;
std::optional<std::string_view> provisioning_event_syntax(const approval_opened& event) noexcept;
std::optional<std::string_view> provisioning_event_syntax(const approval_decided& event) noexcept;
std::optional<std::string_view> provisioning_event_syntax(const link_created& event) noexcept;
std::optional<std::string_view> provisioning_event_syntax(const resource_requested& event) noexcept;
std::optional<std::string_view> provisioning_event_syntax(const resource_updated& event) noexcept;

/// Whether `text` is text a provisioning member may hold: valid UTF-8 without control characters
/// (C0, DEL, C1) and without U+2028/U+2029, so that its JSON form is at most twice its bytes.
bool is_provisioning_text(std::string_view text) noexcept;

} // namespace steward::core
