#include "actors/directory.hpp"

#include "net/problem_response.hpp"

#include "core/assert.hpp"
#include "core/problem.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstring>
#include <functional>
#include <new>
#include <utility>

namespace steward::actors {

namespace {

/// 503 `overloaded` with `Retry-After: 1`, for a command the shard cannot hold.
net::http_response overloaded_reply(std::string_view detail) {
  return net::problem_response(core::problem(core::api_error::overloaded, detail).retry_after(1));
}

void answer_overloaded(const user_command& command, std::string_view detail) {
  std::visit([&](const auto& request) { request.reply.respond(overloaded_reply(detail)); },
             command);
}

/// Kills overtake the commands waiting in the user actor's mailbox (see `is_urgent`).
void forward(directory_shard::pointer self, const user_actor& user, user_command command) {
  if (is_urgent(command))
    self->send<caf::message_priority::high>(user, command_atom::value, std::move(command));
  else
    self->send(user, command_atom::value, std::move(command));
}

} // namespace

bool is_urgent(const user_command& command) noexcept {
  return std::holds_alternative<kill_user_request>(command);
}

std::size_t shard_index(std::string_view user, std::size_t shards) noexcept {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char byte : user) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return shards == 0 ? 0 : static_cast<std::size_t>(hash % shards);
}

user_actor directory_shard_state::user_for(directory_shard::pointer self, const std::string& user) {
  if (auto found = users.find(user); found != users.end())
    return found->second;
  user_config user_cfg;
  user_cfg.user = user;
  user_cfg.journal = config.journal;
  user_cfg.loader = config.loader;
  user_cfg.clock = config.clock;
  user_cfg.deliver = config.deliver;
  user_cfg.charges_per_minute = config.charges_per_minute;
  user_cfg.snapshot_every_events = config.snapshot_every_events;
  user_cfg.idle_timeout = config.idle_timeout;
  user_cfg.owner = self->address();
  user_cfg.counters = config.counters;
  user_cfg.aliases = config.aliases;
  user_cfg.kills = config.kills;
  user_cfg.outbox_ready = config.outbox_ready;
  user_cfg.purchases = config.purchases;
  auto actor = spawn_user(self->system(), std::move(user_cfg), take_image(user));
  self->monitor(actor);
  monitored.emplace(actor.id(), user);
  users.emplace(user, actor);
  return actor;
}

void directory_shard_state::on_user_failed(const std::string& user, const user_actor& actor) {
  // Only the actor the shard still maps is forgotten; it stops when told `retire`, after every
  // command forwarded to it so far.
  if (auto found = users.find(user); found != users.end() && found->second == actor)
    users.erase(found);
  caf::anon_send(actor, retire_atom::value);
}

void directory_shard_state::route(directory_shard::pointer self, user_command command) {
  const std::string& user = user_of(command);
  if (auto found = retiring.find(user); found != retiring.end()) {
    // The old actor may still have appends in flight: a fresh one must not read the journal
    // before they are durable, so the command waits until the old actor is down.
    auto& waiting = found->second.waiting;
    if (waiting.size() >= core::limits::user_stash_commands_max)
      answer_overloaded(command, "too many requests wait for this user");
    else
      waiting.push_back(std::move(command));
    return;
  }
  auto actor = user_for(self, user); // before `command` (which `user` refers into) is moved
  forward(self, actor, std::move(command));
}

void directory_shard_state::on_passivate(const std::string& user, const user_actor& actor) {
  // The actor asked with nothing pending, but commands forwarded since may wait in its mailbox
  // ahead of `retire`: it answers them and stops only once their appends are durable.
  if (auto found = users.find(user); found != users.end() && found->second == actor) {
    users.erase(found);
    retiring.insert_or_assign(user, retiring_user{actor.address(), {}});
    if (config.counters != nullptr)
      config.counters->passivations.fetch_add(1, std::memory_order_relaxed);
  }
  // An actor the shard no longer maps gets no more commands from it: it may stop as well.
  caf::anon_send(actor, retire_atom::value);
}

namespace {

/// Adds (sign 1) or removes (sign -1) one image from the counters.
void count_image(user_counters* counters, std::size_t ledger_bytes, std::int64_t sign) {
  if (counters == nullptr)
    return;
  counters->hibernated.fetch_add(sign, std::memory_order_relaxed);
  counters->image_bytes.fetch_add(sign * static_cast<std::int64_t>(ledger_bytes), std::memory_order_relaxed);
}

} // namespace

