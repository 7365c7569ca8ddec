#include "core/sealed_box.hpp"

#include "core/hex.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"
#include "core/sha256.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <memory>

namespace steward::core {

namespace {

// The label that separates key ids from every other SHA-256 over the key; the trailing NUL ends it
// unambiguously before the key bytes.
constexpr std::string_view key_id_label{"steward vault key id v1\0", 24};

constexpr std::size_t version_offset = 0;
constexpr std::size_t key_id_offset = 1;
constexpr std::size_t nonce_offset = key_id_offset + vault_key_id_bytes;
static_assert(nonce_offset + sealed_nonce_bytes == sealed_header_bytes);

struct cipher_ctx_deleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

struct cipher_deleter {
  void operator()(EVP_CIPHER* cipher) const noexcept { EVP_CIPHER_free(cipher); }
};

// Fetched once (an implicit fetch costs a locked provider lookup per use in OpenSSL 3); an
// EVP_CIPHER is immutable and may be shared between threads.
const EVP_CIPHER* aes_256_gcm() {
  static const std::unique_ptr<EVP_CIPHER, cipher_deleter> cipher(
    EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  STEWARD_ASSERT(cipher != nullptr && "OpenSSL has no AES-256-GCM implementation");
  return cipher.get();
}

// OpenSSL takes int lengths; every length here is bounded far below INT_MAX by the limits.
int int_size(std::size_t size) {
  STEWARD_ASSERT(size <= static_cast<std::size_t>(INT_MAX));
  return static_cast<int>(size);
}

bool feed_aad(EVP_CIPHER_CTX* ctx, std::span<const std::uint8_t> data) {
  int ignored = 0;
  return data.empty() ||
         EVP_CipherUpdate(ctx, nullptr, &ignored, data.data(), int_size(data.size())) == 1;
}

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

} // namespace

// --- Keys ----------------------------------------------------------------------------------------

std::string to_hex(const vault_key_id& id) {
  return core::to_hex(std::span<const std::uint8_t>(id.data(), id.size()));
}

vault_key_id derive_key_id(std::span<const std::uint8_t, vault_key_bytes> key) noexcept {
  // Hashed in one buffer so that no streaming context holds key material afterwards.
  std::array<char, key_id_label.size() + vault_key_bytes> input{};
  std::copy(key_id_label.begin(), key_id_label.end(), input.begin());
  std::copy(key.begin(), key.end(), input.begin() + key_id_label.size());
  const sha256_digest digest = sha256({input.data(), input.size()});
  OPENSSL_cleanse(input.data(), input.size());
  vault_key_id id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return id;
}

vault_key::vault_key(std::span<const std::uint8_t, vault_key_bytes> bytes) noexcept
    : id_(derive_key_id(bytes)) {
  std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}

vault_key::~vault_key() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

// --- Wiped buffers -------------------------------------------------------------------------------

secret_bytes& secret_bytes::operator=(secret_bytes&& other) noexcept {
  if (this != &other) {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

secret_bytes::~secret_bytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

// --- Sealing -------------------------------------------------------------------------------------

std::string_view describe(seal_error error) noexcept {
  switch (error) {
  case seal_error::none: return "sealed box ok";
  case seal_error::too_large: return "plaintext too large to seal";
  case seal_error::random_failed: return "random source failed";
  case seal_error::malformed: return "sealed box malformed";
  case seal_error::unknown_version: return "sealed box version unknown";
  case seal_error::unknown_key: return "sealed box key id not in the key ring";
  case seal_error::not_authentic: return "sealed box failed authentication";
  }
  return "sealed box error";
}

std::string make_associated_data(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) {
    // Owner ids are short; a part of 4 GiB is a programmer error, not input.
    STEWARD_ASSERT(part.size() <= 0xFFFF'FFFFu);
    const auto size = static_cast<std::uint32_t>(part.size());
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xFF);
    out += part;
  }
  return out;
}

namespace detail {

void gcm_encrypt(std::span<const std::uint8_t, vault_key_bytes> key,
                 std::span<const std::uint8_t, sealed_nonce_bytes> nonce, aad_pieces aad,
                 std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> ciphertext,
                 std::span<std::uint8_t, sealed_tag_bytes> tag) {
  STEWARD_ASSERT(ciphertext.size() == plaintext.size());
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  bool ok = ctx != nullptr && EVP_EncryptInit_ex2(ctx.get(), aes_256_gcm(), key.data(),
                                                  nonce.data(), nullptr) == 1;
  for (auto piece : aad) ok = ok && feed_aad(ctx.get(), piece);
  int written = 0;
  int final_written = 0;
  std::array<std::uint8_t, 16> no_output{}; // GCM's final step writes nothing
  // Failure here is memory exhaustion or a broken OpenSSL; a blob that is not what it claims to be
  // must never be stored, so it is not survivable.
  ok = ok &&
       (plaintext.empty() ||
        EVP_EncryptUpdate(ctx.get(), ciphertext.data(), &written, plaintext.data(),
                          int_size(plaintext.size())) == 1) &&
       static_cast<std::size_t>(written) == plaintext.size() &&
       EVP_EncryptFinal_ex(ctx.get(), no_output.data(), &final_written) == 1 &&
       final_written == 0 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int_size(tag.size()), tag.data()) == 1;
  STEWARD_ASSERT(ok && "AES-256-GCM encryption failed");
}

bool gcm_decrypt(std::span<const std::uint8_t, vault_key_bytes> key,
                 std::span<const std::uint8_t, sealed_nonce_bytes> nonce, aad_pieces aad,
                 std::span<const std::uint8_t> ciphertext,
                 std::span<const std::uint8_t, sealed_tag_bytes> tag,
                 std::span<std::uint8_t> plaintext) {
  STEWARD_ASSERT(ciphertext.size() == plaintext.size());
  // GCM_SET_TAG takes a non-const pointer; the tag is copied, never written through.
  std::array<std::uint8_t, sealed_tag_bytes> expected_tag{};
  std::copy(tag.begin(), tag.end(), expected_tag.begin());
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  bool ok = ctx != nullptr && EVP_DecryptInit_ex2(ctx.get(), aes_256_gcm(), key.data(),
                                                  nonce.data(), nullptr) == 1;
  for (auto piece : aad) ok = ok && feed_aad(ctx.get(), piece);
  int written = 0;
  ok = ok &&
       (ciphertext.empty() ||
        EVP_DecryptUpdate(ctx.get(), plaintext.data(), &written, ciphertext.data(),
                          int_size(ciphertext.size())) == 1) &&
       static_cast<std::size_t>(written) == ciphertext.size() &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int_size(expected_tag.size()),
                           expected_tag.data()) == 1;
  STEWARD_ASSERT(ok && "AES-256-GCM decryption could not run");
  // Only the tag check can fail on input. Decrypted bytes that do not authenticate are wiped at
  // once: nobody may act on them.
  int final_written = 0;
  std::array<std::uint8_t, 16> no_output{};
  if (EVP_DecryptFinal_ex(ctx.get(), no_output.data(), &final_written) != 1 ||
      final_written != 0) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return false;
  }
  return true;
}

} // namespace detail

