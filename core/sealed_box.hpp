#pragma once

// The vault's sealing: AES-256-GCM over a credential, bound to its owner (DESIGN 6: "credentials
// are AES-256-GCM sealed in the vault with a key from the operator"; DESIGN 1: secrets never reach
// logs, events or errors).
//
// A sealed blob describes itself, so that it can be opened after the master key has rotated:
//
//     offset  bytes  field
//     0       1      version, 0x01
//     1       8      key id: the first 8 bytes of SHA-256("steward vault key id v1" 0x00 || key)
//     9       12     nonce: 96 random bits, fresh for every seal
//     21      n      ciphertext (as long as the plaintext)
//     21+n    16     GCM tag
//
// The GCM additional data is the 21-byte header followed by the caller's associated data, so the
// version, the key id and the nonce are authenticated too, and a blob opens only for the owner it
// was sealed for. The associated data names the owner (`make_associated_data({user_id,
// resource_id})`): a sealed credential copied into another user's or resource's record fails to
// open there instead of leaking across owners.
//
// Why these choices:
//  - The key id is a hash of the key under a label of its own, so it says which key is needed
//    without revealing anything about the key (it is not the key's prefix, and not a hash that
//    another part of the system also computes). 64 bits are plenty to tell a handful of keys apart;
//    a collision would only make `open` try the wrong key and fail authentication.
//  - Random 96-bit nonces: NIST SP 800-38D 8.3 bounds their use to 2^32 seals under one key. A
//    vault seals once per credential issued or rotated, far below that; rotating the master key
//    (storage/vault_keys.hpp) restarts the count.
//  - A failed authentication does not say whether the blob, the key or the associated data was
//    wrong: GCM cannot tell them apart, and an oracle that could would help an attacker.
//
// Plaintext that this code holds (the opened result, and the copies it makes) is wiped with
// OPENSSL_cleanse when it is released. Keys are wiped when a `vault_key` is destroyed.

#include "core/secret_token.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

inline constexpr std::uint8_t sealed_box_version = 1;
inline constexpr std::size_t vault_key_bytes = 32;
inline constexpr std::size_t vault_key_id_bytes = 8;
inline constexpr std::size_t sealed_nonce_bytes = 12;
inline constexpr std::size_t sealed_tag_bytes = 16;
/// Version, key id and nonce.
inline constexpr std::size_t sealed_header_bytes = 1 + vault_key_id_bytes + sealed_nonce_bytes;
/// Bytes a blob adds to its plaintext.
inline constexpr std::size_t sealed_overhead_bytes = sealed_header_bytes + sealed_tag_bytes;

/// Identifies a key without revealing it; see the file comment.
using vault_key_id = std::array<std::uint8_t, vault_key_id_bytes>;

/// Lowercase hex of a key id (16 characters), for logs and error messages.
std::string to_hex(const vault_key_id& id);

/// An AES-256 key with its id. The bytes are wiped when the object is destroyed; copies are
/// allowed (a key ring holds its own) and each copy is wiped in turn.
class vault_key {
public:
  explicit vault_key(std::span<const std::uint8_t, vault_key_bytes> bytes) noexcept;
  vault_key(const vault_key& other) noexcept = default;
  vault_key& operator=(const vault_key& other) noexcept = default;
  ~vault_key();

  const vault_key_id& id() const noexcept { return id_; }
  std::span<const std::uint8_t, vault_key_bytes> bytes() const noexcept { return bytes_; }

private:
  std::array<std::uint8_t, vault_key_bytes> bytes_;
  vault_key_id id_;
};

/// The id a key is published under in every blob sealed with it.
vault_key_id derive_key_id(std::span<const std::uint8_t, vault_key_bytes> key) noexcept;

/// Bytes that are wiped when released: an opened plaintext. Move-only, so that no copy escapes
/// the wipe unnoticed.
class secret_bytes {
public:
  secret_bytes() = default;
  explicit secret_bytes(std::size_t size) : bytes_(size) {}
  secret_bytes(secret_bytes&& other) noexcept = default;
  secret_bytes& operator=(secret_bytes&& other) noexcept;
  secret_bytes(const secret_bytes&) = delete;
  secret_bytes& operator=(const secret_bytes&) = delete;
  ~secret_bytes();

