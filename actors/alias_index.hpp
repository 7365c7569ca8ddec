#pragma once

// The in-memory copy of the journal's alias table (docs/journal.md, "Aliases"): the map that lets
// an io thread find which user a payment token, a session token or a platform ref belongs to
// without an actor hop and without a blocking read. The journal is the truth: every alias is
// journaled in the batch that mints it, copied here only once that batch is durable, and the
// whole table is read back at start.
//
// Keys, by kind (decided here; the value is a user id unless said otherwise):
//   ref:<platform ref>   the user created for that platform ref
//   usr:<user id>        the user exists (its value is the id again)
//   ptk:<token id>       the payment token's user
//   ses:<session id>     the session's user
//   sst:<token hash>     `<user id> <session id>` of the session whose bearer token hashes so
//   chg:<charge id>      the charge's user; journaled only, never held here (one per charge
//                        would grow without bound): a refund reads it from the journal
//   apr:<approval id>    the approval's user (the platform's approve/deny and an agent's
//                        long-poll name only the approval)
//
// `claim` is the one operation that writes before the journal: a platform ref's id is reserved
// here first, so that concurrent first PUTs of one ref agree on a single user id. A reservation
// whose creation never becomes durable is harmless: a retry creates the same id, and a restart
// forgets it.

#include "core/probe_table.hpp"
#include "storage/journal.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace steward::actors {

/// Key prefixes of the alias kinds above.
namespace alias_key {
inline constexpr std::string_view platform_ref = "ref:";
inline constexpr std::string_view user = "usr:";
inline constexpr std::string_view payment_token = "ptk:";
inline constexpr std::string_view session = "ses:";
inline constexpr std::string_view session_token = "sst:";
inline constexpr std::string_view charge = "chg:";
inline constexpr std::string_view approval = "apr:";
} // namespace alias_key

/// `prefix` followed by `name`.
std::string make_alias_key(std::string_view prefix, std::string_view name);

class alias_index {
public:
  alias_index() = default;
  alias_index(const alias_index&) = delete;
  alias_index& operator=(const alias_index&) = delete;
  ~alias_index();

  /// The value of `key`, if known.
  std::optional<std::string> find(std::string_view key) const;

  /// Stores `key -> value` unless `key` is known; returns the value stored afterwards.
  std::string claim(std::string_view key, std::string_view value);

  /// Stores `key -> value`, replacing a reservation.
  void insert(std::string_view key, std::string_view value);

  std::size_t size() const;

  /// Reads every alias of `journal` into this index; the failure of the first read that failed.
  std::optional<storage::journal_failure> load(storage::journal& journal);

private:
  /// One alias in one allocation: its header, then the key's bytes, then the value's.
  struct entry {
    std::uint32_t hash; ///< the high half of the key's hash: its slot, without reading the key
    std::uint16_t key_bytes;
    std::uint16_t value_bytes;

    const char* text() const noexcept { return reinterpret_cast<const char*>(this + 1); }
    char* text() noexcept { return reinterpret_cast<char*>(this + 1); }
    std::string_view key() const noexcept { return {text(), key_bytes}; }
    std::string_view value() const noexcept { return {text() + key_bytes, value_bytes}; }
  };

  /// A shard's aliases: an open-addressing table of pointers to entries. About 80 bytes an
  /// alias, where an unordered_map of two strings took about 155 (docs/benchmarks.md, "Memory
  /// and restart"); the index holds a few aliases per user.
  using entry_table = core::probe_table<entry>;

  struct shard {
    mutable std::shared_mutex mutex;
    entry_table entries;
  };

  /// Stores `key -> value` in `entries`; an entry already there keeps its value unless `replace`.
  /// Returns the entry that holds `key` afterwards.
  static const entry* put(entry_table& entries, std::string_view key, std::string_view value, std::uint32_t hash,
                          bool replace);

  static constexpr std::size_t shard_count = 64;

  /// The shard of `key`, and in `hash` what its table uses.
  shard& shard_of(std::string_view key, std::uint32_t& hash) const noexcept;

  mutable std::array<shard, shard_count> shards_;
};

} // namespace steward::actors
