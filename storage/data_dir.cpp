#include "storage/data_dir.hpp"

#include "core/base64url.hpp"

#include "core/ids.hpp"
#include "core/sha256.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace steward::storage {

namespace fs = std::filesystem;

namespace {

constexpr mode_t directory_mode = 0700;
constexpr mode_t secret_file_mode = 0600;
constexpr std::string_view pem_extension = ".pem";
constexpr std::string_view provider_secret_extension = ".secret";
constexpr std::string_view demo_hint =
  "; run stewardd once with --demo to create every missing secret, or provide it";

struct pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct bio_deleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

/// Wipes a buffer that held secret bytes when it goes out of scope.
struct cleanse_on_exit {
  void* data;
  std::size_t size;
  ~cleanse_on_exit() { OPENSSL_cleanse(data, size); }
};

/// Closes a file descriptor on every path out of a scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

data_dir_error error_at(const fs::path& path, std::string message) {
  return data_dir_error{path.string(), std::move(message)};
}

data_dir_error errno_error(const fs::path& path, std::string_view action, int error_number) {
  return error_at(path, std::string(action) + ": " + std::strerror(error_number));
}

std::string openssl_reason() {
  auto const code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  std::array<char, 256> buffer{};
  ERR_error_string_n(code, buffer.data(), buffer.size());
  return buffer.data();
}

std::string octal_mode(mode_t mode) {
  std::array<char, 8> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return buffer.data();
}


/// Characters of an RFC 6750 b64token: safe in an Authorization header as they are.
bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

// --- Writing ---------------------------------------------------------------------------------------

std::optional<data_dir_error> fsync_directory(const fs::path& dir) {
  fd_guard guard{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (guard.fd < 0)
    return errno_error(dir, "cannot open directory to sync it", errno);
  if (::fsync(guard.fd) != 0)
    return errno_error(dir, "cannot sync directory", errno);
  return std::nullopt;
}

/// Creates `dir` and its missing parents, each with mode 0700 whatever the umask, and syncs each
/// parent so that the new entry survives a crash.
std::optional<data_dir_error> make_directory(const fs::path& given) {
  // "data/" names the same directory as "data"; without the trailing separator, parent_path()
  // walks up instead of returning the directory itself.
  auto const dir = given.has_filename() ? given : given.parent_path();
  struct stat info {};
  if (::stat(dir.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode))
      return error_at(dir, "exists but is not a directory");
    return std::nullopt;
  }
  if (errno != ENOENT)
    return errno_error(dir, "cannot inspect", errno);
  auto const parent = dir.has_relative_path() && dir.has_parent_path() ? dir.parent_path()
                                                                       : fs::path();
  if (!parent.empty() && parent != dir) {
    if (auto error = make_directory(parent))
      return error;
  }
  if (::mkdir(dir.c_str(), directory_mode) != 0 && errno != EEXIST)
    return errno_error(dir, "cannot create directory", errno);
  if (::chmod(dir.c_str(), directory_mode) != 0)
    return errno_error(dir, "cannot set mode 0700", errno);
  return fsync_directory(parent.empty() ? fs::path(".") : parent);
}

/// Whether anything (even a dangling symlink) is at `path`; errors other than "absent" count as
/// present, so that a file is never written over something this code cannot see.
bool exists_entry(const fs::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 || errno != ENOENT;
}

/// Writes `bytes` to `path` if nothing is there yet: a temporary file in the same directory (mode
/// 0600, fsynced) is moved into place with RENAME_NOREPLACE, so that a reader sees either no file
/// or the whole file, and a file that appeared meanwhile is never replaced. `created` tells which.
std::optional<data_dir_error> write_new_file(const fs::path& path, std::span<const std::uint8_t> bytes,
                                             bool& created) {
  created = false;
  std::array<std::uint8_t, 8> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
    return error_at(path, "no randomness for a temporary name: " + openssl_reason());
  auto const temporary =
    path.parent_path() /
    ("." + path.filename().string() + ".tmp-" + core::base64url_encode(nonce));

  fd_guard guard{::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                        secret_file_mode)};
  if (guard.fd < 0)
    return errno_error(temporary, "cannot create", errno);
  auto const fail = [&](std::string_view action) {
    auto const saved = errno;
    ::unlink(temporary.c_str());
    return errno_error(temporary, action, saved);
  };
  if (::fchmod(guard.fd, secret_file_mode) != 0)
    return fail("cannot set mode 0600");
  std::size_t written = 0;
  while (written < bytes.size()) {
    auto const result = ::write(guard.fd, bytes.data() + written, bytes.size() - written);
    if (result < 0 && errno == EINTR)
      continue;
    if (result < 0)
      return fail("cannot write");
    written += static_cast<std::size_t>(result);
  }
  if (::fsync(guard.fd) != 0)
    return fail("cannot sync");
  auto const fd = guard.fd;
  guard.fd = -1;
  if (::close(fd) != 0) {
    auto const saved = errno;
    ::unlink(temporary.c_str());
    return errno_error(temporary, "cannot close", saved);
  }

  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
    created = true;
  } else if (errno == EINVAL || errno == ENOSYS) {
    // A file system without RENAME_NOREPLACE: link() refuses an existing target just as well.
    if (::link(temporary.c_str(), path.c_str()) == 0)
      created = true;
    else if (errno != EEXIST)
      return fail("cannot move into place");
    ::unlink(temporary.c_str());
  } else if (errno == EEXIST) {
    ::unlink(temporary.c_str());
  } else {
    return fail("cannot move into place");
  }
  if (!created)
    return std::nullopt;
  return fsync_directory(path.parent_path());
}

