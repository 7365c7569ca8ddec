#pragma once

// What the two transports have in common: the per-thread connection slab, the context connections
// read, and the reply path from actors — a multi-producer queue drained by the loop, with one wake-up
// per batch rather than a syscall per reply.

#include "net/connection.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace steward::net {

/// Replies from other threads to one io loop. Producers take a short lock to append; the loop swaps
/// the whole batch out under the same lock. Bounded implicitly: every entry answers a request that
/// occupies a pipeline slot, so there are at most connections × pipeline depth entries.
class reply_queue {
public:
  struct entry {
    std::uint64_t connection;
    std::uint32_t sequence;
    http_response response;
  };

  /// Returns true when the queue was empty: the caller must wake the loop.
  bool push(std::uint64_t connection, std::uint32_t sequence, http_response&& response);
  /// Swaps the pending batch into `out` (which must be empty) and re-enables wake-ups.
  void take(std::vector<entry>& out);

private:
  std::mutex mutex_;
  std::vector<entry> entries_;
  bool wake_pending_ = false;
};

/// Base of an io thread's event loop. Owned by the server; outlives every responder naming it.
class io_loop {
public:
  io_loop(const connection_settings& settings, const route_table& routes, listener_stats& stats);
  virtual ~io_loop() = default;
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  /// Called by responders, from any thread.
  void deliver(std::uint64_t connection, std::uint32_t sequence, http_response&& response);

  /// Asks the loop (from any thread) to start draining.
  void request_drain() noexcept;

  /// Connections currently open on this loop.
  std::size_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }

protected:
  /// Wakes the loop's thread so that it drains its reply queue and checks for a drain request.
  virtual void wake() noexcept = 0;

  /// Creates a connection in the slab and returns its index. A connection past the listener's limit
  /// (`within_limit` false) is only there to be told 503: it stays out of the open-connections gauge
  /// and the accepted counter (the transport counts it as rejected).
  std::uint32_t add_connection(bool within_limit = true);
  connection* find(std::uint64_t id) noexcept;
  /// The live connection at `index`, or nullptr when that slot is free.
  connection* at(std::uint32_t index) noexcept {
    return index < slab_.size() ? slab_[index].conn.get() : nullptr;
  }
  void remove_connection(std::uint32_t index) noexcept;
  static std::uint32_t index_of(std::uint64_t id) noexcept { return std::uint32_t(id); }
  std::uint32_t generation_of(std::uint32_t index) const noexcept { return slab_[index].generation; }

  /// Moves queued replies into their connections; returns the number delivered.
  std::size_t drain_replies();
  /// Refreshes the clock and, once a second, the Date header.
  void update_clock() noexcept;
  /// Runs every connection's deadlines; the transport then acts on what they decided.
  void tick_connections();
  bool drain_requested() const noexcept { return drain_requested_.load(std::memory_order_acquire); }
  void begin_drain();

  /// Marks a connection whose state changed outside the transport's own completions (a reply, a
  /// tick), so that the transport services it once after the batch.
  void touch(std::uint32_t index);
  /// Swaps out the touched list (deduplicated).
  void take_touched(std::vector<std::uint32_t>& out);

  /// Indexes of live connections, for the transport to walk.
  template <class F> void for_each_connection(F&& f) {
    for (std::uint32_t i = 0; i < slab_.size(); ++i)
      if (slab_[i].conn)
        f(i, *slab_[i].conn);
  }

  /// Called by the transport once its thread is running: binds the thread-local "current loop".
  void enter_thread() noexcept;

  loop_context context_;
  reply_queue replies_;
  listener_stats& stats_;

private:
  struct slot_entry {
    std::unique_ptr<connection> conn;
    std::uint32_t generation = 0;
    bool touched = false;
    bool within_limit = true;
  };

  std::vector<slot_entry> slab_;
  std::vector<std::uint32_t> free_;
  std::vector<reply_queue::entry> batch_;
  std::vector<std::uint32_t> touched_;
  std::atomic<std::size_t> open_{0};
  std::atomic<bool> drain_requested_{false};
  std::int64_t date_second_ = -1;
};

} // namespace steward::net
