#include "core/sealed_box.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace steward::core {
namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(value(hex[i]) * 16 + value(hex[i + 1])));
  return out;
}

std::string hex_of(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0F];
  }
  return out;
}

std::array<std::uint8_t, vault_key_bytes> key_bytes(std::uint8_t first) {
  std::array<std::uint8_t, vault_key_bytes> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
  return bytes;
}

/// A deterministic "random" source: 1, 2, 3, ... then the next call continues the count.
random_fill counting_random() {
  auto next = std::make_shared<std::uint8_t>(1);
  return [next](std::span<std::uint8_t> out) {
    for (auto& byte : out) byte = (*next)++;
    return true;
  };
}

const std::string owner = make_associated_data({"usr_1", "res_2"});
constexpr std::string_view credential = R"({"api_key":"sk_live_123"})";

// --- Known answers -------------------------------------------------------------------------------

// GCM specification (McGrew and Viega; NIST's GCM test vectors), test cases 13, 14 and 16:
// AES-256, 96-bit IV, 128-bit tag.
struct gcm_vector {
  std::string_view key, iv, plaintext, aad, ciphertext, tag;
};
constexpr std::string_view k16 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const gcm_vector gcm_vectors[] = {
  {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
   "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
  {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
   "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
   "d0d1c8a799996bf0265b98b5d48ab919"},
  {k16, "cafebabefacedbaddecaf888",
   "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
   "b525b16aedf5aa0de657ba637b39",
   "feedfacedeadbeeffeedfacedeadbeefabaddad2",
   "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b105682"
   "8838c5f61e6393ba7a0abcc9f662",
   "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(SealedBox, GcmKnownAnswersEncrypt) {
  for (const auto& v : gcm_vectors) {
    const auto key = from_hex(v.key);
    const auto iv = from_hex(v.iv);
    const auto plaintext = from_hex(v.plaintext);
    const auto aad = from_hex(v.aad);
    std::vector<std::uint8_t> ciphertext(plaintext.size());
    std::array<std::uint8_t, sealed_tag_bytes> tag{};
    // The AAD split in two pieces must equal it whole: seal feeds header and owner separately.
    const std::size_t half = aad.size() / 2;
    detail::gcm_encrypt(std::span<const std::uint8_t, 32>(key.data(), 32),
                        std::span<const std::uint8_t, 12>(iv.data(), 12),
                        {std::span(aad).first(half), std::span(aad).subspan(half)}, plaintext,
                        ciphertext, tag);
    EXPECT_EQ(hex_of(ciphertext), v.ciphertext);
    EXPECT_EQ(hex_of(tag), v.tag);
  }
}

TEST(SealedBox, GcmKnownAnswersDecryptAndRejectWrongTag) {
  for (const auto& v : gcm_vectors) {
    const auto key = from_hex(v.key);
    const auto iv = from_hex(v.iv);
    const auto aad = from_hex(v.aad);
    const auto ciphertext = from_hex(v.ciphertext);
    auto tag = from_hex(v.tag);
    std::vector<std::uint8_t> plaintext(ciphertext.size());
    ASSERT_TRUE(detail::gcm_decrypt(std::span<const std::uint8_t, 32>(key.data(), 32),
                                    std::span<const std::uint8_t, 12>(iv.data(), 12), {aad},
                                    ciphertext, std::span<const std::uint8_t, 16>(tag.data(), 16),
                                    plaintext));
    EXPECT_EQ(hex_of(plaintext), v.plaintext);
    tag[15] ^= 1;
    EXPECT_FALSE(detail::gcm_decrypt(std::span<const std::uint8_t, 32>(key.data(), 32),
                                     std::span<const std::uint8_t, 12>(iv.data(), 12), {aad},
                                     ciphertext, std::span<const std::uint8_t, 16>(tag.data(), 16),
                                     plaintext));
    // A refused plaintext is wiped, not left for a careless caller.
    EXPECT_TRUE(std::all_of(plaintext.begin(), plaintext.end(), [](auto b) { return b == 0; }));
  }
}

// The whole blob layout, computed independently with Python's `cryptography` (AESGCM, hashlib):
//   key = bytes(range(32)); kid = sha256(b"steward vault key id v1\0" + key)[:8]
//   nonce = bytes(range(1, 13)); aad = header + b"\0\0\0\5usr_1\0\0\0\5res_2"
TEST(SealedBox, BlobLayoutMatchesIndependentComputation) {
  const vault_key key(key_bytes(0));
  EXPECT_EQ(to_hex(key.id()), "99315bb6a9d8dee6");
  EXPECT_EQ(hex_of({reinterpret_cast<const std::uint8_t*>(owner.data()), owner.size()}),
            "000000057573725f31000000057265735f32");
  const sealed_result sealed = seal(credential, key, owner, counting_random());
  ASSERT_TRUE(sealed);
  EXPECT_EQ(hex_of(sealed.blob),
            "0199315bb6a9d8dee60102030405060708090a0b0c7ec83ba585cb9be3358059656378b5442b3584a1a6"
            "5f63e7dc1bff15017b4fb196d74e6a9abe89a642");
  EXPECT_EQ(sealed.blob.size(), credential.size() + sealed_overhead_bytes);
}

// --- Round trips and failures --------------------------------------------------------------------

TEST(SealedBox, RoundTrip) {
  const vault_key key(key_bytes(7));
  for (std::string_view plaintext : {std::string_view{}, std::string_view{"x"}, credential}) {
    const sealed_result sealed = seal(plaintext, key, owner, system_random);
    ASSERT_TRUE(sealed) << describe(sealed.error);
    const opened_result opened = open(sealed.blob, std::span(&key, 1), owner);
    ASSERT_TRUE(opened) << describe(opened.error);
    EXPECT_EQ(opened.plaintext.view(), plaintext);
  }
}

TEST(SealedBox, EverySingleBitFlipFails) {
  const vault_key key(key_bytes(7));
  const sealed_result sealed = seal(credential, key, owner, counting_random());
  ASSERT_TRUE(sealed);
  for (std::size_t bit = 0; bit < sealed.blob.size() * 8; ++bit) {
    std::vector<std::uint8_t> tampered = sealed.blob;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const opened_result opened = open(tampered, std::span(&key, 1), owner);
    EXPECT_FALSE(opened) << "bit " << bit;
    EXPECT_EQ(opened.plaintext.size(), 0u);
    // Which error depends on the field: the version byte, the key id, or the authenticated rest.
    const seal_error expected = bit < 8    ? seal_error::unknown_version
                                : bit < 72 ? seal_error::unknown_key
                                           : seal_error::not_authentic;
    EXPECT_EQ(opened.error, expected) << "bit " << bit;
  }
}

TEST(SealedBox, WrongAssociatedDataFails) {
  const vault_key key(key_bytes(7));
  const sealed_result sealed = seal(credential, key, owner, system_random);
  ASSERT_TRUE(sealed);
  // Another resource of the same user, another user, and a different split of the same bytes.
  for (const std::string& other :
       {make_associated_data({"usr_1", "res_3"}), make_associated_data({"usr_2", "res_2"}),
        make_associated_data({"usr_1r", "es_2"}), std::string{}}) {
    EXPECT_EQ(open(sealed.blob, std::span(&key, 1), other).error, seal_error::not_authentic);
  }
  EXPECT_NE(make_associated_data({"ab", "c"}), make_associated_data({"a", "bc"}));
}

TEST(SealedBox, WrongKeyWithTheSameIdFails) {
  // A key id collision (or a blob whose id was rewritten) must still fail: the id only selects.
  const vault_key key(key_bytes(7));
  const vault_key other(key_bytes(8));
  sealed_result sealed = seal(credential, key, owner, system_random);
  ASSERT_TRUE(sealed);
  std::copy(other.id().begin(), other.id().end(), sealed.blob.begin() + 1);
  EXPECT_EQ(open(sealed.blob, std::span(&other, 1), owner).error, seal_error::not_authentic);
}

TEST(SealedBox, UnknownKeyIdAndKeyRingSelection) {
  const vault_key old_key(key_bytes(1));
  const vault_key new_key(key_bytes(2));
  const sealed_result sealed = seal(credential, old_key, owner, system_random);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(open(sealed.blob, std::span(&new_key, 1), owner).error, seal_error::unknown_key);
  EXPECT_EQ(open(sealed.blob, std::span<const vault_key>{}, owner).error,
            seal_error::unknown_key);
  const std::vector<vault_key> ring{new_key, old_key};
  const opened_result opened = open(sealed.blob, ring, owner);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened.plaintext.view(), credential);
  EXPECT_EQ(sealed_key_id(sealed.blob), old_key.id());
}

TEST(SealedBox, TruncatedAndOversizedBlobsAreMalformed) {
  const vault_key key(key_bytes(7));
  const sealed_result sealed = seal(credential, key, owner, system_random);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(open({}, std::span(&key, 1), owner).error, seal_error::malformed);
  for (std::size_t size = 1; size < sealed.blob.size(); ++size) {
    const auto truncated = std::span(sealed.blob).first(size);
    const seal_error error = open(truncated, std::span(&key, 1), owner).error;
    if (size < sealed_overhead_bytes)
      EXPECT_EQ(error, seal_error::malformed) << size;
    else
      EXPECT_EQ(error, seal_error::not_authentic) << size;
  }
  std::vector<std::uint8_t> huge(limits::sealed_plaintext_bytes_max + sealed_overhead_bytes + 1);
  std::copy(sealed.blob.begin(), sealed.blob.begin() + sealed_header_bytes, huge.begin());
  EXPECT_EQ(open(huge, std::span(&key, 1), owner).error, seal_error::malformed);
  EXPECT_EQ(sealed_key_id(std::span(sealed.blob).first(sealed_overhead_bytes - 1)), std::nullopt);
}

TEST(SealedBox, SealRefusesOversizeAndFailedRandom) {
  const vault_key key(key_bytes(7));
  const std::string largest(limits::sealed_plaintext_bytes_max, 'x');
  EXPECT_TRUE(seal(largest, key, owner, system_random));
  EXPECT_EQ(seal(largest + "x", key, owner, system_random).error, seal_error::too_large);
  const std::string long_owner(limits::sealed_associated_data_bytes_max + 1, 'o');
  EXPECT_EQ(seal(credential, key, long_owner, system_random).error, seal_error::too_large);
  const random_fill broken = [](std::span<std::uint8_t>) { return false; };
  const sealed_result failed = seal(credential, key, owner, broken);
  EXPECT_EQ(failed.error, seal_error::random_failed);
  EXPECT_TRUE(failed.blob.empty());
  EXPECT_EQ(seal(credential, key, owner, random_fill{}).error, seal_error::random_failed);
}

TEST(SealedBox, NoncesAreUniqueWithTheSystemSource) {
  const vault_key key(key_bytes(7));
  std::set<std::vector<std::uint8_t>> nonces;
  constexpr int seals = 10000;
  for (int i = 0; i < seals; ++i) {
    const sealed_result sealed = seal(credential, key, owner, system_random);
    ASSERT_TRUE(sealed);
    nonces.emplace(sealed.blob.begin() + 9, sealed.blob.begin() + 21);
  }
  EXPECT_EQ(nonces.size(), static_cast<std::size_t>(seals));
}

TEST(SealedBox, InjectedRandomIsDeterministic) {
  const vault_key key(key_bytes(7));
  const sealed_result a = seal(credential, key, owner, counting_random());
  const sealed_result b = seal(credential, key, owner, counting_random());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.blob, b.blob);
  // The same source used twice moves on, so the nonce (and the whole blob) differs.
  const random_fill source = counting_random();
  EXPECT_NE(seal(credential, key, owner, source).blob, seal(credential, key, owner, source).blob);
}

