#include "actors/alias_index.hpp"

#include "core/limits.hpp"

#include <mutex>

namespace steward::actors {

std::string make_alias_key(std::string_view prefix, std::string_view name) {
  std::string key;
  key.reserve(prefix.size() + name.size());
  key.append(prefix).append(name);
  return key;
}

alias_index::shard& alias_index::shard_of(std::string_view key) const noexcept {
  return shards_[text_hash{}(key) % shard_count];
}

std::optional<std::string> alias_index::find(std::string_view key) const {
  auto& part = shard_of(key);
  std::shared_lock lock(part.mutex);
  if (auto found = part.map.find(key); found != part.map.end())
    return found->second;
  return std::nullopt;
}

std::string alias_index::claim(std::string_view key, std::string_view value) {
  auto& part = shard_of(key);
  std::unique_lock lock(part.mutex);
  auto [entry, inserted] = part.map.try_emplace(std::string(key), value);
  return entry->second;
}

void alias_index::insert(std::string_view key, std::string_view value) {
  auto& part = shard_of(key);
  std::unique_lock lock(part.mutex);
  part.map.insert_or_assign(std::string(key), std::string(value));
}

std::size_t alias_index::size() const {
  std::size_t total = 0;
  for (auto& part : shards_) {
    std::shared_lock lock(part.mutex);
    total += part.map.size();
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
