#pragma once

// Backpressure on purchases, per provider (DESIGN 2: the provider side's outbound calls with
// backpressure). Every purchase holds a ticket of its provider's gate from the moment it is
// admitted — before anything is written or sent — until its flow ends, whatever ends it: an answer,
// a refusal, a failure, the actor stopping. A purchase that finds its provider's gate full is
// answered 503 `provider_unavailable` with nothing written, so a provider that slows down makes
// new purchases fail fast instead of piling durable holds and tokens behind a queue that cannot
// drain.
//
// Decision: the count lives beside the provider actors as relaxed atomics that user actors read and
// update directly, like the kill flags and the catalog board, not as messages to the provider
// actor: a hop there and back on every purchase would cost more than the purchase's own work.
// The slugs are fixed at start (the configured providers), so lookups take no lock.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace steward::actors {

class provider_gate {
  struct counts {
    std::atomic<std::uint32_t> in_flight{0};
    std::atomic<std::uint64_t> refused{0};
  };

public:
  /// A purchase's place in its provider's count; move-only, given back when destroyed. An empty
  /// ticket (default, or refused) holds nothing.
  class ticket {
  public:
    ticket() noexcept = default;
    ticket(ticket&& other) noexcept : counts_(std::exchange(other.counts_, nullptr)) {}
    ticket& operator=(ticket&& other) noexcept {
      if (this != &other) {
        release();
        counts_ = std::exchange(other.counts_, nullptr);
      }
      return *this;
    }
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    ~ticket() { release(); }

    bool held() const noexcept { return counts_ != nullptr; }

  private:
    friend class provider_gate;
    explicit ticket(counts* c) noexcept : counts_(c) {}
    void release() noexcept {
      if (counts_ != nullptr)
        counts_->in_flight.fetch_sub(1, std::memory_order_relaxed);
      counts_ = nullptr;
    }
    counts* counts_ = nullptr;
  };

  /// What `try_enter` decided.
  enum class admission : std::uint8_t {
    admitted,  ///< the ticket holds a place
    full,      ///< the provider has `max` purchases in flight
    unbounded, ///< not a provider of this gate: nothing to count (the ticket is empty)
  };

  explicit provider_gate(std::uint32_t per_provider_max) noexcept : max_(per_provider_max) {}

  /// Adds a provider; only before the gate is shared with actors.
  void add(std::string slug) { providers_.try_emplace(std::move(slug), std::make_unique<counts>()); }

  /// Takes a place at `provider` unless it has `max` purchases in flight.
  admission try_enter(std::string_view provider, ticket& out) noexcept {
    auto* c = find(provider);
    if (c == nullptr)
      return admission::unbounded;
    auto current = c->in_flight.load(std::memory_order_relaxed);
    do {
      if (current >= max_) {
        c->refused.fetch_add(1, std::memory_order_relaxed);
        return admission::full;
      }
    } while (!c->in_flight.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    out = ticket(c);
    return admission::admitted;
  }

  /// Takes a place even past the bound: for purchases found in flight at activation, which were
  /// admitted before the process stopped and must be settled.
  ticket enter(std::string_view provider) noexcept {
    auto* c = find(provider);
    if (c == nullptr)
      return {};
    c->in_flight.fetch_add(1, std::memory_order_relaxed);
    return ticket(c);
  }

  std::uint32_t max() const noexcept { return max_; }
  std::uint32_t in_flight(std::string_view provider) const noexcept {
    auto* c = find(provider);
    return c ? c->in_flight.load(std::memory_order_relaxed) : 0;
  }
  std::uint64_t refused(std::string_view provider) const noexcept {
    auto* c = find(provider);
    return c ? c->refused.load(std::memory_order_relaxed) : 0;
  }

private:
  counts* find(std::string_view provider) const noexcept {
    auto it = providers_.find(provider);
    return it == providers_.end() ? nullptr : it->second.get();
  }

  std::uint32_t max_;
  std::map<std::string, std::unique_ptr<counts>, std::less<>> providers_;
};

} // namespace steward::actors
