#pragma once

// The secrets under stewardd's data directory (DESIGN 8):
//
//   DIR/platform.key            platform bearer key, text: `spk_` + at least 32 token characters
//   DIR/admin.token             admin bearer token, text: `sat_` + at least 32 token characters
//   DIR/vault.key               exactly 32 raw bytes: the AES-256-GCM key of the vault
//   DIR/signing/KID.pem         Ed25519 private keys (PKCS#8 PEM) that sign attestations
//   DIR/providers/SLUG.secret   HMAC secret shared with each configured provider, text
//
// `--demo` creates whichever is missing; otherwise the operator provides them. A text secret is
// the file's content without one trailing newline; its characters are those of an RFC 6750
// bearer token (A-Z a-z 0-9 - . _ ~ + / =), so that it can travel in a header unchanged.
//
// Every secret file must be a regular file that group and others can neither read nor write
// (mode 0600 or 0400): a secret that other local users could read is refused, not warned about,
// the way ssh refuses such a private key, because a warning scrolls by while the key leaks.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace steward::storage {

inline constexpr std::string_view platform_key_file = "platform.key";
inline constexpr std::string_view admin_token_file = "admin.token";
inline constexpr std::string_view vault_key_file = "vault.key";
inline constexpr std::string_view signing_dir = "signing";
inline constexpr std::string_view providers_dir = "providers";

inline constexpr std::string_view platform_key_prefix = "spk_";
inline constexpr std::string_view admin_token_prefix = "sat_";
inline constexpr std::string_view provider_secret_prefix = "whsec_";

inline constexpr std::size_t vault_key_bytes = 32;
/// Random bytes behind each generated text secret (base64url-encoded after its prefix).
inline constexpr std::size_t generated_secret_bytes = 32;
/// An operator-provided text secret needs at least this many characters after its prefix, so that
/// a placeholder like `spk_test` cannot guard a production API.
inline constexpr std::size_t text_secret_chars_min = 32;
/// Largest secret file read; a bigger one is not a secret this code wrote or expects.
inline constexpr std::size_t secret_file_bytes_max = 16384;
/// Signing keys loaded at most; rotation needs two or three, more means a forgotten clean-up.
inline constexpr std::size_t signing_keys_max = 16;

/// A data-dir problem: the file or directory at fault, and what is wrong with it and what to do.
struct data_dir_error {
  std::string path;
  std::string message;
};

/// `path: message`, the line stewardd prints before exiting.
std::string to_string(const data_dir_error& error);

/// What `ensure_demo_secrets` created: the path of every new secret file, in creation order.
struct demo_result {
  std::vector<std::string> created;
};

/// An Ed25519 key pair as raw RFC 8032 bytes, with the key id it is published under.
struct signing_key {
  /// base64url (unpadded) of the first 8 bytes of SHA-256 of `public_key`: 11 characters.
  std::string kid;
  std::array<std::uint8_t, 32> private_key{};
  std::array<std::uint8_t, 32> public_key{};
};

struct provider_secret {
  std::string slug;
  std::string secret;
};

/// Every secret stewardd needs to serve, as loaded from the data dir.
struct secrets {
  std::string platform_key;
  std::string admin_token;
  std::array<std::uint8_t, vault_key_bytes> vault_key{};
  /// DIR/vault.key was there and `vault_key` holds it (see `vault_key_file_rule`).
  bool vault_key_loaded = false;
  /// Newest file first (by modification time, then kid): the first signs new attestations, all are
  /// published in the JWKS so that tokens signed before a rotation still verify.
  std::vector<signing_key> signing_keys;
  /// In the order of the slugs given to `load_secrets`.
  std::vector<provider_secret> provider_secrets;
};

/// Creates `dir` (and missing parents) with mode 0700, then every missing secret: files 0600,
/// directories 0700, each written to a temporary file, fsynced and moved into place without ever
/// replacing an existing file. A secret that exists is left alone, even if it is invalid
/// (`load_secrets` says what is wrong with it). Slugs must match [a-z0-9][a-z0-9-]{0,31}.
std::optional<data_dir_error> ensure_demo_secrets(const std::filesystem::path& dir,
                                                  std::span<const std::string> provider_slugs,
                                                  demo_result& out);

/// Whether `load_secrets` needs DIR/vault.key: the vault's key may come from the environment
/// instead (storage/vault_keys.hpp), and then the file is optional, though checked when present.
enum class vault_key_file_rule : std::uint8_t { required, optional };

/// Loads and checks every secret, stopping at the first problem: a missing, unreadable, too
/// permissive, wrongly sized or malformed file is named in the error, with the remedy.
std::optional<data_dir_error> load_secrets(const std::filesystem::path& dir,
                                           std::span<const std::string> provider_slugs,
                                           secrets& out,
                                           vault_key_file_rule vault = vault_key_file_rule::required);

/// The file whose lock marks a data dir as in use.
inline constexpr std::string_view lock_file = "stewardd.lock";

/// An exclusive lock on a data dir, held for the life of this object (and of the process: the
/// kernel drops it when the process dies, even by SIGKILL).
class data_dir_lock {
public:
  data_dir_lock() = default;
  explicit data_dir_lock(int fd) noexcept : fd_(fd) {}
  data_dir_lock(data_dir_lock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  data_dir_lock& operator=(data_dir_lock&& other) noexcept;
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;
  ~data_dir_lock();

private:
  int fd_ = -1;
};

/// Takes the data dir's lock (`flock` on DIR/stewardd.lock, created 0600 when missing). Two
/// stewardd processes on one data dir would each think they own every user's stream and could
/// approve the same money twice; the second one is refused here, with an error that says so.
std::optional<data_dir_error> lock_data_dir(const std::filesystem::path& dir, data_dir_lock& out);

/// Generates a new Ed25519 key and writes it as DIR/signing/KID.pem (creating DIR/signing 0700 if
/// needed) the way `ensure_demo_secrets` writes a secret: mode 0600, temporary file, fsync, moved
/// into place without replacing anything. Existing keys are left alone; `kid` is the new key's id.
/// The key-ring policy (which key signs, rotation limits) is in storage/signing_keys.hpp.
std::optional<data_dir_error> add_signing_key(const std::filesystem::path& dir, std::string& kid);

/// Loads only the signing keys of data dir `dir`, with the checks and the order of
/// `secrets::signing_keys` (newest first).
std::optional<data_dir_error> load_signing_keys(const std::filesystem::path& dir,
                                                std::vector<signing_key>& out);

/// The key id of an Ed25519 public key, as used in file names and in the JWKS `kid`.
std::string signing_key_id(std::span<const std::uint8_t, 32> public_key);

} // namespace steward::storage
