#include "storage/data_dir.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed with everything in it afterwards.
class data_dir_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-data-dir-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    // A nested, not yet existing path: the parents must be created too.
    dir_ = root_ / "var" / "data";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  static std::string read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
  }
  static void write_file(const fs::path& path, std::string_view content, mode_t mode = 0600) {
    {
      std::ofstream file(path, std::ios::binary | std::ios::trunc);
      file << content;
    }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  static mode_t mode_of(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
  }
  /// The one signing key file that --demo creates.
  fs::path signing_file() const {
    for (auto const& entry : fs::directory_iterator(dir_ / signing_dir))
      return entry.path();
    return {};
  }
  demo_result demo() {
    demo_result result;
    auto error = ensure_demo_secrets(dir_, slugs_, result);
    EXPECT_FALSE(error) << to_string(*error);
    return result;
  }
  std::optional<data_dir_error> load(secrets& out) const { return load_secrets(dir_, slugs_, out); }

  fs::path root_;
  fs::path dir_;
  std::vector<std::string> slugs_{"ref", "cloud-2"};
};

TEST_F(data_dir_test, demo_creates_every_secret_with_private_modes) {
  auto const result = demo();
  ASSERT_EQ(result.created.size(), 6u);
  EXPECT_EQ(result.created[0], (dir_ / "platform.key").string());
  EXPECT_EQ(result.created[1], (dir_ / "admin.token").string());
  EXPECT_EQ(result.created[2], (dir_ / "vault.key").string());
  EXPECT_EQ(result.created[3], signing_file().string());
  EXPECT_EQ(result.created[4], (dir_ / "providers" / "ref.secret").string());
  EXPECT_EQ(result.created[5], (dir_ / "providers" / "cloud-2.secret").string());

  for (auto const& path : {dir_, dir_ / "signing", dir_ / "providers", root_ / "var"})
    EXPECT_EQ(mode_of(path), 0700u) << path;
  for (auto const& path : result.created)
    EXPECT_EQ(mode_of(path), 0600u) << path;

  auto const platform_key = read_file(dir_ / "platform.key");
  // spk_ + 43 base64url characters (32 bytes) + a newline.
  EXPECT_EQ(platform_key.size(), 4u + 43u + 1u);
  EXPECT_TRUE(platform_key.starts_with("spk_")) << platform_key;
  EXPECT_TRUE(read_file(dir_ / "admin.token").starts_with("sat_"));
  EXPECT_TRUE(read_file(dir_ / "providers" / "ref.secret").starts_with("whsec_"));
  EXPECT_NE(read_file(dir_ / "providers" / "ref.secret"),
            read_file(dir_ / "providers" / "cloud-2.secret"));
  EXPECT_EQ(read_file(dir_ / "vault.key").size(), 32u);
  EXPECT_NE(read_file(signing_file()).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

  // No temporary file is left behind.
  for (auto const& entry : fs::recursive_directory_iterator(dir_))
    EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << entry.path();
}

TEST_F(data_dir_test, demo_never_overwrites_and_adds_only_what_is_missing) {
  // An operator-provided key is kept as it is.
  fs::create_directories(dir_);
  std::string const operator_key = "spk_provided-by-the-operator-0123456789abcdef\n";
  write_file(dir_ / "platform.key", operator_key);

  auto const first = demo();
  EXPECT_EQ(first.created.size(), 5u);
  EXPECT_EQ(read_file(dir_ / "platform.key"), operator_key);

  std::map<fs::path, std::string> before;
  for (auto const& entry : fs::recursive_directory_iterator(dir_))
    if (entry.is_regular_file())
      before[entry.path()] = read_file(entry.path());

  auto const second = demo();
  EXPECT_TRUE(second.created.empty());
  for (auto const& [path, content] : before)
    EXPECT_EQ(read_file(path), content) << path;

  slugs_.push_back("new-one");
  auto const third = demo();
  ASSERT_EQ(third.created.size(), 1u);
  EXPECT_EQ(third.created[0], (dir_ / "providers" / "new-one.secret").string());
}

TEST_F(data_dir_test, load_returns_what_demo_created) {
  demo();
  secrets loaded;
  auto error = load(loaded);
  ASSERT_FALSE(error) << to_string(*error);

  auto platform_key = read_file(dir_ / "platform.key");
  platform_key.pop_back();
  EXPECT_EQ(loaded.platform_key, platform_key);
  EXPECT_TRUE(loaded.admin_token.starts_with("sat_"));
  auto const vault = read_file(dir_ / "vault.key");
  EXPECT_TRUE(std::equal(loaded.vault_key.begin(), loaded.vault_key.end(),
                         reinterpret_cast<const std::uint8_t*>(vault.data())));
  ASSERT_EQ(loaded.provider_secrets.size(), 2u);
  EXPECT_EQ(loaded.provider_secrets[0].slug, "ref");
  EXPECT_EQ(loaded.provider_secrets[1].slug, "cloud-2");
  EXPECT_TRUE(loaded.provider_secrets[1].secret.starts_with("whsec_"));

  ASSERT_EQ(loaded.signing_keys.size(), 1u);
  auto const& key = loaded.signing_keys[0];
  EXPECT_EQ(key.kid.size(), 11u);
  EXPECT_EQ(key.kid, signing_key_id(key.public_key));
  EXPECT_EQ(signing_file().filename().string(), key.kid + ".pem");

  // The raw bytes are a working Ed25519 pair: sign with the private half, verify with the public.
  EVP_PKEY* private_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                       key.private_key.data(), 32);
  EVP_PKEY* public_key =
    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.public_key.data(), 32);
  ASSERT_NE(private_key, nullptr);
  ASSERT_NE(public_key, nullptr);
  std::string const message = "attestation";
  std::array<unsigned char, 64> signature{};
  std::size_t signature_size = signature.size();
  EVP_MD_CTX* sign = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestSignInit(sign, nullptr, nullptr, nullptr, private_key), 1);
  ASSERT_EQ(EVP_DigestSign(sign, signature.data(), &signature_size,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size()),
            1);
  EVP_MD_CTX* verify = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(verify, nullptr, nullptr, nullptr, public_key), 1);
  EXPECT_EQ(EVP_DigestVerify(verify, signature.data(), signature_size,
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()),
            1);
  EVP_MD_CTX_free(sign);
  EVP_MD_CTX_free(verify);
  EVP_PKEY_free(private_key);
  EVP_PKEY_free(public_key);
}

