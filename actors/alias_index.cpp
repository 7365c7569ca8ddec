#include "actors/alias_index.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <cstring>
#include <mutex>
#include <new>

namespace steward::actors {

std::string make_alias_key(std::string_view prefix, std::string_view name) {
  std::string key;
  key.reserve(prefix.size() + name.size());
  key.append(prefix).append(name);
  return key;
}

alias_index::~alias_index() {
  for (auto& part : shards_)
    part.entries.for_each([](entry* e) { ::operator delete(e); });
}

const alias_index::entry* alias_index::put(entry_table& entries, std::string_view key, std::string_view value,
                                           std::uint32_t hash, bool replace) {
  STEWARD_ASSERT(key.size() <= UINT16_MAX && value.size() <= UINT16_MAX);
  if (entry* kept = entries.find(key, hash)) {
    if (!replace || kept->value() == value)
      return kept;
    if (kept->value_bytes == value.size()) {
      std::memcpy(kept->text() + kept->key_bytes, value.data(), value.size());
      return kept;
    }
  }
  entries.reserve_one(); // so that `put` cannot throw once the entry is allocated
  auto* fresh = static_cast<entry*>(::operator new(sizeof(entry) + key.size() + value.size()));
  fresh->hash = hash;
  fresh->key_bytes = static_cast<std::uint16_t>(key.size());
  fresh->value_bytes = static_cast<std::uint16_t>(value.size());
  std::memcpy(fresh->text(), key.data(), key.size());
  std::memcpy(fresh->text() + key.size(), value.data(), value.size());
  ::operator delete(entries.put(fresh));
  return fresh;
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
  return std::string(put(part.entries, key, value, hash, false)->value());
}

void alias_index::insert(std::string_view key, std::string_view value) {
  std::uint32_t hash = 0;
  auto& part = shard_of(key, hash);
  std::unique_lock lock(part.mutex);
  put(part.entries, key, value, hash, true);
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