std::optional<data_dir_error> create_text_secret(const fs::path& path, std::string_view prefix,
                                                 demo_result& out) {
  if (exists_entry(path))
    return std::nullopt;
  std::array<std::uint8_t, generated_secret_bytes> random{};
  cleanse_on_exit wipe_random{random.data(), random.size()};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
    return error_at(path, "no randomness: " + openssl_reason());
  std::string text(prefix);
  text += core::base64url_encode(random);
  text += '\n';
  cleanse_on_exit wipe_text{text.data(), text.size()};
  bool created = false;
  if (auto error = write_new_file(
        path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, created))
    return error;
  if (created)
    out.created.push_back(path.string());
  return std::nullopt;
}

std::optional<data_dir_error> create_vault_key(const fs::path& path, demo_result& out) {
  if (exists_entry(path))
    return std::nullopt;
  std::array<std::uint8_t, vault_key_bytes> key{};
  cleanse_on_exit wipe{key.data(), key.size()};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    return error_at(path, "no randomness: " + openssl_reason());
  bool created = false;
  if (auto error = write_new_file(path, key, created))
    return error;
  if (created)
    out.created.push_back(path.string());
  return std::nullopt;
}

bool has_pem_file(const fs::path& dir) {
  std::error_code error;
  for (auto const& entry : fs::directory_iterator(dir, error)) {
    auto const name = entry.path().filename().string();
    if (!name.starts_with(".") && name.ends_with(pem_extension))
      return true;
  }
  return false;
}

/// Generates a key and writes it as `dir/KID.pem`, never over an existing file; sets `written`
/// to that path and `kid` to the new key id.
std::optional<data_dir_error> write_signing_key(const fs::path& dir, fs::path& written,
                                                std::string& kid) {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key)
    return error_at(dir, "cannot generate an Ed25519 key: " + openssl_reason());
  std::array<std::uint8_t, 32> public_key{};
  auto public_size = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &public_size) != 1 ||
      public_size != public_key.size())
    return error_at(dir, "cannot read the new public key: " + openssl_reason());
  auto const path = dir / (signing_key_id(public_key) + std::string(pem_extension));

  bio_ptr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return error_at(path, "cannot encode the new key: " + openssl_reason());
  char* pem = nullptr;
  auto const pem_size = BIO_get_mem_data(bio.get(), &pem);
  if (pem == nullptr || pem_size <= 0)
    return error_at(path, "cannot encode the new key");
  bool created = false;
  if (auto error = write_new_file(
        path, {reinterpret_cast<const std::uint8_t*>(pem), static_cast<std::size_t>(pem_size)},
        created))
    return error;
  // A fresh random key's name cannot already exist unless the random source repeats itself.
  if (!created)
    return error_at(path, "already exists; a freshly generated key must not collide");
  written = path;
  kid = signing_key_id(public_key);
  return std::nullopt;
}

std::optional<data_dir_error> create_signing_key(const fs::path& dir, demo_result& out) {
  if (has_pem_file(dir))
    return std::nullopt;
  fs::path path;
  std::string kid;
  if (auto error = write_signing_key(dir, path, kid))
    return error;
  out.created.push_back(path.string());
  return std::nullopt;
}

