#pragma once

// The durable state of the kill switches (global, provider, user and session), in a small SQLite
// file of its own (DIR/kills.db) with its own writer thread (docs/spend-core.md, "Kill switch").
//
// Why not the journal: a kill's ack must leave fast under load (DESIGN 7: p99 <= 1 ms), and a
// journal append waits behind the group commit already in progress, which under 512 connections
// holds hundreds of charges and takes tens of milliseconds. Here a kill waits for one small
// transaction: a few pages and one fsync. The journal still receives every change as a `kill.set`
// event of the system stream (the audit trail and the `kill.activated` webhook), written once the
// register has it; `actors/kill_switch` reconciles the two at start, the register being the
// authority for what is in force. User and session kills are journaled in the user's own stream
// instead, by the user actor, which reconciles them when it activates.
//
// One row per switch, (scope, id) → active, at. Writes are queued (at most
// `limits::kill_register_queue_max`) and committed in arrival order, as many as are queued in one
// transaction; each `done` is called once, on the writer thread, after the commit (true) or its
// failure (false), or at once on the caller's thread when refused (queue full, stopped).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace steward::storage {

struct kill_record {
  /// `global`, `provider`, `user` or `session`.
  std::string scope;
  /// The provider slug, user id or session id; empty for the global switch.
  std::string id;
  bool active = false;
  /// Unix seconds of the change.
  std::int64_t at = 0;

  bool operator==(const kill_record&) const = default;
};

class kill_register {
public:
  /// Opens (creating when missing) the register at `path` and reads every record; null with a
  /// message naming the file on failure.
  static std::unique_ptr<kill_register> open(const std::filesystem::path& path, std::string& error);

  ~kill_register();
  kill_register(const kill_register&) = delete;
  kill_register& operator=(const kill_register&) = delete;

  /// Every record stored when the register was opened, ordered by scope and id.
  const std::vector<kill_record>& loaded() const noexcept;

  /// Queues `record` (replacing the stored row of its scope and id); see the header comment for
  /// when `done` runs.
  void write(kill_record record, std::function<void(bool durable)> done);

  /// Queues the removal of `record`'s row (by scope and id), done only while the row's state is
  /// still `record.active`; in the queue's order, like `write`. For a row the user's own stream
  /// has caught up with (`kill_switch::settle`). Not fsynced when nothing else is in the same
  /// transaction: a removal lost in a crash leaves a row that still agrees with the journal.
  void erase(kill_record record, std::function<void(bool done)> done);
  /// Refuses new writes, commits what is queued, answers every callback and joins the writer.
  void stop();

  /// Transactions committed so far.
  std::uint64_t commits() const noexcept;

private:
  class impl;
  explicit kill_register(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace steward::storage
