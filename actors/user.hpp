#pragma once

// The user actor (docs/spend-core.md): the one owner of a user's money. It holds the user's
// `core::ledger_state`, the head of the user's journal stream, the idempotency records of the
// requests it is answering and a velocity window per session, and it answers every money command of
// that user, one at a time, so that parallel requests can never both pass an under-cap balance.
//
// Flow of a command (charge, create token):
//   1. idempotency: a record in memory decides while its request runs (409 in flight / 422
//      conflict). Otherwise the journal is asked (on the loader pool, never on a CAF worker) while
//      the scope is held in flight: it has every answered record (replay / 422). Answered records
//      are not kept in memory: with their response bodies they were most of an idle user's
//      memory, and a replay is rare enough to pay one read. A fresh key skips the read when the
//      journal's filter says it holds no record of it (`journal::may_hold_idempotency`).
//   2. user and session kill flags, velocity (charges), `core::decide_*`.
//   3. accepted: the event is applied to the in-memory ledger at once (the next command sees the
//      money as spent), chained after the in-memory head and appended to the journal with the
//      idempotency record in the same batch. Declines that are stored outcomes
//      (`core::is_stored_response`) are appended too, as a batch with only the record.
//   4. the journal's callback (its writer thread) only posts a `durable` message back; the actor
//      answers through the responder then, never before (a decline also waits, so that a replayed
//      decline is always durable — decided here: an fsync of latency on declines buys a stable
//      outcome per key).
//   5. a failed append: the actor answers 503 `overloaded` to that command and every later one,
//      waits for the outcome of every append still in flight (answering each), then stops, so that
//      the next command re-activates it from durable state. With a directory the stop goes
//      through the shard (see `user_config::owner`) so that no command is lost in between.
//
// Activation: the actor starts unloaded, reads the latest snapshot and the events after it on the
// loader pool (the chain is verified: the journal recomputes it on read and the actor checks the
// links again) and stashes commands until the state arrives.
//
// Passivation (only with an owner shard and a non-zero `user_config::idle_timeout`): a timer ticks
// every idle_timeout / 2. A tick that finds no command handled since the previous tick is quiet;
// after two quiet ticks in a row (so at least idle_timeout without a command) the actor asks its
// shard to passivate it (`passivate`), but only while nothing is pending: loaded, not failing, no
// stashed command, no idempotency lookup, no append in flight, no open hold (the expiry timer is
// work this actor owns: a passivated user's hold would stay reserved, and unjournaled, until the
// next activation) and no charge still counting in a velocity window (windows are in memory only,
// a fresh activation would start them empty). The shard forgets it and answers `retire`; commands the shard forwarded before
// that are in the mailbox ahead of `retire` and are answered normally, and `retire` stops the actor
// only once their lookups and appends are done.
//
// Provisioning runs in the same actor, against the same ledger (docs/provisioning.md):
// user_provisioning.cpp has the preflight, the gates and the approvals; user_purchase.cpp the
// purchase (provider calls whose answers come back as messages, so the actor keeps answering,
// the provider's own charge included); user_resources.cpp reveal, rotation, deletion and export.
// A purchase in progress keeps the actor from passivating or stopping until its provider answered.

#include "actors/alias_index.hpp"
#include "actors/kill_switch.hpp"
#include "actors/loader_pool.hpp"
#include "actors/provider_gate.hpp"
#include "core/api_messages.hpp"
#include "core/catalog.hpp"
#include "core/idempotency.hpp"
#include "core/jws.hpp"
#include "core/ledger.hpp"
#include "core/problem.hpp"
#include "core/provisioning.hpp"
#include "core/velocity.hpp"
#include "net/http_client.hpp"
#include "net/http_message.hpp"
#include "net/responder.hpp"
#include "storage/journal.hpp"
#include "storage/vault_keys.hpp"

#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace caf {
class actor_system;
}

