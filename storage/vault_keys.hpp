#pragma once

// The vault's master-key ring (DESIGN 6: credentials are sealed "with a key from the operator
// (file or environment)"; DESIGN 8: `vault.key`). Sealing itself is core/sealed_box.hpp.
//
// Where the keys come from:
//   STEWARD_VAULT_KEY        the current key, as 64 hex digits (either case) or 43 unpadded
//                            base64url characters (32 bytes). When set it takes precedence over
//                            DIR/vault.key; a malformed value is an error, never ignored, and the
//                            error never repeats the value.
//   DIR/vault.key            the current key when the variable is not set: 32 raw bytes, loaded
//                            and checked by storage/data_dir.hpp (`load_secrets`), not here.
//                            When the variable is set and the file holds a different key, the
//                            file's key stays in the ring as a retired key, so that what it sealed
//                            still opens after an operator moves the key into the environment.
//   DIR/vault/retired/*.key  retired keys, 32 raw bytes each, under the same file rules as every
//                            secret (a regular file, mode 0600 or 0400). They only open, never
//                            seal. A missing directory means none; hidden files and other names
//                            are ignored (like temporary files of an interrupted copy); at most
//                            `limits::vault_retired_keys_max` keys.
//
// Rotating: move the old key into DIR/vault/retired/ under any name ending in .key, put the new
// one in place (file or variable) and restart; new blobs are sealed with the new key, old blobs
// still open, and `reseal` moves each old blob to the new key (`needs_reseal` finds them without
// opening them). Once no blob names a retired key's id, delete its file.
//
// Refusing to start without a key outside --demo is stewardd's job: `load_vault_keys` reports
// `missing` with the remedy, and stewardd prints `to_string(error)` and exits.

#include "core/sealed_box.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::storage {

inline constexpr std::string_view vault_key_environment = "STEWARD_VAULT_KEY";
inline constexpr std::string_view vault_retired_dir = "vault/retired";
inline constexpr std::string_view vault_retired_extension = ".key";

enum class vault_key_failure : std::uint8_t {
  missing,               ///< no key in the environment and none from DIR/vault.key
  malformed_environment, ///< STEWARD_VAULT_KEY is set but is not a 32-byte key
  retired_key_invalid,   ///< a retired key file is unreadable, too permissive or not 32 bytes
  too_many_retired_keys, ///< more than limits::vault_retired_keys_max retired keys
};

/// What is wrong, where (`STEWARD_VAULT_KEY` or a path), and what to do. Never key material.
struct vault_key_error {
  vault_key_failure code = vault_key_failure::missing;
  std::string where;
  std::string message;
};

/// `where: message`, the line stewardd prints before exiting.
std::string to_string(const vault_key_error& error);

/// The current key first, then the keys that only open.
class vault_key_ring {
public:
  /// An empty ring; `load_vault_keys` fills it. `current()` on an empty ring is a programmer error.
  vault_key_ring() = default;
  /// A ring from keys already in hand (tests, tools). Duplicates of a key already present are
  /// dropped, so every id appears once.
  vault_key_ring(const core::vault_key& current, std::span<const core::vault_key> retired);

  bool empty() const noexcept { return keys_.empty(); }
  /// The key that seals.
  const core::vault_key& current() const noexcept;
  /// The key with this id, current or retired; null when there is none.
  const core::vault_key* find(const core::vault_key_id& id) const noexcept;
  /// Every key, the current one first.
  std::span<const core::vault_key> keys() const noexcept { return keys_; }

  /// Seals under the current key.
  core::sealed_result seal(std::string_view plaintext, std::string_view associated_data,
                           const core::random_fill& random) const;
  /// Opens with whichever key the blob names.
  core::opened_result open(std::span<const std::uint8_t> blob,
                           std::string_view associated_data) const;
  /// Whether the blob names a key other than the current one (a malformed blob counts too: it
  /// needs attention). Does not open it.
  bool needs_reseal(std::span<const std::uint8_t> blob) const noexcept;
  /// Opens with any key of the ring and seals again under the current one, for the same owner.
  core::sealed_result reseal(std::span<const std::uint8_t> blob, std::string_view associated_data,
                             const core::random_fill& random) const;

private:
  void add(const core::vault_key& key);

  std::vector<core::vault_key> keys_;
};

/// Where `load_vault_keys` looks.
struct vault_key_sources {
  /// The value of STEWARD_VAULT_KEY when it is set (set but empty is malformed, not absent).
  std::optional<std::string_view> environment;
  /// The key `load_secrets` read from DIR/vault.key, when it read one.
  std::optional<std::span<const std::uint8_t, core::vault_key_bytes>> file_key;
  /// The data dir: retired keys are read from DIR/vault/retired/, and `missing` names it.
  std::filesystem::path data_dir;
};

/// The value of STEWARD_VAULT_KEY from the process environment, if set.
std::optional<std::string_view> vault_key_from_environment();

/// Parses a key written as 64 hex digits or 43 unpadded base64url characters (canonical: the
/// unused low bits of the last character are zero). Refuses an all-zero key, a placeholder
/// rather than a key.
std::optional<core::vault_key> parse_vault_key_text(std::string_view text);

/// Builds the ring from the sources described in the file comment, stopping at the first problem.
std::optional<vault_key_error> load_vault_keys(const vault_key_sources& sources,
                                               vault_key_ring& out);

} // namespace steward::storage