// --- Reading ---------------------------------------------------------------------------------------

struct file_contents {
  std::string bytes;
  struct timespec modified {};
};

/// Reads a secret file after checking, on the open descriptor (no race with a rename), that it is
/// a regular file, private to its owner and of a sane size. `what` describes the expected content
/// for the "missing" message.
std::optional<data_dir_error> read_secret_file(const fs::path& path, std::string_view what,
                                               file_contents& out) {
  // O_NONBLOCK: opening a FIFO planted in place of a secret must not hang start-up.
  fd_guard guard{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (guard.fd < 0) {
    if (errno == ENOENT)
      return error_at(path, "missing" + std::string(demo_hint) + " (" + std::string(what) + ")");
    return errno_error(path, "cannot open", errno);
  }
  struct stat info {};
  if (::fstat(guard.fd, &info) != 0)
    return errno_error(path, "cannot inspect", errno);
  if (!S_ISREG(info.st_mode))
    return error_at(path, "is not a regular file");
  if ((info.st_mode & 077) != 0) {
    return error_at(path, "mode " + octal_mode(info.st_mode) +
                            " lets group or others at this secret; run chmod 600 " +
                            path.string());
  }
  if (static_cast<std::uint64_t>(info.st_size) > secret_file_bytes_max) {
    return error_at(path, "is " + std::to_string(info.st_size) + " bytes, more than any secret (" +
                            std::to_string(secret_file_bytes_max) + ")");
  }
  out.modified = info.st_mtim;
  out.bytes.assign(static_cast<std::size_t>(info.st_size) + 1, '\0');
  std::size_t filled = 0;
  while (filled < out.bytes.size()) {
    auto const result = ::read(guard.fd, out.bytes.data() + filled, out.bytes.size() - filled);
    if (result < 0 && errno == EINTR)
      continue;
    if (result < 0) {
      OPENSSL_cleanse(out.bytes.data(), out.bytes.size());
      return errno_error(path, "cannot read", errno);
    }
    if (result == 0)
      break;
    filled += static_cast<std::size_t>(result);
  }
  if (filled > secret_file_bytes_max) {
    OPENSSL_cleanse(out.bytes.data(), out.bytes.size());
    return error_at(path, "grew past " + std::to_string(secret_file_bytes_max) + " bytes");
  }
  out.bytes.resize(filled);
  return std::nullopt;
}

/// A text secret: the file without one trailing newline, `prefix` + at least
/// `text_secret_chars_min` bearer-token characters.
std::optional<data_dir_error> load_text_secret(const fs::path& path, std::string_view prefix,
                                               std::string_view what, std::string& out) {
  file_contents file;
  if (auto error = read_secret_file(path, what, file))
    return error;
  auto& text = file.bytes;
  if (text.ends_with("\r\n"))
    text.resize(text.size() - 2);
  else if (text.ends_with('\n'))
    text.pop_back();
  auto const reject = [&](std::string message) {
    OPENSSL_cleanse(text.data(), text.size());
    return error_at(path, std::move(message) + " (expected " + std::string(what) + ")");
  };
  if (!text.starts_with(prefix))
    return reject("does not start with " + std::string(prefix));
  if (text.size() - prefix.size() < text_secret_chars_min)
    return reject("is too short to be a secret");
  if (!std::all_of(text.begin(), text.end(), is_token_char))
    return reject("has a character outside A-Z a-z 0-9 - . _ ~ + / = (a second line?)");
  out = std::move(text);
  return std::nullopt;
}

std::optional<data_dir_error> load_vault_key(const fs::path& path,
                                             std::array<std::uint8_t, vault_key_bytes>& out) {
  file_contents file;
  if (auto error = read_secret_file(path, "exactly 32 random bytes, not text", file))
    return error;
  cleanse_on_exit wipe{file.bytes.data(), file.bytes.size()};
  if (file.bytes.size() != vault_key_bytes) {
    std::string message = "must be exactly 32 bytes, found " + std::to_string(file.bytes.size());
    if (file.bytes.size() == vault_key_bytes + 1 && file.bytes.back() == '\n')
      message += " (a trailing newline?)";
    else if (file.bytes.size() > vault_key_bytes)
      message += " (the key is raw bytes, not hex or base64)";
    message += "; create one with: head -c 32 /dev/urandom > " + path.string();
    return error_at(path, std::move(message));
  }
  std::copy(file.bytes.begin(), file.bytes.end(), out.begin());
  return std::nullopt;
}

std::optional<data_dir_error> load_signing_key(const fs::path& path, signing_key& out,
                                               struct timespec& modified) {
  file_contents file;
  if (auto error = read_secret_file(path, "an Ed25519 private key in PEM", file))
    return error;
  cleanse_on_exit wipe{file.bytes.data(), file.bytes.size()};
  modified = file.modified;
  bio_ptr bio(BIO_new_mem_buf(file.bytes.data(), static_cast<int>(file.bytes.size())));
  pkey_ptr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key)
    return error_at(path, "is not an unencrypted PEM private key: " + openssl_reason());
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
    return error_at(path, "is not an Ed25519 key (attestations are signed with EdDSA)");
  auto private_size = out.private_key.size();
  auto public_size = out.public_key.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), out.private_key.data(), &private_size) != 1 ||
      EVP_PKEY_get_raw_public_key(key.get(), out.public_key.data(), &public_size) != 1 ||
      private_size != out.private_key.size() || public_size != out.public_key.size())
    return error_at(path, "cannot read the key: " + openssl_reason());
  out.kid = signing_key_id(out.public_key);
  auto const expected_name = out.kid + std::string(pem_extension);
  if (path.filename() != expected_name) {
    // The file name is the kid the JWKS publishes; a mismatch would publish one kid and sign with
    // another, and every provider would reject the attestations.
    return error_at(path, "holds the key with id " + out.kid + "; rename it to " + expected_name);
  }
  return std::nullopt;
}