namespace steward::actors {

// --- Messages ----------------------------------------------------------------------------------

/// The idempotency scope of a request: `core::idempotency_scope(...)` and the body's fingerprint.
struct idempotency_key {
  std::string scope_key;
  core::idempotency_fingerprint fingerprint{};
};

/// A provider's charge against a payment token (POST /v1/charges).
struct charge_request {
  std::string user; ///< the user id; the directory routes on it
  core::charge_command command;
  idempotency_key idempotency;
  net::responder reply;
};

/// A new payment token for a provider (minted by the platform or for a purchase).
struct create_token_request {
  std::string user;
  core::create_token_command command;
  idempotency_key idempotency;
  net::responder reply;
};

/// A provider's refund of (part of) one of its charges (POST /v1/provider/charges/{id}/refunds).
/// The amount is in the ledger's currency, which the actor fills in.
struct refund_request {
  std::string user;
  core::refund_command command;
  idempotency_key idempotency;
  net::responder reply;
};

/// A hold on every budget while a purchase is in flight (provisioning places them; a charge that
/// names the hold settles it). Idempotent like a charge.
struct hold_request {
  std::string user;
  core::hold_command command;
  idempotency_key idempotency;
  net::responder reply;
};

/// Gives a hold back whole (the purchase failed or needed less).
struct release_hold_request {
  std::string user;
  std::string hold;
  net::responder reply;
};

/// Month-to-date spend per provider, caps and open holds (GET .../spend). With `session` (the
/// agent's `GET /v1/spend`), that session must still be open, else 401.
struct spend_request {
  std::string user;
  net::responder reply;
  std::optional<std::string> session{};
};

/// `PUT /v1/users/{platform_ref}`: creates the user (201) or changes what the body names (200).
/// The handler has already resolved the platform ref to `user` through the alias index.
struct upsert_user_request {
  std::string user;
  core::upsert_user_command command;
  net::responder reply;
};

/// `PUT /v1/users/{id}/payment_method`: a tokenised PSP reference, never a card number.
struct set_payment_method_request {
  std::string user;
  core::set_payment_method_command command;
  net::responder reply;
};

/// `PUT /v1/users/{id}/limits`: every cap change of the body, applied all or none.
struct set_limits_request {
  std::string user;
  core::limits_request limits;
  net::responder reply;
};

/// `POST /v1/users/{id}/sessions`. The handler minted the id and the bearer token; only the
/// token's hash is journaled (as the alias that finds the session), the token itself is in the
/// 201 answer alone, which is never stored.
struct open_session_request {
  std::string user;
  core::open_session_command command;
  std::string token;
  std::string token_hash;
  net::responder reply;
};

/// `GET /v1/session`, for the session that presented its token.
struct get_session_request {
  std::string user;
  std::string session;
  net::responder reply;
};

/// `POST` / `DELETE /v1/kill` at user or session scope: answered once the flag is set and
/// journaled, so that nothing the actor decides afterwards is approved.
struct kill_user_request {
  std::string user;
  std::optional<std::string> session;
  bool active = true;
  net::responder reply;
  /// The register change's version (`kill_switch::change_scoped`), settled once the user's
  /// stream shows it; 0: none.
  std::uint64_t version = 0;
};

/// `POST /v1/users/{id}/terms/{provider}`: the human accepted the provider's terms.
struct accept_terms_request {
  std::string user;
  core::accept_terms_command command;
  net::responder reply;
};

/// `GET /v1/users/{id}/approvals?status=`: the user's approvals, by id.
struct list_approvals_request {
  std::string user;
  std::optional<core::approval_status> status;
  core::page_request page;
  net::responder reply;
};

/// `POST /v1/approvals/{id}/approve` or `/deny`.
struct decide_approval_request {
  std::string user;
  core::decide_approval_command command;
  net::responder reply;
};

/// `GET /v1/approvals/{id}?wait=`: the approval, once it is no longer pending or after `wait`.
/// `session` set: an agent asks, and only its own session's approvals are found.
struct get_approval_request {
  std::string user;
  std::optional<std::string> session;
  std::string approval;
  std::uint32_t wait_seconds = 0;
  net::responder reply;
};

/// `POST /v1/resources` (provisioning, docs/provisioning.md): the preflight, a gate or a purchase.
/// The handler resolved the service in the catalog and minted the ids the actor may need.
struct provision_resource_request {
  std::string user;
  std::string session;
  core::provision_request request;
  std::shared_ptr<const core::provider_catalog> catalog; ///< keeps `service` alive
  const core::catalog_service* service = nullptr;        ///< within `catalog`
  std::string approval_id; ///< for a gate the request opens
  core::purchase_ids purchase; ///< for the purchase, once every check passed
  std::string link_id;         ///< for the account link a purchase may create
  idempotency_key idempotency;
  net::responder reply;
};

/// `GET /v1/resources` and `GET /v1/resources/{id}` (an agent): the user's resources without
/// their credentials. `resource` set: that one (404 when the user has none by that id).
struct list_resources_request {
  std::string user;
  std::optional<std::string> resource;
  core::page_request page;
  net::responder reply;
};

/// What is done to one resource (docs/provisioning.md, "Resources"): an agent's reveal, rotation
/// or deletion, or the platform's export.
struct resource_action_request {
  enum class action : std::uint8_t {
    reveal, ///< `POST /v1/resources/{id}/credentials/reveal`: the credentials, audited
    rotate, ///< `POST /v1/resources/{id}/rotate`: new credentials from the provider
    remove, ///< `DELETE /v1/resources/{id}`: deprovisioned at the provider
    exported, ///< `GET /v1/users/{id}/resources/{rid}/export`: everything to claim it, audited
  };
  std::string user;
  std::optional<std::string> session; ///< the agent's; absent for the platform
  std::string resource;
  action what = action::reveal;
  idempotency_key idempotency; ///< rotate and remove
  net::responder reply;
};

/// `GET /oauth/callback?code&state`: the human's browser, back from the provider's consent page
/// (DESIGN 4.3). `approval` is the state: the `account_link` approval the redirect completes.
struct oauth_callback_request {
  std::string user;
  std::string approval;
  std::string code;  ///< empty when the provider sent an error
  std::string error; ///< the provider's `error`, when the human refused or it failed
  std::string link_id; ///< for the link it creates
  net::responder reply;
};

/// Every command of a user's API, as one message (the directory routes on `user_of`).
using user_command =
  std::variant<charge_request, create_token_request, refund_request, hold_request,
               release_hold_request, spend_request, upsert_user_request, set_limits_request,
               set_payment_method_request, open_session_request, get_session_request,
               kill_user_request, accept_terms_request, list_approvals_request,
               decide_approval_request, get_approval_request, provision_resource_request,
               oauth_callback_request, list_resources_request, resource_action_request>;

/// The user a command is for.
const std::string& user_of(const user_command& command) noexcept;

/// Internal: a user's state as read from the journal at activation.
struct load_result {
  std::optional<storage::journal_failure> failure;
  core::ledger_state ledger;
  std::uint64_t seq = 0;
  core::chain_hash hash = core::chain_genesis;
  std::uint64_t snapshot_seq = 0;
};

/// A passivated user in compact form (docs/spend-core.md, "Hibernation"): what a fresh activation
/// would read from the journal, made by the stopping actor once every append of it was durable.
/// Its shard keeps it in place of the actor, so that the user's next command needs no journal
/// read: a few hundred bytes instead of a few kilobytes of decoded actor.
struct user_image {
  std::string ledger; ///< `core::encode_snapshot` of the ledger, deflated (`core::deflate_bytes`)
  std::uint64_t seq = 0; ///< the stream's head
  core::chain_hash hash = core::chain_genesis;
  std::uint64_t snapshot_seq = 0; ///< the seq of the latest stored snapshot
};

/// Internal: a provider's answer to a purchase's call (accounts, resources, oauth token).
struct provider_answer {
  net::client_result result;
};

/// Internal: sealed blobs read from the vault (an account token, a resource's credentials), in
/// the order they were asked for; an absent one is empty.
struct vault_read {
  std::optional<storage::journal_failure> failure;
  std::optional<std::string> blob;
  std::optional<std::string> second;
};

/// Internal: the journal's answer to an idempotency lookup on a memory miss.
struct lookup_result {
  std::optional<storage::journal_failure> failure;
  std::optional<storage::idempotency_record> record;
};

} // namespace steward::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::user_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::load_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::user_image)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::lookup_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::provider_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::actors::vault_read)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(steward::storage::append_outcome)