void directory_shard_state::on_hibernate(const std::string& user, const user_actor& actor,
                                         user_image image) {
  // Only the actor this shard is retiring for `user` has the user's latest state: it was the
  // user's one actor, and it stops right after sending this.
  auto found = retiring.find(user);
  if (found == retiring.end() || found->second.actor != actor.address() || hibernated_bound == 0)
    return;
  // A stale image of the user cannot be kept (it is taken out when its actor is spawned); were
  // one there, the newer replaces it.
  if (const auto stale = hibernated.find(user))
    count_image(config.counters, stale->ledger.size(), -1);
  count_image(config.counters, image.ledger.size(), 1);
  // Over the bound the image kept longest goes; its user reloads from the journal.
  hibernated.put(user, image, hibernated_bound, [this](const hibernated_images::view& dropped) {
    count_image(config.counters, dropped.ledger.size(), -1);
    if (config.counters != nullptr)
      config.counters->images_dropped.fetch_add(1, std::memory_order_relaxed);
  });
}

std::optional<user_image> directory_shard_state::take_image(const std::string& user) {
  auto out = hibernated.take(user);
  if (out)
    count_image(config.counters, out->ledger.size(), -1);
  return out;
}

void directory_shard_state::drop_images() {
  hibernated.clear(
    [this](const hibernated_images::view& image) { count_image(config.counters, image.ledger.size(), -1); });
}

/// One kept image in one block: this header, the user id's bytes, the ledger's.
struct hibernated_images::kept {
  kept* older;
  kept* newer;
  core::chain_hash chain;
  std::uint64_t seq;
  std::uint64_t snapshot_seq;
  std::uint32_t ledger_bytes;
  std::uint32_t hash; ///< of the user id, for the table
  std::uint16_t user_bytes;

  const char* text() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  char* text() noexcept { return reinterpret_cast<char*>(this + 1); }
  std::string_view key() const noexcept { return {text(), user_bytes}; }
  std::string_view ledger() const noexcept { return {text() + user_bytes, ledger_bytes}; }
  view as_view() const noexcept { return view{ledger(), seq, chain, snapshot_seq}; }
};

namespace {

std::uint32_t user_hash(std::string_view user) noexcept {
  const std::uint64_t full = std::hash<std::string_view>{}(user);
  return static_cast<std::uint32_t>(full ^ (full >> 32));
}

} // namespace

hibernated_images::~hibernated_images() {
  for (kept* image = oldest_; image != nullptr;) {
    kept* newer = image->newer;
    ::operator delete(image);
    image = newer;
  }
}

void hibernated_images::unlink(kept* image) noexcept {
  (image->older != nullptr ? image->older->newer : oldest_) = image->newer;
  (image->newer != nullptr ? image->newer->older : newest_) = image->older;
}

void hibernated_images::put(const std::string& user, const user_image& image, std::size_t bound,
                            const drop_callback& dropped) {
  STEWARD_ASSERT(user.size() <= UINT16_MAX && image.ledger.size() <= UINT32_MAX);
  table_.reserve_one(); // so that `put` cannot throw once the image is allocated
  auto* fresh = static_cast<kept*>(::operator new(sizeof(kept) + user.size() + image.ledger.size()));
  fresh->older = nullptr;
  fresh->newer = nullptr;
  fresh->chain = image.hash;
  fresh->seq = image.seq;
  fresh->snapshot_seq = image.snapshot_seq;
  fresh->ledger_bytes = static_cast<std::uint32_t>(image.ledger.size());
  fresh->hash = user_hash(user);
  fresh->user_bytes = static_cast<std::uint16_t>(user.size());
  std::memcpy(fresh->text(), user.data(), user.size());
  std::memcpy(fresh->text() + user.size(), image.ledger.data(), image.ledger.size());
  if (kept* replaced = table_.put(fresh); replaced != nullptr) {
    unlink(replaced);
    ::operator delete(replaced);
  }
  fresh->older = newest_;
  (newest_ != nullptr ? newest_->newer : oldest_) = fresh;
  newest_ = fresh;
  while (table_.size() > bound && oldest_ != fresh) {
    kept* gone = oldest_;
    table_.remove(gone->key(), gone->hash);
    unlink(gone);
    dropped(gone->as_view());
    ::operator delete(gone);
  }
}

