#include "storage/signing_keys.hpp"

#include "core/attestation.hpp"
#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t start = 1700000000;
constexpr std::int64_t retire_after =
  core::limits::attestation_lifetime_seconds_max + core::limits::attestation_leeway_seconds;

class signing_keys_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-signing-keys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ / "data";
    demo_result created;
    ASSERT_FALSE(ensure_demo_secrets(dir_, {}, created).has_value());
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  std::vector<signing_key> load() {
    std::vector<signing_key> keys;
    auto error = load_signing_keys(dir_, keys);
    EXPECT_FALSE(error.has_value()) << (error ? to_string(*error) : "");
    return keys;
  }

  signing_key_ring ring(std::int64_t since = start) {
    std::optional<signing_key_ring> out;
    const auto keys = load();
    auto error = signing_key_ring::make(keys, since, out);
    EXPECT_FALSE(error.has_value()) << (error ? to_string(*error) : "");
    return std::move(*out);
  }

  std::string rotate() {
    std::string kid;
    auto error = rotate_signing_key(dir_, kid);
    EXPECT_FALSE(error.has_value()) << (error ? to_string(*error) : "");
    return kid;
  }

  fs::path key_file(std::string_view kid) const {
    return dir_ / "signing" / (std::string(kid) + ".pem");
  }

  std::size_t pem_files() const {
    std::size_t count = 0;
    for (auto const& entry : fs::directory_iterator(dir_ / "signing"))
      count += entry.path().extension() == ".pem";
    return count;
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(signing_keys_test, the_ring_signs_with_the_newest_and_publishes_all) {
  const std::string first = load().front().kid;
  const std::string second = rotate();
  EXPECT_NE(first, second);
  const signing_key_ring keys = ring();
  EXPECT_EQ(keys.signer().kid(), second);
  ASSERT_EQ(keys.published().size(), 2u);
  EXPECT_EQ(keys.published().keys()[0].kid, second);
  EXPECT_EQ(keys.published().keys()[1].kid, first);
  EXPECT_EQ(keys.signer().public_key(), keys.published().keys()[0].x);

  // The served document parses back to the same keys.
  core::jwk_set parsed;
  ASSERT_EQ(core::parse_jwks(keys.jwks_document(), parsed), core::jwks_error::none);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed.keys()[0].x, keys.published().keys()[0].x);
  EXPECT_EQ(parsed.keys()[1].kid, first);
}

TEST_F(signing_keys_test, rotation_writes_a_private_key_file_that_loads_first) {
  const auto before = load();
  const std::string kid = rotate();
  struct stat info {};
  ASSERT_EQ(::stat(key_file(kid).c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  const auto after = load();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].kid, kid);
  EXPECT_EQ(after[1].kid, before[0].kid);
  EXPECT_EQ(after[1].public_key, before[0].public_key); // the old key is untouched
  // No temporary file is left behind.
  std::size_t hidden = 0;
  for (auto const& entry : fs::directory_iterator(dir_ / "signing"))
    hidden += entry.path().filename().string().starts_with(".");
  EXPECT_EQ(hidden, 0u);
}

TEST_F(signing_keys_test, rotation_wins_over_an_old_key_with_a_future_time) {
  // The current key's time is an hour ahead (a clock that stepped back since, or a copied file):
  // the new key must still be the one that signs next.
  const std::string old_kid = load().front().kid;
  struct timespec future[2] = {{0, UTIME_OMIT}, {::time(nullptr) + 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, key_file(old_kid).c_str(), future, 0), 0);
  const std::string kid = rotate();
  EXPECT_EQ(load().front().kid, kid);
  EXPECT_EQ(ring().signer().kid(), kid);
}

TEST_F(signing_keys_test, rotation_stops_at_the_key_limit) {
  while (pem_files() < signing_keys_max) rotate();
  std::string kid;
  auto error = rotate_signing_key(dir_, kid);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("retire old ones first"), std::string::npos) << error->message;
  EXPECT_EQ(pem_files(), signing_keys_max);
  EXPECT_EQ(load().size(), signing_keys_max); // the data dir still starts
}