namespace steward::actors {

using command_atom = caf::atom_constant<caf::atom("command")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using lookup_atom = caf::atom_constant<caf::atom("idemlookup")>;
using durable_atom = caf::atom_constant<caf::atom("durable")>;
using retire_atom = caf::atom_constant<caf::atom("retire")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using user_failed_atom = caf::atom_constant<caf::atom("userfailed")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using hibernate_atom = caf::atom_constant<caf::atom("hibernate")>;
using wait_over_atom = caf::atom_constant<caf::atom("waitover")>;
using account_answer_atom = caf::atom_constant<caf::atom("accountans")>;
using order_answer_atom = caf::atom_constant<caf::atom("orderans")>;
using oauth_answer_atom = caf::atom_constant<caf::atom("oauthans")>;
using vault_read_atom = caf::atom_constant<caf::atom("vaultread")>;
using reconcile_atom = caf::atom_constant<caf::atom("reconcile")>;
using action_answer_atom = caf::atom_constant<caf::atom("actionans")>;

/// The user actor's interface. `command` is its API; `loaded`, `idemlookup` and `durable` are its
/// own results coming back from the loader pool and the journal; `retire` is its shard's
/// permission to stop (once nothing is pending) after it reported `userfailed` or asked to be
/// passivated; `expire` is its own timer, armed for the earliest open hold's expiry, that releases
/// expired holds (`core::decide_expire`); `idle` is its own passivation tick.
using user_actor = caf::typed_actor<
  caf::reacts_to<command_atom, user_command>,
  caf::reacts_to<loaded_atom, load_result>,
  caf::reacts_to<lookup_atom, std::uint64_t, lookup_result>,
  caf::reacts_to<durable_atom, std::uint64_t, storage::append_outcome>,
  caf::reacts_to<retire_atom>,
  caf::reacts_to<expire_atom>,
  caf::reacts_to<idle_atom>,
  caf::reacts_to<wait_over_atom, std::uint64_t>,
  caf::reacts_to<account_answer_atom, std::uint64_t, provider_answer>,
  caf::reacts_to<order_answer_atom, std::uint64_t, provider_answer>,
  caf::reacts_to<oauth_answer_atom, std::uint64_t, provider_answer>,
  caf::reacts_to<vault_read_atom, std::uint64_t, vault_read>,
  caf::reacts_to<reconcile_atom, std::uint64_t>,
  caf::reacts_to<action_answer_atom, std::uint64_t, provider_answer>>;

/// Runs a function that delivers a message to an actor. The journal's callbacks and the loader
/// pool call it from their threads; the default runs it at once (an `anon_send` is thread-safe).
/// Deterministic tests pass one that queues the delivery for their own thread, because CAF's test
/// scheduler must only be touched from one thread.
using delivery = std::function<void(std::function<void()>)>;

/// What user actors need to buy from providers (docs/provisioning.md, "The purchase"); shared by
/// every user actor of a process, read-only once stewardd started serving.
struct purchase_services {
  net::http_client* client = nullptr; ///< the provider client (pools, retries, breakers)
  std::map<std::string, std::string, std::less<>> base_urls; ///< provider slug -> base URL
  const core::jws_signing_key* signer = nullptr; ///< signs attestations
  /// Steward's public URL: the attestations' issuer, and the base of the OAuth redirect URI.
  std::function<std::string()> issuer;
  /// The vault: seals account tokens and credentials; its current key also keys PKCE verifiers.
  const storage::vault_key_ring* vault = nullptr;
  core::random_source* random = nullptr; ///< attestation ids
  std::string oauth_client_id = "steward"; ///< steward's client id at every provider
  /// Bounds the purchases in flight per provider; none when null.
  provider_gate* gate = nullptr;
};

/// Counters shared by the user actors of a process (all relaxed).
struct user_counters {
  std::atomic<std::uint64_t> activations{0}; ///< loads started
  std::atomic<std::uint64_t> stopped{0};     ///< actors stopped after a journal failure
  std::atomic<std::uint64_t> passivations{0}; ///< idle actors their shard forgot and retired
  std::atomic<std::uint64_t> resumed{0};      ///< activations from an image (no journal read)
  std::atomic<std::int64_t> hibernated{0};    ///< images the shards hold now
  std::atomic<std::int64_t> image_bytes{0};   ///< their deflated ledger bytes
  std::atomic<std::uint64_t> images_dropped{0}; ///< images dropped past the bound
};

struct user_config {
  std::string user; ///< the user id; also the journal stream
  storage::journal* journal = nullptr; ///< must outlive the actor
  loader_pool* loader = nullptr;       ///< must outlive the actor
  /// Unix seconds now; the system clock when empty.
  std::function<std::int64_t()> clock;
  delivery deliver;
  std::uint32_t charges_per_minute = core::limits::charges_per_minute_default;
  std::uint64_t snapshot_every_events = core::limits::user_snapshot_every_events_default;
  /// The directory shard that owns this actor, if any: after a journal failure the actor asks it
  /// (`userfailed`) to forget it and stops on `retire`; without an owner it stops by itself.
  /// When idle, the actor asks it to passivate it (`passivate`); without an owner it never does.
  caf::actor_addr owner;
  /// How long the actor goes without a command before it asks its owner to passivate it (measured
  /// in ticks of half this; see the header comment). Zero disables passivation.
  std::chrono::milliseconds idle_timeout{core::limits::user_idle_timeout_ms_default};
  user_counters* counters = nullptr; ///< optional; must outlive the actor
  /// Where durable aliases are copied (optional; must outlive the actor).
  alias_index* aliases = nullptr;
  /// The global and provider kill switches, read when a charge is decided (optional).
  kill_switch* kills = nullptr;
  /// Told when a batch with webhook outbox entries is durable (optional; thread-safe).
  std::function<void()> outbox_ready;
  /// Providers to buy from; without it a purchase that passed every check answers 503.
  const purchase_services* purchases = nullptr;
};

/// What a durable append answers: one command's reply and the record it completes.
/// A user or session kill the user's stream shows (`kill_switch::settle`).
struct kill_settlement {
  std::string_view scope;
  std::string id;
  kill_switch::scoped_state state;
};

struct pending_reply {
  net::responder reply;
  net::http_response response;
  std::string scope_key; ///< the request's idempotency scope, forgotten from memory when answered; may be empty
  /// What the batch minted, copied to the in-memory index when durable (charge aliases are
  /// journaled only: refunds look them up in the journal, and memory would grow with every charge).
  std::vector<storage::alias> aliases;
  bool outbox = false; ///< the batch queued webhooks: tell `user_config::outbox_ready` when durable
  /// The purchase (`user_state::purchases`) that continues once the batch is durable; 0: none.
  std::uint64_t purchase = 0;
  /// The kill register change the batch journals, settled once it is durable; version 0: none.
  kill_settlement settle;
};

/// What one batch carries besides its events (see `user_state::append`).
struct batch_extras {
  std::vector<storage::alias> aliases;              ///< copied to the alias index when durable
  std::vector<storage::alias> journal_only_aliases; ///< journaled only
  std::vector<storage::outbox_entry> outbox;        ///< webhooks
  std::vector<storage::sealed_entry> sealed;        ///< vault blobs
  std::vector<std::string> unsealed;                ///< vault references to delete
  /// The body stored as the idempotent outcome when it must differ from the one sent (a 201 that
  /// shows credentials once is stored without them).
  std::optional<std::string> stored_body;
  std::uint64_t purchase = 0; ///< continues this purchase when durable
  kill_settlement settle;     ///< settled when durable (version 0: none)
};

/// A purchase between its last check and its answer (docs/provisioning.md, "The purchase"). The
/// agent's request waits in it; its idempotency scope stays in flight meanwhile.
struct purchase_flow {
  enum class stage : std::uint8_t {
    account,  ///< `POST {base}/accounts` in flight
    token,    ///< the account token being read from the vault
    placing,  ///< the first batch (hold, token, resource.requested) being made durable
    ordering, ///< `POST {base}/resources` in flight
    reconciling, ///< the answer was in doubt; the order is sent again with the same key
    recovering,  ///< found pending or unknown at activation: its order being read from the vault
  };
  stage at = stage::account;
  provision_resource_request request; ///< empty reply once answered (reconciling)
  idempotency_key key;
  std::string provider;
  std::string resource; ///< res_, once placed
  std::string order;    ///< the `POST {base}/resources` body, once placed
  std::string provider_key;
  std::uint32_t attempts = 0; ///< orders sent
  /// The key's outcome is stored (from the first batch on): it is never forgotten again.
  bool outcome_stored = false;
  /// The purchase's place at its provider's gate, given back when the flow is erased.
  provider_gate::ticket gate_ticket;
};

/// The user actor's state; plain functions that do the work (STYLE.md).
struct user_state {
  static inline const char* name = "steward.user";

