#include "storage/vault_keys.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;

using key_array = std::array<std::uint8_t, core::vault_key_bytes>;

key_array bytes_from(std::uint8_t first) {
  key_array bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
  return bytes;
}

// bytes_from(0x00) and bytes_from(0xE0), written out independently (Python: bytes.hex() and
// base64.urlsafe_b64encode without padding).
constexpr std::string_view key0_hex =
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr std::string_view key0_base64url = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
constexpr std::string_view keye0_base64url = "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8";

const std::string owner = core::make_associated_data({"usr_1", "res_1"});

class vault_keys_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-vault-keys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path retired_dir() const { return dir_ / vault_retired_dir; }

  void write_retired(std::string_view name, std::span<const std::uint8_t> bytes,
                     mode_t mode = 0600) {
    fs::create_directories(retired_dir());
    const fs::path path = retired_dir() / name;
    {
      std::ofstream file(path, std::ios::binary | std::ios::trunc);
      file.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  std::optional<vault_key_error> load(std::optional<std::string_view> environment,
                                      const key_array* file_key, vault_key_ring& ring) const {
    vault_key_sources sources;
    sources.environment = environment;
    if (file_key != nullptr) sources.file_key = std::span<const std::uint8_t, 32>(*file_key);
    sources.data_dir = dir_;
    return load_vault_keys(sources, ring);
  }

  fs::path dir_;
};

// --- The environment variable --------------------------------------------------------------------

TEST(VaultKeyText, HexAndBase64urlSpellTheSameKey) {
  const core::vault_key expected(bytes_from(0));
  const auto hex = parse_vault_key_text(key0_hex);
  ASSERT_TRUE(hex);
  EXPECT_EQ(hex->id(), expected.id());
  EXPECT_TRUE(std::equal(hex->bytes().begin(), hex->bytes().end(), bytes_from(0).begin()));
  std::string upper(key0_hex);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(parse_vault_key_text(upper));
  EXPECT_EQ(parse_vault_key_text(upper)->id(), expected.id());
  const auto base64 = parse_vault_key_text(key0_base64url);
  ASSERT_TRUE(base64);
  EXPECT_EQ(base64->id(), expected.id());
  // Both characters outside the standard alphabet (- and _) decode.
  const auto high = parse_vault_key_text(keye0_base64url);
  ASSERT_TRUE(high);
  EXPECT_EQ(high->id(), core::vault_key(bytes_from(0xE0)).id());
}

TEST(VaultKeyText, MalformedValuesAreRefused) {
  std::string non_canonical(key0_base64url);
  non_canonical.back() = '9'; // '8' is 60; 61 sets one of the two unused low bits
  for (const std::string& bad :
       {std::string{}, std::string(key0_hex.substr(1)), std::string(key0_hex) + "0",
        std::string(key0_hex.substr(0, 63)) + "g", " " + std::string(key0_hex.substr(1)),
        std::string(key0_base64url) + "=", std::string(key0_base64url.substr(0, 42)) + "+",
        non_canonical, std::string(64, '0'), std::string(43, 'A')}) {
    EXPECT_EQ(parse_vault_key_text(bad), std::nullopt) << bad;
  }
}

TEST_F(vault_keys_test, EnvironmentTakesPrecedenceAndTheFileKeyStillOpens) {
  const key_array file_key = bytes_from(0x40);
  const core::vault_key file(file_key);
  // A blob sealed while the file key was current.
  const vault_key_ring before(file, {});
  const core::sealed_result old_blob = before.seal("secret", owner, core::system_random);
  ASSERT_TRUE(old_blob);

  vault_key_ring ring;
  ASSERT_EQ(load(key0_hex, &file_key, ring), std::nullopt);
  EXPECT_EQ(ring.current().id(), core::vault_key(bytes_from(0)).id());
  ASSERT_EQ(ring.keys().size(), 2u);
  ASSERT_NE(ring.find(file.id()), nullptr);
  const core::sealed_result sealed = ring.seal("new", owner, core::system_random);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(core::sealed_key_id(sealed.blob), ring.current().id());
  const core::opened_result opened = ring.open(old_blob.blob, owner);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened.plaintext.view(), "secret");
}