TEST_F(data_dir_test, each_missing_secret_is_named) {
  demo();
  std::vector<fs::path> const files{dir_ / "platform.key", dir_ / "admin.token",
                                    dir_ / "vault.key", signing_file(),
                                    dir_ / "providers" / "ref.secret",
                                    dir_ / "providers" / "cloud-2.secret"};
  for (auto const& file : files) {
    auto const saved = read_file(file);
    fs::remove(file);
    secrets loaded;
    auto const error = load(loaded);
    ASSERT_TRUE(error) << file;
    // A signing key is missing when its directory holds none, so the directory is named.
    auto const expected = file.extension() == ".pem" ? file.parent_path() : file;
    EXPECT_EQ(error->path, expected.string());
    EXPECT_NE(error->message.find("--demo"), std::string::npos) << error->message;
    write_file(file, saved);
  }
  secrets loaded;
  EXPECT_FALSE(load(loaded));

  fs::remove_all(dir_ / "signing");
  auto const error = load(loaded);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->path, (dir_ / "signing").string());

  auto const no_dir = load_secrets(root_ / "nowhere", slugs_, loaded);
  ASSERT_TRUE(no_dir);
  EXPECT_EQ(no_dir->path, (root_ / "nowhere").string());
}

TEST_F(data_dir_test, vault_key_of_the_wrong_size_is_rejected) {
  demo();
  auto const vault = dir_ / "vault.key";
  auto const key = read_file(vault);
  secrets loaded;

  write_file(vault, key + "\n");
  auto error = load(loaded);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->path, vault.string());
  EXPECT_NE(error->message.find("must be exactly 32 bytes, found 33 (a trailing newline?)"),
            std::string::npos)
    << error->message;

  write_file(vault, key.substr(0, 31));
  error = load(loaded);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("found 31"), std::string::npos) << error->message;

  write_file(vault, std::string(64, 'a'));
  error = load(loaded);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("not hex or base64"), std::string::npos) << error->message;
}