  user_config config;
  bool loaded = false;
  /// A journal operation failed: every command is answered 503 until the actor stops.
  bool failing = false;
  bool failure_reported = false; ///< `userfailed` sent to the owner
  /// A command was handled since the last idle tick.
  bool active_since_tick = false;
  /// Idle ticks in a row that found no command handled since the one before.
  std::uint32_t quiet_ticks = 0;
  bool passivation_requested = false; ///< `passivate` sent to the owner; the timer is off
  /// The owner forgot this actor (`retire`): it stops as soon as nothing is pending.
  bool retiring = false;

  core::ledger_state ledger;
  std::uint64_t head_seq = 0;
  core::chain_hash head_hash = core::chain_genesis;
  std::uint64_t snapshot_seq = 0;

  /// The records of requests in flight (from the lookup to the durable answer), by scope key.
  std::unordered_map<std::string, core::idempotency_record> records;

  std::map<std::string, core::velocity_window, std::less<>> velocity;

  /// Commands that arrived while loading, in order. A vector, not a deque: an empty libstdc++
  /// deque allocates a chunk, which every resident user would pay for nothing.
  std::vector<user_command> stash;
  std::map<std::uint64_t, user_command> lookups; ///< commands waiting for the journal's record
  std::uint64_t next_lookup = 0;
  std::map<std::uint64_t, std::vector<pending_reply>> in_flight; ///< appends by id
  std::uint64_t next_batch = 0;
  /// The expiry timer is armed for this unix time (0: not armed).
  std::int64_t expiry_at = 0;

