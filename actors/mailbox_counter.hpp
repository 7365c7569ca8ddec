#pragma once

// Messages sent to an actor kind and not yet handled: the "actor mailbox depth" of DESIGN's metrics.
// CAF 0.17 lets only the actor itself look at its mailbox, so senders count up and the actor counts
// down as it handles each message; the metrics endpoint reads the difference at scrape time.

#include <atomic>
#include <cstdint>

namespace steward::actors {

class mailbox_counter {
public:
  void sent() noexcept { depth_.fetch_add(1, std::memory_order_relaxed); }
  void handled() noexcept { depth_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t depth() const noexcept { return depth_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::int64_t> depth_{0};
};

} // namespace steward::actors
