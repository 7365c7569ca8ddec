#pragma once

// The directory (docs/spend-core.md, "Directory and activation"): N shard actors; a user id hashes
// to one shard, which owns `user id -> user actor`. Every message for a user passes through its
// shard, which spawns the user's actor only when it has none, so there is never a second
// activation of a user however many first messages race (the shard handles them one at a time).
//
// The shard monitors its user actors and forgets one that goes down. A user actor that stops
// after a journal failure first reports `userfailed`; the shard forgets it and answers `retire`,
// and the actor stops only then. Every command the shard forwarded before forgetting it is thus in
// the old actor's mailbox ahead of `retire` and is answered (503); every command after goes to a
// fresh activation that reads the durable state.
//
// Passivation: a user actor idle for `idle_timeout` with nothing pending asks its shard
// (`passivate`); the shard forgets it and answers `retire`, as after a failure. Commands forwarded
// before that are answered by the old actor, which stops once their appends are durable. A command
// that arrives while the old actor is still alive waits in the shard (bounded; past the bound it is
// answered 503) and goes to a fresh activation once the old actor is down, so that the fresh one
// reads every event the old one appended. The journal's `(stream, seq)` key is the fence behind
// this: an activation that read a stale head could not append (`conflict`), it would answer 503
// and reload.
//
// Hibernation (docs/spend-core.md): a passivated actor that stops with every append durable sends
// its shard its image (`hibernate`: the ledger's snapshot bytes and the stream's head) just before
// it goes down. The shard keeps the image in place of the actor, and the user's next activation
// starts from it at once, without reading the journal. The image is exactly the durable state:
// only this node's actor of the user writes the stream, and while it lived the shard held no image
// of it (an image is taken out of `hibernated` when its actor is spawned). Were it ever stale, the
// `(stream, seq)` fence would refuse the resumed actor's first append and it would reload. At most
// `hibernated_max` images are kept (split among the shards); past it the shard drops the one kept
// longest, and that user reloads from the journal like before hibernation existed. An image leaves
// the store when its user activates and comes back at the next passivation, so the one kept
// longest is the least recently used.

#include "actors/loader_pool.hpp"
#include "actors/user.hpp"
#include "core/probe_table.hpp"

#include <caf/actor_addr.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace steward::actors {

/// A shard's interface: the user actor's API (routed on the command's `user`), and the failure
/// report and passivation request of a user actor it owns.
using directory_shard = caf::typed_actor<
  caf::reacts_to<command_atom, user_command>,
  caf::reacts_to<user_failed_atom, std::string, user_actor>,
  caf::reacts_to<passivate_atom, std::string, user_actor>,
  caf::reacts_to<hibernate_atom, std::string, user_actor, user_image>>;

struct directory_config {
  /// Shard actors; 0 means one per CAF worker thread.
  std::size_t shards = 0;
  storage::journal* journal = nullptr; ///< must outlive the directory
  loader_pool* loader = nullptr;       ///< must outlive the directory
  std::function<std::int64_t()> clock;
  delivery deliver;
  std::uint32_t charges_per_minute = core::limits::charges_per_minute_default;
  std::uint64_t snapshot_every_events = core::limits::user_snapshot_every_events_default;
  /// Passed to every user actor (`user_config::idle_timeout`); zero disables passivation.
  std::chrono::milliseconds idle_timeout{core::limits::user_idle_timeout_ms_default};
  /// Images of passivated users kept, all shards together (see "Hibernation" above); 0: none.
  std::size_t hibernated_max = core::limits::user_hibernated_max_default;
  user_counters* counters = nullptr;
  alias_index* aliases = nullptr;
  kill_switch* kills = nullptr;
  std::function<void()> outbox_ready;
  /// Providers to buy from (`user_config::purchases`); must outlive the directory.
  const purchase_services* purchases = nullptr;
};

/// The images a shard keeps (see "Hibernation" above), oldest first: `put` past the bound drops
/// the image kept longest. Each image is one allocation: a header with the links of the order,
/// then the user id's bytes, then the ledger's; a table of pointers finds it by user id. Not
/// thread-safe; the shard's own.
class hibernated_images {
public:
  /// An image as kept, read in place: valid until the images change.
  struct view {
    std::string_view ledger;
    std::uint64_t seq = 0;
    core::chain_hash hash{};
    std::uint64_t snapshot_seq = 0;
  };
  using drop_callback = std::function<void(const view&)>;