TEST(SealedBox, KeyIdIsLabelledHashNotKeyPrefix) {
  const auto bytes = key_bytes(0);
  const vault_key key(bytes);
  EXPECT_EQ(key.id(), derive_key_id(bytes));
  EXPECT_FALSE(std::equal(key.id().begin(), key.id().end(), bytes.begin()));
  EXPECT_NE(vault_key(key_bytes(1)).id(), key.id());
}

TEST(SealedBox, ResealMovesToTheCurrentKey) {
  const vault_key old_key(key_bytes(1));
  const vault_key current(key_bytes(2));
  const sealed_result sealed = seal(credential, old_key, owner, system_random);
  ASSERT_TRUE(sealed);
  const std::vector<vault_key> ring{current, old_key};
  const sealed_result moved = reseal(sealed.blob, ring, current, owner, system_random);
  ASSERT_TRUE(moved);
  EXPECT_EQ(sealed_key_id(moved.blob), current.id());
  const opened_result opened = open(moved.blob, std::span(&current, 1), owner);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened.plaintext.view(), credential);
  // A reseal for the wrong owner, or without the old key, fails and produces nothing.
  EXPECT_EQ(reseal(sealed.blob, ring, current, "other", system_random).error,
            seal_error::not_authentic);
  EXPECT_EQ(reseal(sealed.blob, std::span(&current, 1), current, owner, system_random).error,
            seal_error::unknown_key);
}