  /// An agent waiting for an approval's decision (`GET /v1/approvals/{id}?wait=`).
  struct approval_waiter {
    std::string approval;
    net::responder reply;
  };
  std::map<std::uint64_t, approval_waiter> waiters; ///< by waiter id
  std::uint64_t next_waiter = 0;

  /// Purchases waiting for a provider or the journal, by purchase id.
  std::map<std::uint64_t, purchase_flow> purchases;
  std::uint64_t next_purchase = 1;
  /// Account tokens opened from the vault, by provider, while the actor lives (never journaled).
  std::map<std::string, std::string, std::less<>> account_tokens;
  /// OAuth callbacks waiting for the provider's token endpoint, by purchase id space.
  std::map<std::uint64_t, oauth_callback_request> oauth_exchanges;
  /// Resource actions waiting for the vault or the provider, by purchase id space.
  std::map<std::uint64_t, resource_action_request> resource_actions;

  std::int64_t now() const;

  /// Starts reading the user's state on the loader pool; the result comes back as `loaded`.
  void start_loading(user_actor self);
  /// Activates from `image` at once, without the journal; reads the journal if it does not decode.
  void resume(user_actor self, user_image image);
  /// The state as an image; only meaningful with nothing in flight.
  user_image image() const;
  void on_loaded(user_actor self, load_result result);

