#include "actors/alias_index.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <cstring>
#include <functional>
#include <mutex>
#include <new>

namespace steward::actors {

std::string make_alias_key(std::string_view prefix, std::string_view name) {
  std::string key;
  key.reserve(prefix.size() + name.size());
  key.append(prefix).append(name);
  return key;
}

alias_index::entry_table::~entry_table() {
  for (entry* e : slots_)
    if (e != nullptr)
      ::operator delete(e);
}

std::size_t alias_index::entry_table::slot_of(std::string_view key, std::uint32_t hash) const noexcept {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const entry* e = slots_[i];
    if (e == nullptr || (e->hash == hash && e->key() == key))
      return i;
  }
}

const alias_index::entry* alias_index::entry_table::find(std::string_view key,
                                                          std::uint32_t hash) const noexcept {
  if (slots_.empty())
    return nullptr;
  return slots_[slot_of(key, hash)];
}

void alias_index::entry_table::grow() {
  std::vector<entry*> old(slots_.empty() ? 16 : slots_.size() * 2, nullptr);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (entry* e : old) {
    if (e == nullptr)
      continue;
    std::size_t i = e->hash & mask;
    while (slots_[i] != nullptr)
      i = (i + 1) & mask;
    slots_[i] = e;
  }
}

const alias_index::entry* alias_index::entry_table::put(std::string_view key, std::string_view value,
                                                         std::uint32_t hash, bool replace) {
  STEWARD_ASSERT(key.size() <= UINT16_MAX && value.size() <= UINT16_MAX);
  // At most three quarters full, so that a probe stays short.
  if ((size_ + 1) * 4 > slots_.size() * 3)
    grow();
  entry*& slot = slots_[slot_of(key, hash)];
  if (slot != nullptr) {
    if (!replace || slot->value() == value)
      return slot;
    if (slot->value_bytes == value.size()) {
      std::memcpy(slot->text() + slot->key_bytes, value.data(), value.size());
      return slot;
    }
  }
  auto* fresh = static_cast<entry*>(::operator new(sizeof(entry) + key.size() + value.size()));
  fresh->hash = hash;
  fresh->key_bytes = static_cast<std::uint16_t>(key.size());
  fresh->value_bytes = static_cast<std::uint16_t>(value.size());
  std::memcpy(fresh->text(), key.data(), key.size());
  std::memcpy(fresh->text() + key.size(), value.data(), value.size());
  if (slot != nullptr)
    ::operator delete(slot);
  else
    ++size_;
  slot = fresh;
  return slot;
}

alias_index::shard& alias_index::shard_of(std::string_view key, std::uint32_t& hash) const noexcept {
  const std::uint64_t full = std::hash<std::string_view>{}(key);
  // The low bits pick the shard, the high half the slot within it.
  hash = static_cast<std::uint32_t>(full >> 32);
  return shards_[full % shard_count];
}

std::optional<std::string> alias_index::find(std::string_view key) const {
  std::uint32_t hash = 0;
  auto& part = shard_of(key, hash);
  std::shared_lock lock(part.mutex);
  if (const entry* found = part.entries.find(key, hash))
    return std::string(found->value());
  return std::nullopt;
}

std::string alias_index::claim(std::string_view key, std::string_view value) {
  std::uint32_t hash = 0;
  auto& part = shard_of(key, hash);
  std::unique_lock lock(part.mutex);
  return std::string(part.entries.put(key, value, hash, false)->value());
}

void alias_index::insert(std::string_view key, std::string_view value) {
  std::uint32_t hash = 0;
  auto& part = shard_of(key, hash);
  std::unique_lock lock(part.mutex);
  part.entries.put(key, value, hash, true);
}

std::size_t alias_index::size() const {
  std::size_t total = 0;
  for (auto& part : shards_) {
    std::shared_lock lock(part.mutex);
    total += part.entries.size();
  }
  return total;
}

std::optional<storage::journal_failure> alias_index::load(storage::journal& journal) {
  std::string after;
  for (;;) {
    auto page = journal.read_aliases(after, core::limits::journal_read_aliases_max);
    if (!page)
      return page.failure();
    for (const auto& alias : page.value())
      if (!alias.key.starts_with(alias_key::charge))
        insert(alias.key, alias.stream);
    if (page.value().size() < core::limits::journal_read_aliases_max)
      return std::nullopt;
    after = page.value().back().key;
  }
}

} // namespace steward::actors