TEST_F(vault_keys_test, SameKeyInEnvironmentAndFileIsOneKey) {
  const key_array file_key = bytes_from(0);
  vault_key_ring ring;
  ASSERT_EQ(load(key0_base64url, &file_key, ring), std::nullopt);
  EXPECT_EQ(ring.keys().size(), 1u);
}

TEST_F(vault_keys_test, FileKeyIsCurrentWithoutEnvironment) {
  const key_array file_key = bytes_from(0x40);
  vault_key_ring ring;
  ASSERT_EQ(load(std::nullopt, &file_key, ring), std::nullopt);
  EXPECT_EQ(ring.current().id(), core::vault_key(file_key).id());
  EXPECT_EQ(ring.keys().size(), 1u);
}

TEST_F(vault_keys_test, MalformedEnvironmentIsAnErrorThatHidesTheValue) {
  const key_array file_key = bytes_from(0x40);
  const std::string value = std::string(key0_hex.substr(0, 62)) + "zz";
  vault_key_ring ring;
  const auto error = load(value, &file_key, ring);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, vault_key_failure::malformed_environment);
  EXPECT_EQ(error->where, "STEWARD_VAULT_KEY");
  EXPECT_EQ(to_string(*error).find(value.substr(0, 16)), std::string::npos);
  EXPECT_NE(error->message.find("64 hex digits"), std::string::npos);
  EXPECT_TRUE(ring.empty()); // nothing half-loaded
  // Set but empty is not "unset": the file key does not silently take over.
  EXPECT_EQ(load(std::string_view{}, &file_key, ring)->code,
            vault_key_failure::malformed_environment);
  const auto zeros = load(std::string(64, '0'), &file_key, ring);
  ASSERT_TRUE(zeros);
  EXPECT_NE(zeros->message.find("all zeros"), std::string::npos);
}

TEST_F(vault_keys_test, NoKeyAnywhereIsMissingWithTheRemedy) {
  vault_key_ring ring;
  const auto error = load(std::nullopt, nullptr, ring);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, vault_key_failure::missing);
  EXPECT_NE(to_string(*error).find("set STEWARD_VAULT_KEY or create " +
                                   (dir_ / "vault.key").string() +
                                   " (32 random bytes, mode 0600)"),
            std::string::npos)
    << to_string(*error);
  EXPECT_TRUE(ring.empty());
}

TEST(VaultKeyEnvironment, ReadsTheProcessEnvironment) {
  ASSERT_EQ(::setenv("STEWARD_VAULT_KEY", key0_base64url.data(), 1), 0);
  EXPECT_EQ(vault_key_from_environment(), key0_base64url);
  ASSERT_EQ(::unsetenv("STEWARD_VAULT_KEY"), 0);
  EXPECT_EQ(vault_key_from_environment(), std::nullopt);
}

// --- Retired keys --------------------------------------------------------------------------------

TEST_F(vault_keys_test, RetiredKeysOpenButNeverSeal) {
  const key_array current = bytes_from(0x40);
  const key_array old1 = bytes_from(1);
  const key_array old2 = bytes_from(2);
  write_retired("2026-01.key", old1);
  write_retired("2026-06.key", old2, 0400);
  write_retired(".tmp-copy.key", bytes_from(3));   // hidden: ignored
  write_retired("notes.txt", bytes_from(4));       // other name: ignored
  write_retired("current-again.key", current);     // same as current: one entry
  vault_key_ring ring;
  ASSERT_EQ(load(std::nullopt, &current, ring), std::nullopt);
  ASSERT_EQ(ring.keys().size(), 3u);
  EXPECT_EQ(ring.current().id(), core::vault_key(current).id());
  EXPECT_EQ(ring.keys()[1].id(), core::vault_key(old1).id()); // sorted by file name
  EXPECT_EQ(ring.keys()[2].id(), core::vault_key(old2).id());
  EXPECT_EQ(ring.find(core::vault_key(bytes_from(3)).id()), nullptr);
  EXPECT_EQ(ring.find(core::vault_key(bytes_from(4)).id()), nullptr);

  // A blob of a retired key opens, needs a reseal, and after it names the current key.
  const core::vault_key retired(old2);
  const core::sealed_result old_blob = core::seal("token", retired, owner, core::system_random);
  ASSERT_TRUE(old_blob);
  EXPECT_TRUE(ring.needs_reseal(old_blob.blob));
  ASSERT_TRUE(ring.open(old_blob.blob, owner));
  const core::sealed_result moved = ring.reseal(old_blob.blob, owner, core::system_random);
  ASSERT_TRUE(moved);
  EXPECT_FALSE(ring.needs_reseal(moved.blob));
  EXPECT_EQ(core::sealed_key_id(moved.blob), ring.current().id());
  const core::opened_result opened = ring.open(moved.blob, owner);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened.plaintext.view(), "token");
  // Another owner's record cannot take the blob along in a reseal.
  EXPECT_EQ(ring.reseal(old_blob.blob, "other", core::system_random).error,
            core::seal_error::not_authentic);
  EXPECT_TRUE(ring.needs_reseal(std::span(moved.blob).first(3))); // malformed needs attention
}

