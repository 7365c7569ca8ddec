#pragma once

// An open-addressing hash table of pointers to entries that its owner allocates and frees: linear
// probing, never more than three quarters full, deletion by shifting back (no tombstones). It is
// for maps of many small records that live long, where a node container's per-entry overhead
// would be most of the memory: the alias index (docs/journal.md, "Alias index") and the shards'
// hibernated images (docs/spend-core.md, "Hibernation"). A slot is one pointer; the entry is
// whatever single allocation its owner made.
//
// `Entry` has a `std::uint32_t hash` member (the key's hash, or half of it) and a `key()` that
// returns a `std::string_view`. The table reads them, and never allocates, frees or changes an
// entry. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace steward::core {

template <typename Entry>
class probe_table {
public:
  probe_table() = default;
  probe_table(const probe_table&) = delete;
  probe_table& operator=(const probe_table&) = delete;

  /// The entry whose key is `key`, or null.
  Entry* find(std::string_view key, std::uint32_t hash) const noexcept {
    return slots_.empty() ? nullptr : slots_[slot_of(key, hash)];
  }

  /// Makes room for one more entry, so that the next `put` does not allocate. May throw
  /// `std::bad_alloc`, leaving the table unchanged: call it before allocating the entry.
  void reserve_one() {
    if ((size_ + 1) * load_denominator > slots_.size() * load_numerator)
      grow();
  }

  /// Stores `fresh` under its key, and returns the entry it replaced (for the caller to free), or
  /// null. Grows the table when `reserve_one` was not called first, which may throw.
  Entry* put(Entry* fresh) {
    reserve_one();
    Entry*& slot = slots_[slot_of(fresh->key(), fresh->hash)];
    Entry* old = slot;
    slot = fresh;
    if (old == nullptr)
      ++size_;
    return old;
  }

  /// Takes the entry whose key is `key` out of the table and returns it (for the caller to free),
  /// or null.
  Entry* remove(std::string_view key, std::uint32_t hash) noexcept {
    if (slots_.empty())
      return nullptr;
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = slot_of(key, hash);
    Entry* out = slots_[hole];
    if (out == nullptr)
      return nullptr;
    // Every entry after the hole, up to the next empty slot, was placed by a probe that may have
    // passed the hole: one whose home slot does not lie after the hole moves into it.
    for (std::size_t next = (hole + 1) & mask; slots_[next] != nullptr; next = (next + 1) & mask) {
      const std::size_t home = slots_[next]->hash & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        slots_[hole] = slots_[next];
        hole = next;
      }
    }
    slots_[hole] = nullptr;
    --size_;
    return out;
  }

  /// Calls `visit(Entry*)` for every entry, in no particular order. `visit` must not change the
  /// table.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (Entry* e : slots_)
      if (e != nullptr)
        visit(e);
  }

  /// Forgets every entry (free them first: `for_each`) and gives the slots back.
  void clear() noexcept {
    std::vector<Entry*>().swap(slots_);
    size_ = 0;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Slots, for the memory accounting: a power of two, or 0 before the first `put`.
  std::size_t capacity() const noexcept { return slots_.size(); }

private:
  /// At most this full (numerator / denominator), so that a probe stays short and always ends
  /// at an empty slot.
  static constexpr std::size_t load_numerator = 3;
  static constexpr std::size_t load_denominator = 4;
  /// Slots of the first table; each growth doubles them.
  static constexpr std::size_t first_slots = 16;

  /// The slot holding `key`'s entry, or the empty slot that ends its probe. The table has one.
  std::size_t slot_of(std::string_view key, std::uint32_t hash) const noexcept {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Entry* e = slots_[i];
      if (e == nullptr || (e->hash == hash && e->key() == key))
        return i;
    }
  }

  void grow() {
    std::vector<Entry*> old(slots_.empty() ? first_slots : slots_.size() * 2, nullptr);
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (Entry* e : old) {
      if (e == nullptr)
        continue;
      std::size_t i = e->hash & mask;
      while (slots_[i] != nullptr)
        i = (i + 1) & mask;
      slots_[i] = e;
    }
  }

  std::vector<Entry*> slots_; ///< a power of two long, or empty
  std::size_t size_ = 0;
};

} // namespace steward::core