std::optional<data_dir_error> load_signing_key_files(const fs::path& dir,
                                                     std::vector<signing_key>& out) {
  std::error_code error_code;
  fs::directory_iterator entries(dir, error_code);
  if (error_code == std::errc::no_such_file_or_directory) {
    return error_at(dir, "missing" + std::string(demo_hint) +
                           " (an Ed25519 private key in PEM named KEY_ID.pem)");
  }
  if (error_code)
    return error_at(dir, "cannot list: " + error_code.message());

  struct loaded {
    signing_key key;
    struct timespec modified;
  };
  std::vector<loaded> keys;
  for (auto const& entry : entries) {
    auto const name = entry.path().filename().string();
    // Hidden files are temporary files of an interrupted write, and other names are not keys.
    if (name.starts_with(".") || !name.ends_with(pem_extension))
      continue;
    if (keys.size() == signing_keys_max) {
      return error_at(dir, "holds more than " + std::to_string(signing_keys_max) +
                             " keys; remove the retired ones");
    }
    loaded next{};
    if (auto error = load_signing_key(entry.path(), next.key, next.modified)) {
      for (auto& key : keys)
        OPENSSL_cleanse(key.key.private_key.data(), key.key.private_key.size());
      return error;
    }
    keys.push_back(std::move(next));
  }
  if (keys.empty()) {
    return error_at(dir, "holds no key" + std::string(demo_hint) +
                           " (an Ed25519 private key in PEM named KEY_ID.pem)");
  }
  std::sort(keys.begin(), keys.end(), [](const loaded& a, const loaded& b) {
    if (a.modified.tv_sec != b.modified.tv_sec)
      return a.modified.tv_sec > b.modified.tv_sec;
    if (a.modified.tv_nsec != b.modified.tv_nsec)
      return a.modified.tv_nsec > b.modified.tv_nsec;
    return a.key.kid < b.key.kid;
  });
  out.clear();
  for (auto& key : keys)
    out.push_back(std::move(key.key));
  return std::nullopt;
}

std::optional<data_dir_error> check_slugs(const fs::path& dir,
                                          std::span<const std::string> provider_slugs) {
  for (auto const& slug : provider_slugs) {
    // Checked here as well as in the options: the slug becomes a path, and "../x" must never.
    if (!core::is_valid_provider_slug(slug))
      return error_at(dir / providers_dir, "invalid provider slug \"" + slug + "\"");
  }
  return std::nullopt;
}

fs::path provider_secret_path(const fs::path& dir, const std::string& slug) {
  return dir / providers_dir / (slug + std::string(provider_secret_extension));
}

} // namespace

