#pragma once

// The attestation key ring (DESIGN 5 "Keys rotate; old keys stay published until their tokens
// expire"; DESIGN 8 `signing/`). The key files themselves are written and read by
// storage/data_dir.hpp; this file is the policy:
//
//  - Which key signs: the newest file (modification time, then kid), as `load_secrets` orders
//    them. A running stewardd keeps the ring it loaded at start.
//  - Which keys are published: every loaded key, in the JWKS, so that a token signed before a
//    rotation still verifies after it.
//  - Rotation: `rotate_signing_key` writes a new key file that is strictly the newest, so the next
//    start signs with it while the old ones stay published. It never touches an existing file.
//  - Retirement: a key may be deleted once no unexpired token signed by it can exist. Only the
//    process that holds the data dir lock signs (storage/data_dir.hpp, `lock_data_dir`), and it
//    signs with its ring's newest key from the moment it loaded the ring; every other key of its
//    ring stopped signing when the previous holder of the lock stopped, before that moment. So once
//    the ring has been signing for longer than an attestation lives (plus the clock leeway, as a
//    margin), its other keys are retirable. Keys added after the ring was loaded are not in it and
//    are never touched.

#include "core/jws.hpp"
#include "storage/data_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace steward::storage {

/// The keys a running stewardd signs with and publishes. Immutable; safe to share between threads.
class signing_key_ring {
public:
  /// Builds the ring from `keys` in `secrets::signing_keys` order (newest first), signing from
  /// `signing_since` (Unix seconds: when this process loaded them). Fails on an empty list, more
  /// than `limits::jwks_keys_max` keys, or a key OpenSSL refuses.
  static std::optional<data_dir_error> make(std::span<const signing_key> keys,
                                            std::int64_t signing_since,
                                            std::optional<signing_key_ring>& out);

  /// The key that signs new attestations: the newest.
  const core::jws_signing_key& signer() const noexcept { return signer_; }
  /// Every key of the ring, the signer first.
  const core::jwk_set& published() const noexcept { return published_; }
  /// `{"keys":[...]}` for `/.well-known/jwks.json`, built once.
  const std::string& jwks_document() const noexcept { return jwks_document_; }
  std::int64_t signing_since() const noexcept { return signing_since_; }

  /// The kids that may be deleted at `now` (see the file comment): every key but the signer once
  /// `now - signing_since()` exceeds the attestation lifetime and leeway, none before.
  std::vector<std::string> retirable(std::int64_t now) const;

private:
  signing_key_ring(core::jws_signing_key signer, core::jwk_set published, std::string document,
                   std::int64_t signing_since)
    : signer_(std::move(signer)), published_(std::move(published)),
      jwks_document_(std::move(document)), signing_since_(signing_since) {}

  core::jws_signing_key signer_;
  core::jwk_set published_;
  std::string jwks_document_;
  std::int64_t signing_since_;
};

/// Adds a new signing key to data dir `dir` (DIR/signing/KID.pem, mode 0600, temporary file, fsync,
/// rename) that the next start signs with; `kid` is its id. Its modification time is set after the
/// newest existing key's if the clock says otherwise. Refused when the existing keys do not load
/// (fix them first; a data dir without keys gets its first from `--demo`) or already number
/// `signing_keys_max` (retire old ones first): either way the next start would fail.
std::optional<data_dir_error> rotate_signing_key(const std::filesystem::path& dir,
                                                 std::string& kid);

/// Deletes the key files of `ring.retirable(now)` from data dir `dir` and syncs the directory;
/// `removed` lists the kids whose file was deleted (a file already gone is not an error). Only the
/// process that holds the data dir's lock and loaded `ring` may call it. Published JWKS documents
/// of the running process are not changed: they shrink at the next start.
std::optional<data_dir_error> retire_signing_keys(const std::filesystem::path& dir,
                                                  const signing_key_ring& ring, std::int64_t now,
                                                  std::vector<std::string>& removed);

} // namespace steward::storage