TEST(SealedBox, RedactedShowsNoSecretBytes) {
  const vault_key key(key_bytes(0));
  const sealed_result sealed = seal(credential, key, owner, counting_random());
  ASSERT_TRUE(sealed);
  const std::string text = redacted(sealed.blob);
  EXPECT_EQ(text, "[sealed v1 key=99315bb6a9d8dee6 62 bytes]");
  EXPECT_EQ(text.find("sk_live"), std::string::npos);
  EXPECT_EQ(redacted(std::span(sealed.blob).first(5)), "[sealed: malformed, 5 bytes]");
}

TEST(SealedBox, SecretBytesMoveLeavesSourceEmpty) {
  secret_bytes a(4);
  std::fill(a.bytes().begin(), a.bytes().end(), std::uint8_t{9});
  secret_bytes b = std::move(a);
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(a.size(), 0u); // NOLINT(bugprone-use-after-move): the moved-from state is the point
  secret_bytes c(2);
  c = std::move(b);
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.bytes()[3], 9);
}

TEST(SealedBox, DescribeNamesEveryError) {
  for (seal_error error : {seal_error::too_large, seal_error::random_failed, seal_error::malformed,
                           seal_error::unknown_version, seal_error::unknown_key,
                           seal_error::not_authentic})
    EXPECT_NE(describe(error), describe(seal_error::none));
}

} // namespace
} // namespace steward::core