TEST_F(signing_keys_test, rotation_refuses_a_data_dir_whose_keys_do_not_load) {
  const std::string kid = load().front().kid;
  ASSERT_EQ(::chmod(key_file(kid).c_str(), 0644), 0);
  std::string new_kid;
  auto error = rotate_signing_key(dir_, new_kid);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path, key_file(kid).string());
  EXPECT_EQ(pem_files(), 1u);

  fs::remove_all(dir_ / "signing");
  error = rotate_signing_key(dir_, new_kid);
  ASSERT_TRUE(error.has_value());
  EXPECT_FALSE(fs::exists(dir_ / "signing"));
}

TEST_F(signing_keys_test, an_empty_ring_is_refused) {
  std::optional<signing_key_ring> out;
  auto error = signing_key_ring::make({}, start, out);
  ASSERT_TRUE(error.has_value());
  EXPECT_FALSE(out.has_value());
}

TEST_F(signing_keys_test, tokens_of_the_old_key_verify_after_a_rotation) {
  const signing_key_ring before = ring();
  core::openssl_random random;
  core::minted_attestation minted;
  const core::attestation_request request{
    "https://steward.example", "usr_1", "refprovider", "a@b.c", true, "A"};
  ASSERT_EQ(core::make_attestation(request, before.signer(), start, random, minted),
            core::attestation_error::none);
  rotate();
  const signing_key_ring after = ring(start + 10);
  EXPECT_NE(after.signer().kid(), before.signer().kid());
  core::jwk_set published;
  ASSERT_EQ(core::parse_jwks(after.jwks_document(), published), core::jwks_error::none);
  core::attestation_claims claims;
  EXPECT_EQ(core::verify_attestation(minted.token, published, request.issuer, request.audience,
                                     start + 20, claims),
            core::attestation_error::none);
  EXPECT_EQ(claims.jti, minted.claims.jti);
}

TEST_F(signing_keys_test, old_keys_retire_only_after_the_signer_outlived_every_token) {
  const std::string old_kid = load().front().kid;
  const std::string signer_kid = rotate();
  const signing_key_ring keys = ring(start);
  EXPECT_TRUE(keys.retirable(start).empty());
  EXPECT_TRUE(keys.retirable(start + retire_after).empty());
  EXPECT_EQ(keys.retirable(start + retire_after + 1), std::vector<std::string>{old_kid});

  std::vector<std::string> removed;
  ASSERT_FALSE(retire_signing_keys(dir_, keys, start + retire_after, removed).has_value());
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(fs::exists(key_file(old_kid)));

  // A key rotated in after the ring was loaded is not the ring's to retire.
  const std::string newer_kid = rotate();
  ASSERT_FALSE(retire_signing_keys(dir_, keys, start + retire_after + 1, removed).has_value());
  EXPECT_EQ(removed, std::vector<std::string>{old_kid});
  EXPECT_FALSE(fs::exists(key_file(old_kid)));
  EXPECT_TRUE(fs::exists(key_file(signer_kid)));
  EXPECT_TRUE(fs::exists(key_file(newer_kid)));
  const auto left = load();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].kid, newer_kid);

  // Retiring again finds the file gone and is not an error.
  ASSERT_FALSE(retire_signing_keys(dir_, keys, start + retire_after + 2, removed).has_value());
  EXPECT_TRUE(removed.empty());
}

TEST_F(signing_keys_test, a_single_key_is_never_retirable) {
  const signing_key_ring keys = ring(start);
  EXPECT_TRUE(keys.retirable(start + 100000).empty());
  std::vector<std::string> removed;
  ASSERT_FALSE(retire_signing_keys(dir_, keys, start + 100000, removed).has_value());
  EXPECT_EQ(pem_files(), 1u);
}

} // namespace
} // namespace steward::storage