  void handle(user_actor self, user_command command);
  void on_lookup(user_actor self, std::uint64_t id, lookup_result result);
  void on_durable(user_actor self, std::uint64_t id, storage::append_outcome outcome);
  void on_retire(user_actor self);
  /// Releases expired holds and retires long-expired tokens and sessions, then re-arms the timer.
  void on_expire(user_actor self);
  /// Arms the expiry timer for the earliest open hold, unless it is armed for earlier already.
  void arm_expiry(user_actor self);
  /// Arms the next idle tick (every idle_timeout / 2, at least 1 ms).
  void arm_idle(user_actor self);
  /// An idle tick: asks the owner to passivate this actor after two quiet ticks with nothing
  /// pending, otherwise re-arms.
  void on_idle(user_actor self);
  /// Whether anything would be lost or left undone if the actor stopped now.
  bool has_pending_work() const;
  /// The user's own kill, or the session's: as the ledger has it, or as the kill register has it
  /// before the ledger caught up (docs/spend-core.md, "Kill switch").
  bool user_stopped() const;
  bool session_stopped(const std::string& session) const;
  /// Journals a user's (no `session`) or session's kill or lift, with its webhook; `reply` gets the
  /// kill once durable, if it is valid. Without a reply (the register has it already) a change that
  /// the ledger shows already is not journaled again. A register change's `version` (0: none) is
  /// settled once the stream durably shows it (`kill_switch::settle`).
  void journal_kill(user_actor self, const std::optional<std::string>& session, bool active,
                    const net::responder& reply, std::uint64_t version = 0);
  /// At activation: journals every user or session kill the register holds that the ledger does
  /// not show (a crash between the register's commit and the journal's).
  void reconcile_kills(user_actor self);

