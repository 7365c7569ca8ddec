#pragma once

// The global and per-provider kill switches (docs/spend-core.md, "Kill switch"). They are read on
// the hot path without an actor hop: the io thread refuses a charge of a killed provider before any
// actor sees it, and the user actor reads them again when it decides, so a charge already queued
// when the kill lands is refused too. A kill takes effect (the flag is set) before anything is
// written and before its ack is sent; lifting one clears the flag only once that is durable.
//
// Durability comes from the kill register (storage/kill_register.hpp, its own small file and
// fsync), so an ack waits for one small commit rather than for the journal's group commit. Once
// the register has a change it is also journaled as a `kill.set` event in the system stream `sys`
// (hash-chained like a user's stream: the audit trail), with the `kill.activated` webhook in the
// same batch. At start `load` makes the two agree: the register is the authority for what is in
// force; a change it holds that the journal missed (a crash between the two writes) is journaled
// then, and a journaled state the register lacks (a data dir from before the register) is copied
// into it.
//
// User and session kills (`change_scoped`) are durable in the same register, so their ack waits
// for its small commit too, not for the journal's group commit. Their flags are kept here, by
// user or session id, and the user actor reads them when it decides (with its ledger's own kill
// state, which lags: the `kill.set` event is journaled by the user actor afterwards, in the
// user's stream, and an actor that activates journals whatever the register holds that its
// ledger does not show).

#include "storage/journal.hpp"
#include "storage/kill_register.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace steward::actors {

/// The journal stream of process-wide events.
inline constexpr std::string_view system_stream = "sys";

class kill_switch {
public:
  /// `providers`: every configured provider slug (a kill of another slug is `not_found`). Both
  /// stores must outlive this object.
  kill_switch(std::vector<std::string> providers, storage::kill_register* durable,
              storage::journal* journal);

  bool global() const noexcept { return global_.load(std::memory_order_seq_cst); }
  /// False for a slug that is not configured.
  bool provider(std::string_view slug) const noexcept;
  /// Whether a charge by `provider` must be refused now.
  bool refuses(std::string_view provider) const noexcept { return global() || this->provider(provider); }
  bool knows(std::string_view slug) const noexcept { return providers_.contains(std::string(slug)); }

  /// Called when a kill.activated webhook is durable in the outbox (optional).
  void on_outbox_ready(std::function<void()> ready) { outbox_ready_ = std::move(ready); }

  /// Sets (`active`) or lifts the global switch (`slug` empty) or a provider's, and calls `done`
  /// (on the register's thread) with whether the register made it durable; the journal receives
  /// it afterwards. A kill is in force before this returns, whatever happens next; a lift only
  /// once durable.
  void change(std::string_view slug, bool active, std::int64_t now,
              std::function<void(bool durable)> done);

  /// Whether the register holds `user`'s own kill, or `session`'s, in force (a kill is in force
  /// from its `change_scoped` on, a lift once durable).
  bool user_killed(std::string_view user) const { return is_on(scoped(user_scope, user)); }
  bool session_killed(std::string_view session) const { return is_on(scoped(session_scope, session)); }

  /// A user's or session's switch as this object holds it: its state, and the version of the
  /// last change made to it (every change and every row loaded at start gets a new one).
  struct scoped_state {
    bool active = false;
    std::uint64_t version = 0;
  };
  /// The state of a user's (`user_scope`) or session's (`session_scope`) switch as set through
  /// this object or loaded from the register; none if it was never set, or settled.
  std::optional<scoped_state> scoped(std::string_view scope, std::string_view id) const;
  /// Sets (`active`) or lifts a user's or session's kill, as `change` does for the others, except
  /// that the journal is left to the user actor; `done(durable, version)` on the register's
  /// thread, with the change's version for `settle`.
  void change_scoped(std::string_view scope, std::string_view id, bool active, std::int64_t now,
                     std::function<void(bool durable, std::uint64_t version)> done);
  /// Called by the user actor once its stream durably shows `seen` (a state it was told, with
  /// its version): when that is still the switch's last change and no change is being written,
  /// the switch is forgotten here and its register row removed, and the user's ledger alone
  /// holds it from then on. Otherwise nothing happens. This keeps the register and this map as
  /// small as the kills whose journaling is still under way (docs/spend-core.md).
  void settle(std::string_view scope, std::string_view id, scoped_state seen);
  /// Switches forgotten by `settle` whose register row was removed.
  std::uint64_t settled() const noexcept { return settled_.load(std::memory_order_relaxed); }

  static constexpr std::string_view user_scope = "user";
  static constexpr std::string_view session_scope = "session";

  /// Restores the switches from the register, replays the system stream, and journals or
  /// registers whatever one of them missed (see the header comment); blocks until that is
  /// durable. The failure, if any.
  std::optional<storage::journal_failure> load();

  /// Register changes whose journal append failed (the audit event is written at the next start).
  std::uint64_t audit_failures() const noexcept { return audit_failures_.load(std::memory_order_relaxed); }

private:
  struct flag {
    std::atomic<bool> on{false};
  };

  std::atomic<bool> global_{false};
  std::unordered_map<std::string, std::unique_ptr<flag>> providers_;
  struct scoped_entry {
    scoped_state state;
    std::uint32_t writing = 0; ///< its changes queued in the register, not answered yet
  };
  static bool is_on(const std::optional<scoped_state>& state) { return state && state->active; }
  /// Held from a scoped change's version to its place in the register's queue (and by `settle`
  /// from its check to its removal's place), so that versions follow the queue's order. Taken
  /// before `scoped_mutex_`, never after; the register's callbacks take only `scoped_mutex_`.
  std::mutex scoped_order_mutex_;
  std::uint64_t scoped_versions_ = 0; ///< guarded by `scoped_order_mutex_`
  /// User and session switches by `scope:id`; written rarely, read on every decision.
  mutable std::shared_mutex scoped_mutex_;
  std::unordered_map<std::string, scoped_entry> scoped_;
  std::atomic<std::uint64_t> settled_{0};
  storage::kill_register* register_;
  storage::journal* journal_;
  std::function<void()> outbox_ready_;
  std::atomic<std::uint64_t> audit_failures_{0};

  std::mutex head_mutex_; ///< orders appends to the system stream
  std::uint64_t head_seq_ = 0;
  core::chain_hash head_hash_ = core::chain_genesis;
  /// The newest system-stream event known durable: after a failed append the head goes back to
  /// it, since every batch chained after the failed one fails too.
  std::uint64_t durable_seq_ = 0;
  core::chain_hash durable_hash_ = core::chain_genesis;
  /// Bumped when the head is rewound; failures of batches issued before that are already
  /// accounted for and must not rewind it again.
  std::uint64_t generation_ = 0;

  void set(std::string_view slug, bool active) noexcept;
  /// Appends the `kill.set` event (and its webhook) to the system stream; `done(durable)` on the
  /// journal's thread.
  void journal_change(std::string_view slug, bool active, std::int64_t at,
                      std::function<void(bool durable)> done);
  void on_appended(bool durable, std::uint64_t seq, const core::chain_hash& hash,
                   std::uint64_t generation);
};

} // namespace steward::actors