TEST_F(data_dir_test, secrets_readable_by_others_are_refused) {
  demo();
  for (auto const& file : {dir_ / "vault.key", dir_ / "platform.key", signing_file()}) {
    ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
    secrets loaded;
    auto const error = load(loaded);
    ASSERT_TRUE(error) << file;
    EXPECT_EQ(error->path, file.string());
    EXPECT_EQ(error->message, "mode 0640 lets group or others at this secret; run chmod 600 " +
                                file.string());
    ASSERT_EQ(::chmod(file.c_str(), 0400), 0);
    EXPECT_FALSE(load(loaded)) << "0400 is private too";
    ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  }
}

TEST_F(data_dir_test, malformed_secrets_are_named) {
  demo();
  secrets loaded;
  auto expect_rejected = [&](const fs::path& file, std::string_view content,
                             std::string_view fragment) {
    auto const saved = read_file(file);
    write_file(file, content);
    auto const error = load(loaded);
    ASSERT_TRUE(error) << content;
    EXPECT_EQ(error->path, file.string());
    EXPECT_NE(error->message.find(fragment), std::string::npos) << error->message;
    write_file(file, saved);
  };
  expect_rejected(dir_ / "platform.key", "sat_0123456789abcdef0123456789abcdef\n",
                  "does not start with spk_");
  expect_rejected(dir_ / "admin.token", "sat_short\n", "too short");
  expect_rejected(dir_ / "admin.token", "sat_0123456789abcdef0123456789abcdef\nsecond\n",
                  "has a character outside");
  expect_rejected(dir_ / "providers" / "ref.secret", "tiny", "too short");
  expect_rejected(signing_file(), "not a pem", "is not an unencrypted PEM private key");

  // A provider may mint its own secret: no prefix needed, a CRLF ending is fine.
  write_file(dir_ / "providers" / "ref.secret", "0123456789abcdef0123456789abcdef\r\n");
  ASSERT_FALSE(load(loaded));
  EXPECT_EQ(loaded.provider_secrets[0].secret, "0123456789abcdef0123456789abcdef");
}

TEST_F(data_dir_test, a_signing_key_must_be_named_after_its_kid) {
  demo();
  auto const original = signing_file();
  auto const renamed = original.parent_path() / "wrong.pem";
  fs::rename(original, renamed);
  secrets loaded;
  auto const error = load(loaded);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->path, renamed.string());
  EXPECT_NE(error->message.find("rename it to " + original.filename().string()),
            std::string::npos)
    << error->message;
}

TEST_F(data_dir_test, the_newest_signing_key_comes_first) {
  demo();
  auto const first = signing_file();
  // A second key, as an operator rotating keys would add it; --demo adds none while one exists.
  auto const moved = root_ / first.filename();
  fs::rename(first, moved);
  demo();
  auto const second = signing_file();
  fs::rename(moved, first);
  struct timespec const times[2] = {{1'000'000, 0}, {1'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, first.c_str(), times, 0), 0);

  secrets loaded;
  auto const error = load(loaded);
  ASSERT_FALSE(error) << to_string(*error);
  ASSERT_EQ(loaded.signing_keys.size(), 2u);
  EXPECT_EQ(loaded.signing_keys[0].kid + ".pem", second.filename().string());
  EXPECT_EQ(loaded.signing_keys[1].kid + ".pem", first.filename().string());
}

TEST_F(data_dir_test, slugs_that_are_not_file_names_are_refused) {
  slugs_ = {"../escape"};
  demo_result result;
  auto const error = ensure_demo_secrets(dir_, slugs_, result);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("invalid provider slug"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_));
}

TEST(data_dir, key_id_is_base64url_of_the_first_8_bytes_of_sha256) {
  // SHA-256 of 32 zero bytes starts 66 68 7a ad f8 62 bd 77.
  std::array<std::uint8_t, 32> const zeros{};
  EXPECT_EQ(signing_key_id(zeros), "Zmh6rfhivXc");
}

} // namespace
} // namespace steward::storage
