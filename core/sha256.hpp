#pragma once

// SHA-256 of a byte string, through OpenSSL, in one place: idempotency fingerprints, token hashes
// and the journal's hash chain all use it.

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace steward::core {

using sha256_digest = std::array<std::uint8_t, 32>;

/// The SHA-256 algorithm, fetched from OpenSSL's provider once per process: the implicit fetch of
/// `EVP_sha256()` costs a property lookup under a lock on every use in OpenSSL 3.
const EVP_MD* sha256_algorithm() noexcept;

/// SHA-256 of `data`. Cannot fail short of a broken OpenSSL, which is not survivable: a wrong
/// digest would silently merge or split idempotent requests, or accept a wrong token.
sha256_digest sha256(std::string_view data) noexcept;

} // namespace steward::core