sealed_result seal(std::span<const std::uint8_t> plaintext, const vault_key& key,
                   std::string_view associated_data, const random_fill& random) {
  sealed_result result;
  if (plaintext.size() > limits::sealed_plaintext_bytes_max ||
      associated_data.size() > limits::sealed_associated_data_bytes_max) {
    result.error = seal_error::too_large;
    return result;
  }
  std::vector<std::uint8_t> blob(sealed_overhead_bytes + plaintext.size());
  blob[version_offset] = sealed_box_version;
  std::copy(key.id().begin(), key.id().end(), blob.begin() + key_id_offset);
  const std::span<std::uint8_t, sealed_nonce_bytes> nonce(blob.data() + nonce_offset,
                                                          sealed_nonce_bytes);
  if (!random || !random(nonce)) {
    result.error = seal_error::random_failed;
    return result;
  }
  const std::span<std::uint8_t> body(blob.data() + sealed_header_bytes, plaintext.size());
  const std::span<std::uint8_t, sealed_tag_bytes> tag(blob.data() + sealed_header_bytes +
                                                        plaintext.size(),
                                                      sealed_tag_bytes);
  detail::gcm_encrypt(key.bytes(), nonce,
                      {std::span<const std::uint8_t>(blob.data(), sealed_header_bytes),
                       as_bytes(associated_data)},
                      plaintext, body, tag);
  result.blob = std::move(blob);
  return result;
}

