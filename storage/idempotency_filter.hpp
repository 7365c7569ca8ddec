#pragma once

// Which idempotency keys the journal certainly does not hold (docs/journal.md, "Idempotency
// filter").
//
// A user actor keeps the records of keys it is answering; an answered record lives in the journal
// only. So every request with a fresh key used to cost a read of the journal on the loader pool:
// a thread hop, an index lookup and a message back, about a tenth of a charge's cost under
// `bench/charges`. This filter answers most of those without the read: `may_contain` false
// means the journal has no record of that key, and the request can run at once.
//
// It is a Bloom filter of 64-bit words (each key sets up to four bits of one word, so a lookup
// reads one cache line), in generations: keys go into the current one, and a full current one
// gives way to an empty one. A generation is emptied once a purge of the journal has deleted
// every record it could name (`retire_older_than`): records expire, a Bloom filter cannot forget.
// When no generation is free, the current one takes more keys and answers "maybe" more often:
// slower, never wrong.
//
// Never wrong means: every key added, in a generation not yet retired, is answered "maybe"; and
// before `mark_complete` (the journal's start-up scan of the keys it already holds is done)
// every key is. Threads: `add` and `retire_older_than` from the journal's writer, and `add` from
// the start-up scan as long as it is incomplete; `may_contain` from any thread. An `add` that
// happens before a `may_contain` (through a queue, a message, a mutex) is seen by it.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace steward::storage {

/// Unmaps a generation's words (`idempotency_filter`, below).
struct filter_words_unmap {
  std::size_t bytes = 0;
  void operator()(std::uint64_t* words) const noexcept;
};

class idempotency_filter {
public:
  static constexpr std::size_t generations = 4;
  /// Keys a generation takes before the next empty one becomes current: four per word on
  /// average, where a lookup of a key never added answers "maybe" about one time in 200.
  static constexpr std::size_t keys_per_word = 4;

  /// `bytes` of words in all, split among the generations (at least one word each). Throws
  /// `std::bad_alloc` when they cannot be had.
  explicit idempotency_filter(std::size_t bytes);

  /// False when `key` was never added to a generation still live, and the scan is complete.
  bool may_contain(std::string_view key) const noexcept;

  /// Adds `key`, whose record was created at `created_at` (unix seconds).
  void add(std::string_view key, std::int64_t created_at) noexcept;

  /// The start-up scan has added every key the journal held: answers may now be "no".
  void mark_complete() noexcept;
  bool complete() const noexcept { return complete_.load(std::memory_order_acquire); }

  /// Empties every generation but the current one whose keys were all created before `cutoff`:
  /// call it once the journal holds no record created before `cutoff`. Ignored before
  /// `mark_complete`.
  void retire_older_than(std::int64_t cutoff) noexcept;

  /// Lookups answered "no" (a journal read saved) and "maybe", for the metrics.
  std::uint64_t answered_no() const noexcept { return no_.load(std::memory_order_relaxed); }
  std::uint64_t answered_maybe() const noexcept { return maybe_.load(std::memory_order_relaxed); }
  /// Generations emptied so far.
  std::uint64_t retired() const noexcept { return retired_.load(std::memory_order_relaxed); }
  /// Keys added to the generations still live (a key added twice counts twice), against
  /// `capacity()`: past it, "maybe" grows more frequent. For the operator's metrics.
  std::uint64_t keys() const noexcept;
  std::uint64_t capacity() const noexcept { return generations * words_ * keys_per_word; }

private:
  struct generation {
    /// Anonymous pages of their own: zero, and no memory, until a key lands in them; given back
    /// to the system when the generation is retired. Read and written through `std::atomic_ref`.
    std::unique_ptr<std::uint64_t[], filter_words_unmap> words;
    std::atomic<std::uint64_t> keys{0};
    /// The newest `created_at` added; INT64_MIN while empty.
    std::atomic<std::int64_t> newest{INT64_MIN};
    std::atomic<bool> live{false};
  };

  std::size_t words_ = 0; ///< per generation
  std::array<generation, generations> generations_;
  std::atomic<std::size_t> current_{0};
  std::atomic<bool> complete_{false};
  mutable std::atomic<std::uint64_t> no_{0};
  mutable std::atomic<std::uint64_t> maybe_{0};
  std::atomic<std::uint64_t> retired_{0};
};

} // namespace steward::storage