TEST_F(vault_keys_test, PermissiveRetiredKeyIsRefused) {
  const key_array current = bytes_from(0x40);
  write_retired("old.key", bytes_from(1), 0640);
  vault_key_ring ring;
  const auto error = load(std::nullopt, &current, ring);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, vault_key_failure::retired_key_invalid);
  EXPECT_EQ(error->where, (retired_dir() / "old.key").string());
  EXPECT_NE(error->message.find("chmod 600"), std::string::npos);
  EXPECT_TRUE(ring.empty());
}

TEST_F(vault_keys_test, WronglySizedRetiredKeyIsRefused) {
  const key_array current = bytes_from(0x40);
  for (std::size_t size : {0u, 31u, 33u, 64u}) {
    std::vector<std::uint8_t> bytes(size, 7);
    write_retired("old.key", bytes);
    vault_key_ring ring;
    const auto error = load(std::nullopt, &current, ring);
    ASSERT_TRUE(error) << size;
    EXPECT_EQ(error->code, vault_key_failure::retired_key_invalid);
    EXPECT_NE(error->message.find("exactly 32 raw bytes"), std::string::npos);
  }
}

TEST_F(vault_keys_test, RetiredPathMustBeADirectoryOfFiles) {
  const key_array current = bytes_from(0x40);
  fs::create_directories(dir_ / "vault");
  { std::ofstream file(retired_dir()); }
  vault_key_ring ring;
  auto error = load(std::nullopt, &current, ring);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("not a directory"), std::string::npos);
  fs::remove(retired_dir());
  fs::create_directories(retired_dir() / "sub.key");
  error = load(std::nullopt, &current, ring);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("not a regular file"), std::string::npos);
}

TEST_F(vault_keys_test, TooManyRetiredKeysIsRefused) {
  const key_array current = bytes_from(0x40);
  for (std::size_t i = 0; i < core::limits::vault_retired_keys_max; ++i)
    write_retired("k" + std::to_string(i) + ".key", bytes_from(static_cast<std::uint8_t>(i + 1)));
  vault_key_ring ring;
  ASSERT_EQ(load(std::nullopt, &current, ring), std::nullopt);
  EXPECT_EQ(ring.keys().size(), core::limits::vault_retired_keys_max + 1);
  write_retired("one-more.key", bytes_from(0x80));
  const auto error = load(std::nullopt, &current, ring);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, vault_key_failure::too_many_retired_keys);
}

TEST(VaultKeyRing, DuplicatesCollapseAndCurrentComesFirst) {
  const core::vault_key a(bytes_from(1));
  const core::vault_key b(bytes_from(2));
  const std::vector<core::vault_key> retired{b, a, b};
  const vault_key_ring ring(a, retired);
  ASSERT_EQ(ring.keys().size(), 2u);
  EXPECT_EQ(ring.current().id(), a.id());
  EXPECT_EQ(ring.keys()[1].id(), b.id());
  EXPECT_EQ(ring.find(core::vault_key(bytes_from(3)).id()), nullptr);
  // A blob of a key outside the ring is unknown to it, not merely unauthentic.
  const core::sealed_result foreign =
    core::seal("x", core::vault_key(bytes_from(3)), owner, core::system_random);
  EXPECT_EQ(ring.open(foreign.blob, owner).error, core::seal_error::unknown_key);
}

} // namespace
} // namespace steward::storage
