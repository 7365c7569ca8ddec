#pragma once

// The last committed event of recently written streams, for the journal's writer thread
// (docs/journal.md, "The fence without a read").
//
// An append must continue its stream: the event before its first seq must be stored, with the
// batch's `prev_hash` as its hash. The writer used to read that event back for every batch, an
// index lookup and a random page of `events`; under `bench/charges` that read was about a fifth of
// the writer's time. Events are never changed or deleted once committed, so a head this writer
// committed stays true: `known` answers the fence from memory when the batch continues a head
// held here, and the writer reads the journal only when it does not.
//
// Direct-mapped slots (a stream's slot is picked by its hash; a newer stream in the same slot
// replaces the older one), so the memory is fixed. Slots are an anonymous mapping: pages cost
// nothing until a stream lands in them. A stream id longer than `stream_bytes_max` is never held.
// Not thread-safe: the writer's own.

#include "core/hash_chain.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace steward::storage {

/// One stream's head in `stream_heads`; seq 0 marks an empty slot (fresh pages are zero).
struct stream_head_slot {
  /// Bytes of the longest stream id held (user ids are 26); the slot is 88 bytes.
  static constexpr std::size_t stream_bytes_max = 46;
  std::uint64_t seq;
  core::chain_hash hash;
  std::uint8_t length;
  char stream[stream_bytes_max + 1];
};

/// Unmaps the slots of `stream_heads`.
struct stream_head_slots_unmap {
  std::size_t bytes = 0;
  void operator()(stream_head_slot* slots) const noexcept;
};

class stream_heads {
public:
  static constexpr std::size_t stream_bytes_max = stream_head_slot::stream_bytes_max;

  /// `slots` is rounded up to a power of two; 0 holds nothing.
  explicit stream_heads(std::size_t slots);

  /// The hash of `stream`'s event `seq` when that event is the head held for the stream; empty
  /// when it is not (another head, or none held), and the journal must be read instead.
  std::optional<core::chain_hash> known(std::string_view stream, std::uint64_t seq) const noexcept;

  /// Holds `seq` (with `hash`) as `stream`'s head. Only for an event that is committed.
  void remember(std::string_view stream, std::uint64_t seq, const core::chain_hash& hash) noexcept;

  std::size_t slots() const noexcept { return count_; }

private:
  std::size_t index_of(std::string_view stream) const noexcept;

  std::unique_ptr<stream_head_slot[], stream_head_slots_unmap> slots_;
  std::size_t count_ = 0;
  std::size_t mask_ = 0;
};

} // namespace steward::storage