std::optional<user_image> hibernated_images::take(const std::string& user) {
  const std::uint32_t hash = user_hash(user);
  kept* image = table_.find(user, hash);
  if (image == nullptr)
    return std::nullopt;
  std::optional<user_image> out =
    user_image{std::string(image->ledger()), image->seq, image->chain, image->snapshot_seq};
  table_.remove(user, hash);
  unlink(image);
  ::operator delete(image);
  return out;
}

std::optional<hibernated_images::view> hibernated_images::find(const std::string& user) const {
  const kept* image = table_.find(user, user_hash(user));
  if (image == nullptr)
    return std::nullopt;
  return image->as_view();
}

hibernated_images::view hibernated_images::at(const std::string& user) const {
  const auto image = find(user);
  STEWARD_ASSERT(image.has_value());
  return *image;
}

void hibernated_images::clear(const drop_callback& dropped) {
  while (oldest_ != nullptr) {
    kept* gone = oldest_;
    unlink(gone);
    dropped(gone->as_view());
    ::operator delete(gone);
  }
  table_.clear();
}

void directory_shard_state::on_down(directory_shard::pointer self, const caf::actor_addr& source) {
  auto watched = monitored.find(source.id());
  if (watched == monitored.end())
    return;
  const std::string user = std::move(watched->second);
  monitored.erase(watched);
  if (auto mapped = users.find(user); mapped != users.end() && mapped->second.address() == source) {
    users.erase(mapped);
    return;
  }
  auto old = retiring.find(user);
  if (old == retiring.end() || old->second.actor != source)
    return;
  auto waiting = std::move(old->second.waiting);
  retiring.erase(old);
  if (!waiting.empty()) {
    auto actor = user_for(self, user);
    for (auto& command : waiting)
      forward(self, actor, std::move(command));
  }
}

namespace {

directory_shard::behavior_type shard_behavior(
  directory_shard::stateful_pointer<directory_shard_state> self, directory_config config,
  std::size_t hibernated_bound) {
  self->state.config = std::move(config);
  self->state.hibernated_bound = hibernated_bound;
  self->set_down_handler([self](caf::down_msg& down) { self->state.on_down(self, down.source); });
  self->set_exit_handler([self](caf::exit_msg& exit) {
    for (auto& [id, user] : self->state.users)
      self->send_exit(user, exit.reason);
    self->state.users.clear();
    for (auto& [id, old] : self->state.retiring) {
      self->send_exit(old.actor, exit.reason);
      for (const auto& command : old.waiting)
        answer_overloaded(command, "the service is stopping");
    }
    self->state.retiring.clear();
    self->state.drop_images();
    self->quit(exit.reason);
  });
  return {
    [self](command_atom, user_command& command) { self->state.route(self, std::move(command)); },
    [self](user_failed_atom, const std::string& user, const user_actor& actor) {
      self->state.on_user_failed(user, actor);
    },
    [self](passivate_atom, const std::string& user, const user_actor& actor) {
      self->state.on_passivate(user, actor);
    },
    [self](hibernate_atom, const std::string& user, const user_actor& actor, user_image& image) {
      self->state.on_hibernate(user, actor, std::move(image));
    },
  };
}

} // namespace

directory::directory(caf::actor_system& system, directory_config config) {
  std::size_t count = config.shards;
  if (count == 0)
    count = std::max<std::size_t>(1, system.scheduler().num_workers());
  shards_.reserve(count);
  // Each shard's share of the images, rounded up: a non-zero bound keeps at least one per shard.
  const std::size_t per_shard = (config.hibernated_max + count - 1) / count;
  for (std::size_t i = 0; i < count; ++i)
    shards_.push_back(system.spawn(shard_behavior, config, per_shard));
}

const directory_shard& directory::shard_for(std::string_view user) const {
  return shards_[shard_index(user, shards_.size())];
}

void directory::send(user_command command) const {
  const auto& shard = shard_for(user_of(command));
  if (is_urgent(command))
    caf::anon_send<caf::message_priority::high>(shard, command_atom::value, std::move(command));
  else
    caf::anon_send(shard, command_atom::value, std::move(command));
}

void directory::stop() const {
  for (const auto& shard : shards_)
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
}

} // namespace steward::actors