  hibernated_images() = default;
  hibernated_images(const hibernated_images&) = delete;
  hibernated_images& operator=(const hibernated_images&) = delete;
  ~hibernated_images();

  /// Keeps `image` for `user` (replacing one kept for it), then drops the oldest images while
  /// more than `bound` are kept; calls `dropped` with each one dropped (not with a replaced one).
  void put(const std::string& user, const user_image& image, std::size_t bound, const drop_callback& dropped);
  /// Takes `user`'s image out, if one is kept.
  std::optional<user_image> take(const std::string& user);
  std::optional<view> find(const std::string& user) const;
  view at(const std::string& user) const;
  std::size_t size() const noexcept { return table_.size(); }
  bool empty() const noexcept { return table_.empty(); }
  /// Drops every image, calling `dropped` with each, oldest first.
  void clear(const drop_callback& dropped);

private:
  struct kept;
  void unlink(kept* image) noexcept;

  kept* oldest_ = nullptr;
  kept* newest_ = nullptr;
  core::probe_table<kept> table_;
};

/// A passivated user actor that is not down yet, and the commands for its user that arrived since.
struct retiring_user {
  caf::actor_addr actor;
  std::deque<user_command> waiting; ///< at most `core::limits::user_stash_commands_max`
};

/// The state of one shard.
struct directory_shard_state {
  static inline const char* name = "steward.directory";

  directory_config config;
  std::unordered_map<std::string, user_actor> users;
  /// Users whose passivated actor is still draining, by user id.
  std::unordered_map<std::string, retiring_user> retiring;
  /// The user of every actor this shard monitors, mapped or retiring, until its down message:
  /// so a down finds its user at once. (Searching `users` and `retiring` for the address made
  /// a wave of passivations quadratic: 50 000 users a shard held a worker for minutes.)
  std::unordered_map<caf::actor_id, std::string> monitored;
  /// Passivated users kept as their image, by user id; none of them has an actor.
  hibernated_images hibernated;
  /// This shard's share of `directory_config::hibernated_max`.
  std::size_t hibernated_bound = 0;

  /// Forwards a command to its user's actor, or holds it while the user's old actor retires.
  void route(directory_shard::pointer self, user_command command);
  /// The user's actor, spawned (and monitored) when the shard has none.
  user_actor user_for(directory_shard::pointer self, const std::string& user);
  void on_user_failed(const std::string& user, const user_actor& actor);
  void on_passivate(const std::string& user, const user_actor& actor);
  /// Keeps the image of a passivated actor that is stopping (only from the actor it retires).
  void on_hibernate(const std::string& user, const user_actor& actor, user_image image);
  /// Takes `user`'s image out (for its next actor), if the shard keeps one.
  std::optional<user_image> take_image(const std::string& user);
  /// Forgets every image (at shutdown).
  void drop_images();
  /// Forgets a user actor that went down; a retiring one's waiting commands go to a fresh actor.
  void on_down(directory_shard::pointer self, const caf::actor_addr& source);
};

/// Kills travel as high-priority messages (CAF `message_priority::high`) through the shard and to
/// the user actor, overtaking commands that wait in either mailbox: everything handled after the
/// kill is refused, and the kill is answered once it is durable.
bool is_urgent(const user_command& command) noexcept;

/// Which of `shards` owns `user` (FNV-1a of the id: stable across runs and builds).
std::size_t shard_index(std::string_view user, std::size_t shards) noexcept;

/// The shards, and the one call a route handler makes:
///
///     directory.send(charge_request{user_id, command, {scope_key, fingerprint}, reply});
///
/// A handle: copyable, thread-safe (it only sends messages).
class directory {
public:
  directory(caf::actor_system& system, directory_config config);

  void send(user_command command) const;

  const directory_shard& shard_for(std::string_view user) const;
  std::size_t shard_count() const noexcept { return shards_.size(); }

  /// Stops every shard and, with them, every user actor they own.
  void stop() const;

private:
  std::vector<directory_shard> shards_;
};

} // namespace steward::actors