std::string to_string(const data_dir_error& error) {
  return error.path + ": " + error.message;
}

std::string signing_key_id(std::span<const std::uint8_t, 32> public_key) {
  auto const digest = core::sha256(
    std::string_view(reinterpret_cast<const char*>(public_key.data()), public_key.size()));
  return core::base64url_encode(std::span<const std::uint8_t>(digest.data(), 8));
}

std::optional<data_dir_error> add_signing_key(const fs::path& dir, std::string& kid) {
  if (auto error = make_directory(dir / signing_dir))
    return error;
  fs::path written;
  return write_signing_key(dir / signing_dir, written, kid);
}

std::optional<data_dir_error> load_signing_keys(const fs::path& dir,
                                                std::vector<signing_key>& out) {
  return load_signing_key_files(dir / signing_dir, out);
}

std::optional<data_dir_error> ensure_demo_secrets(const fs::path& dir,
                                                  std::span<const std::string> provider_slugs,
                                                  demo_result& out) {
  if (auto error = check_slugs(dir, provider_slugs))
    return error;
  if (auto error = make_directory(dir))
    return error;
  if (auto error = create_text_secret(dir / platform_key_file, platform_key_prefix, out))
    return error;
  if (auto error = create_text_secret(dir / admin_token_file, admin_token_prefix, out))
    return error;
  if (auto error = create_vault_key(dir / vault_key_file, out))
    return error;
  if (auto error = make_directory(dir / signing_dir))
    return error;
  if (auto error = create_signing_key(dir / signing_dir, out))
    return error;
  if (!provider_slugs.empty()) {
    if (auto error = make_directory(dir / providers_dir))
      return error;
  }
  for (auto const& slug : provider_slugs) {
    if (auto error =
          create_text_secret(provider_secret_path(dir, slug), provider_secret_prefix, out))
      return error;
  }
  return std::nullopt;
}

std::optional<data_dir_error> load_secrets(const fs::path& dir,
                                           std::span<const std::string> provider_slugs,
                                           secrets& out, vault_key_file_rule vault) {
  if (auto error = check_slugs(dir, provider_slugs))
    return error;
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) {
    if (errno == ENOENT)
      return error_at(dir, "data dir missing" + std::string(demo_hint) + " (--data-dir=DIR)");
    return errno_error(dir, "cannot inspect", errno);
  }
  if (!S_ISDIR(info.st_mode))
    return error_at(dir, "is not a directory");

  secrets loaded;
  if (auto error = load_text_secret(dir / platform_key_file, platform_key_prefix,
                                    "spk_ followed by at least 32 random characters",
                                    loaded.platform_key))
    return error;
  if (auto error = load_text_secret(dir / admin_token_file, admin_token_prefix,
                                    "sat_ followed by at least 32 random characters",
                                    loaded.admin_token))
    return error;
  std::error_code absent;
  if (vault == vault_key_file_rule::required ||
      fs::symlink_status(dir / vault_key_file, absent).type() != fs::file_type::not_found) {
    if (auto error = load_vault_key(dir / vault_key_file, loaded.vault_key))
      return error;
    loaded.vault_key_loaded = true;
  }
  if (auto error = load_signing_key_files(dir / signing_dir, loaded.signing_keys))
    return error;
  for (auto const& slug : provider_slugs) {
    provider_secret secret{slug, {}};
    // Providers may mint their own secrets, so no prefix is required of them, only the length.
    if (auto error = load_text_secret(
          provider_secret_path(dir, slug), "",
          "the HMAC secret shared with provider " + slug + ", at least 32 characters",
          secret.secret))
      return error;
    loaded.provider_secrets.push_back(std::move(secret));
  }
  out = std::move(loaded);
  return std::nullopt;
}

data_dir_lock& data_dir_lock::operator=(data_dir_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

data_dir_lock::~data_dir_lock() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::optional<data_dir_error> lock_data_dir(const fs::path& dir, data_dir_lock& out) {
  const auto path = dir / std::string(lock_file);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno_error(path, "cannot open the lock file", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error_number = errno;
    ::close(fd);
    if (error_number == EWOULDBLOCK)
      return error_at(path, "the data dir is in use by another stewardd; stop it first, or give "
                            "this one its own --data-dir");
    return errno_error(path, "cannot lock", error_number);
  }
  out = data_dir_lock(fd);
  return std::nullopt;
}

} // namespace steward::storage
