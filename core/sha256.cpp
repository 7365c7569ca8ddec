#include "core/sha256.hpp"

#include "core/assert.hpp"

#include <openssl/evp.h>

namespace steward::core {

const EVP_MD* sha256_algorithm() noexcept {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  STEWARD_ASSERT(algorithm != nullptr);
  return algorithm;
}

sha256_digest sha256(std::string_view data) noexcept {
  sha256_digest digest{};
  unsigned int size = 0;
  STEWARD_ASSERT(EVP_Digest(data.data(), data.size(), digest.data(), &size, sha256_algorithm(),
                            nullptr) == 1 &&
                 size == digest.size());
  return digest;
}

} // namespace steward::core