  std::span<std::uint8_t> bytes() noexcept { return bytes_; }
  std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
  /// The same bytes as text (credentials are usually JSON); valid while this object lives.
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  std::size_t size() const noexcept { return bytes_.size(); }

private:
  std::vector<std::uint8_t> bytes_;
};

/// Why sealing or opening failed. `none` means it worked.
enum class seal_error : std::uint8_t {
  none,
  too_large,       ///< plaintext or associated data over its limit (seal)
  random_failed,   ///< the random source failed; nothing was sealed (seal)
  malformed,       ///< too short, too long, or not a blob at all (open)
  unknown_version, ///< a version this code does not read (open)
  unknown_key,     ///< no key in the ring has the blob's key id (open)
  not_authentic,   ///< tampered blob, wrong key, or wrong associated data (open)
};

/// Short reason, for logs. Carries nothing from the blob or the plaintext.
std::string_view describe(seal_error error) noexcept;

struct sealed_result {
  std::vector<std::uint8_t> blob; ///< empty on error
  seal_error error = seal_error::none;

  explicit operator bool() const noexcept { return error == seal_error::none; }
};

struct opened_result {
  secret_bytes plaintext; ///< empty on error
  seal_error error = seal_error::none;

  explicit operator bool() const noexcept { return error == seal_error::none; }
};

/// Associated data from its parts, each preceded by its length (4 bytes, big-endian), so that
/// (`ab`, `c`) and (`a`, `bc`) bind differently.
std::string make_associated_data(std::initializer_list<std::string_view> parts);

/// Seals `plaintext` under `key` for the owner named by `associated_data`. `random` supplies the
/// nonce (`system_random` in production).
sealed_result seal(std::span<const std::uint8_t> plaintext, const vault_key& key,
                   std::string_view associated_data, const random_fill& random);
sealed_result seal(std::string_view plaintext, const vault_key& key,
                   std::string_view associated_data, const random_fill& random);

/// Opens `blob` with whichever of `keys` has its key id, for the owner named by
/// `associated_data`.
opened_result open(std::span<const std::uint8_t> blob, std::span<const vault_key> keys,
                   std::string_view associated_data);

/// The key id a blob names, if it is long enough to be one of this version's blobs; lets a
/// rotation find the blobs that still need the old key without opening them.
std::optional<vault_key_id> sealed_key_id(std::span<const std::uint8_t> blob) noexcept;

/// Opens `blob` with `keys` and seals the plaintext again under `current` for the same owner
/// (key rotation). The plaintext never leaves this call and is wiped before it returns.
sealed_result reseal(std::span<const std::uint8_t> blob, std::span<const vault_key> keys,
                     const vault_key& current, std::string_view associated_data,
                     const random_fill& random);

/// What may be logged about a blob instead of its content: `[sealed v1 key=<id hex> <n> bytes]`,
/// or `[sealed: malformed, <n> bytes]`. Never any byte of ciphertext, nonce or tag.
std::string redacted(std::span<const std::uint8_t> blob);

namespace detail {

/// Additional data fed to GCM piece by piece: the same as their concatenation.
using aad_pieces = std::initializer_list<std::span<const std::uint8_t>>;

/// Raw AES-256-GCM, 96-bit nonce, 128-bit tag: what `seal` uses, exposed for the known-answer
/// tests. `ciphertext` must be as long as `plaintext`. Cannot fail short of a broken OpenSSL.
void gcm_encrypt(std::span<const std::uint8_t, vault_key_bytes> key,
                 std::span<const std::uint8_t, sealed_nonce_bytes> nonce, aad_pieces aad,
                 std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> ciphertext,
                 std::span<std::uint8_t, sealed_tag_bytes> tag);

/// The inverse; false when the tag does not authenticate, and then `plaintext` is wiped.
bool gcm_decrypt(std::span<const std::uint8_t, vault_key_bytes> key,
                 std::span<const std::uint8_t, sealed_nonce_bytes> nonce, aad_pieces aad,
                 std::span<const std::uint8_t> ciphertext,
                 std::span<const std::uint8_t, sealed_tag_bytes> tag,
                 std::span<std::uint8_t> plaintext);

} // namespace detail

} // namespace steward::core
