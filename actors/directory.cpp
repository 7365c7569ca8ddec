#include "actors/directory.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <utility>

namespace steward::actors {

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
  user_cfg.owner = self->address();
  user_cfg.counters = config.counters;
  user_cfg.aliases = config.aliases;
  user_cfg.kills = config.kills;
  user_cfg.outbox_ready = config.outbox_ready;
  auto actor = spawn_user(self->system(), std::move(user_cfg));
  self->monitor(actor);
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

void directory_shard_state::on_down(const caf::actor_addr& source) {
  for (auto it = users.begin(); it != users.end(); ++it) {
    if (it->second.address() == source) {
      users.erase(it);
      return;
    }
  }
}

namespace {

directory_shard::behavior_type shard_behavior(
  directory_shard::stateful_pointer<directory_shard_state> self, directory_config config) {
  self->state.config = std::move(config);
  self->set_down_handler([self](caf::down_msg& down) { self->state.on_down(down.source); });
  self->set_exit_handler([self](caf::exit_msg& exit) {
    for (auto& [id, user] : self->state.users)
      self->send_exit(user, exit.reason);
    self->state.users.clear();
    self->quit(exit.reason);
  });
  return {
    [self](command_atom, user_command& command) {
      auto user = self->state.user_for(self, user_of(command));
      if (is_urgent(command))
        self->send<caf::message_priority::high>(user, command_atom::value, std::move(command));
      else
        self->send(user, command_atom::value, std::move(command));
    },
    [self](user_failed_atom, const std::string& user, const user_actor& actor) {
      self->state.on_user_failed(user, actor);
    },
  };
}

} // namespace

directory::directory(caf::actor_system& system, directory_config config) {
  std::size_t count = config.shards;
  if (count == 0)
    count = std::max<std::size_t>(1, system.scheduler().num_workers());
  shards_.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    shards_.push_back(system.spawn(shard_behavior, config));
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