sealed_result seal(std::string_view plaintext, const vault_key& key,
                   std::string_view associated_data, const random_fill& random) {
  return seal(as_bytes(plaintext), key, associated_data, random);
}

std::optional<vault_key_id> sealed_key_id(std::span<const std::uint8_t> blob) noexcept {
  if (blob.size() < sealed_overhead_bytes || blob[version_offset] != sealed_box_version)
    return std::nullopt;
  vault_key_id id{};
  std::copy_n(blob.begin() + key_id_offset, id.size(), id.begin());
  return id;
}

opened_result open(std::span<const std::uint8_t> blob, std::span<const vault_key> keys,
                   std::string_view associated_data) {
  opened_result result;
  if (blob.empty() || blob.size() > limits::sealed_plaintext_bytes_max + sealed_overhead_bytes) {
    result.error = seal_error::malformed;
    return result;
  }
  // The version is checked before the length, so a future format with another layout is reported
  // as what it is rather than as garbage.
  if (blob[version_offset] != sealed_box_version) {
    result.error = seal_error::unknown_version;
    return result;
  }
  const std::optional<vault_key_id> id = sealed_key_id(blob);
  if (!id) {
    result.error = seal_error::malformed;
    return result;
  }
  const auto key = std::find_if(keys.begin(), keys.end(),
                                [&](const vault_key& candidate) { return candidate.id() == *id; });
  if (key == keys.end()) {
    result.error = seal_error::unknown_key;
    return result;
  }
  if (associated_data.size() > limits::sealed_associated_data_bytes_max) {
    result.error = seal_error::not_authentic; // could not have been sealed with it
    return result;
  }

  const std::size_t size = blob.size() - sealed_overhead_bytes;
  secret_bytes plaintext(size);
  const bool authentic = detail::gcm_decrypt(
    key->bytes(), blob.subspan(nonce_offset).first<sealed_nonce_bytes>(),
    {blob.first(sealed_header_bytes), as_bytes(associated_data)},
    blob.subspan(sealed_header_bytes, size),
    blob.subspan(sealed_header_bytes + size).first<sealed_tag_bytes>(), plaintext.bytes());
  if (!authentic) {
    result.error = seal_error::not_authentic;
    return result;
  }
  result.plaintext = std::move(plaintext);
  return result;
}

sealed_result reseal(std::span<const std::uint8_t> blob, std::span<const vault_key> keys,
                     const vault_key& current, std::string_view associated_data,
                     const random_fill& random) {
  opened_result opened = open(blob, keys, associated_data);
  if (!opened) return {{}, opened.error};
  return seal(opened.plaintext.bytes(), current, associated_data, random);
}

std::string redacted(std::span<const std::uint8_t> blob) {
  const std::optional<vault_key_id> id = sealed_key_id(blob);
  if (!id) return "[sealed: malformed, " + std::to_string(blob.size()) + " bytes]";
  return "[sealed v" + std::to_string(sealed_box_version) + " key=" + to_hex(*id) + " " +
         std::to_string(blob.size()) + " bytes]";
}

} // namespace steward::core