  // Provisioning (user_provisioning.cpp).
  void execute_provision(user_actor self, provision_resource_request& request,
                         const idempotency_key& key);
  void execute_terms(user_actor self, accept_terms_request& request);
  void answer_approvals(const list_approvals_request& request) const;
  void answer_resources(const list_resources_request& request) const;
  void execute_decide_approval(user_actor self, decide_approval_request& request);
  void answer_approval(user_actor self, get_approval_request& request);
  /// A waiter's time is up: answers it with the approval as it is.
  void on_wait_over(std::uint64_t waiter);
  /// Answers, in the last batch appended, every agent long-polling approval `id`.
  void answer_waiters(const std::string& id, const std::string& body);
  /// Opens (or reuses) the approval of `gate` for `request` and answers 202.
  void open_gate(user_actor self, provision_resource_request& request,
                 const core::preflight_gate& gate, std::string_view service);

  // The purchase (user_purchase.cpp).
  void start_purchase(user_actor self, provision_resource_request& request,
                      const idempotency_key& key);
  void on_account_answer(user_actor self, std::uint64_t id, provider_answer answer);
  void on_vault_read(user_actor self, std::uint64_t id, vault_read read);
  void place_purchase(user_actor self, std::uint64_t id);
  void send_order(user_actor self, std::uint64_t id);
  /// Ends a purchase the provider did not make: the resource failed with `failure_code`, its hold
  /// released, its token revoked, its order deleted; the waiting request gets `problem`.
  void fail_purchase(user_actor self, std::uint64_t id, const std::string& failure_code,
                     core::problem problem);
  void on_order_answer(user_actor self, std::uint64_t id, provider_answer answer);
  void on_reconcile(user_actor self, std::uint64_t id);
  /// At activation: asks the provider again, with the same key, about every purchase a previous
  /// incarnation left pending or unknown (its order is sealed in the vault).
  void resume_purchases(user_actor self);
  void execute_oauth_callback(user_actor self, oauth_callback_request& request);
  void on_oauth_answer(user_actor self, std::uint64_t id, provider_answer answer);
  // Resources (user_resources.cpp).
  void execute_resource_action(user_actor self, resource_action_request& request);
  void on_resource_read(user_actor self, std::uint64_t id, vault_read read);
  void on_action_answer(user_actor self, std::uint64_t id, provider_answer answer);
  /// Reads `refs` (one or two) from the vault on the loader pool; the answer comes back as
  /// `vault_read` with `id`. False when the pool refused the job.
  bool read_vault(user_actor self, std::uint64_t id, std::string first,
                  std::optional<std::string> second = std::nullopt);

  /// Answers the purchase's waiting request (if any) and forgets the purchase.
  void end_purchase(std::uint64_t id, net::http_response response);
  std::string approval_body(const std::string& id) const;

  /// For tests and the spend endpoint.
  void answer_spend(const spend_request& request) const;
  void answer_session(const get_session_request& request) const;
  std::string user_body() const;
  std::string session_body(const std::string& id, std::optional<std::string_view> token) const;

  // Steps of `handle`.
  void begin_idempotent(user_actor self, user_command command, const idempotency_key& key);
  void execute(user_actor self, user_command command);
  /// The commands without an idempotency key (PUTs, sessions, kills).
  void execute_plain(user_actor self, user_command command);
  void finish(user_actor self, const std::string& scope_key, net::responder reply,
              net::http_response response, std::vector<core::ledger_event> events,
              std::vector<storage::alias> aliases = {},
              std::vector<storage::alias> journal_only_aliases = {},
              std::vector<storage::outbox_entry> outbox = {});
  /// Appends `events` with `extras` as one batch; `reply` gets `response` once it is durable
  /// (nothing when `reply` is not valid), and the purchase named in `extras` continues.
  void append(user_actor self, const std::string& scope_key, net::responder reply,
              net::http_response response, std::vector<core::ledger_event> events,
              batch_extras extras);
  void enter_failing(user_actor self);
  void maybe_stop(user_actor self);
  void remember(const std::string& scope_key, core::idempotency_record record);
  void forget(const std::string& scope_key);

  /// Set by the behavior: stops the actor.
  std::function<void()> quit;
};

/// Spawns a user actor; it activates at once: from `image` when given, else by reading its state
/// in the background.
user_actor spawn_user(caf::actor_system& system, user_config config,
                      std::optional<user_image> image = std::nullopt);

/// Reads a user's state from `journal`: the latest snapshot and every event after it, with the
/// chain checked. Blocking: for the loader pool and tests.
load_result load_user(storage::journal& journal, const std::string& stream);

/// The response that replays a stored record: its status and body, `Idempotent-Replayed: true`.
net::http_response replay_response(std::uint16_t status, std::string_view body);

} // namespace steward::actors
