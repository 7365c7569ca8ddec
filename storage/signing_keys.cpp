#include "storage/signing_keys.hpp"

#include "core/limits.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace steward::storage {

namespace fs = std::filesystem;

// Every key the data dir may hold must fit in one published JWKS.
static_assert(signing_keys_max <= core::limits::jwks_keys_max);

namespace {

data_dir_error error_at(const fs::path& path, std::string message) {
  return data_dir_error{path.string(), std::move(message)};
}

data_dir_error errno_error(const fs::path& path, std::string_view action, int error_number) {
  return error_at(path, std::string(action) + ": " + std::strerror(error_number));
}

fs::path key_path(const fs::path& dir, std::string_view kid) {
  return dir / signing_dir / (std::string(kid) + ".pem");
}

bool modified_after(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

std::optional<data_dir_error> fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error(dir, "cannot open directory to sync it", errno);
  const int result = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (result != 0) return errno_error(dir, "cannot sync directory", saved);
  return std::nullopt;
}

/// Gives `path` a modification time one second after `newest` and makes that durable.
std::optional<data_dir_error> touch_after(const fs::path& path, const struct timespec& newest) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno_error(path, "cannot open to set its time", errno);
  const struct timespec times[2] = {{0, UTIME_OMIT}, {newest.tv_sec + 1, newest.tv_nsec}};
  const bool ok = ::futimens(fd, times) == 0 && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) return errno_error(path, "cannot set its modification time", saved);
  return std::nullopt;
}

} // namespace

std::optional<data_dir_error> signing_key_ring::make(std::span<const signing_key> keys,
                                                     std::int64_t signing_since,
                                                     std::optional<signing_key_ring>& out) {
  const fs::path where(signing_dir);
  if (keys.empty()) return error_at(where, "no signing key to sign attestations with");
  if (keys.size() > core::limits::jwks_keys_max)
    return error_at(where, "more signing keys than a JWKS may publish; retire old ones");
  auto signer = core::jws_signing_key::from_private_key(keys.front().kid, keys.front().private_key);
  if (!signer) return error_at(key_path("", keys.front().kid), "OpenSSL refuses this key");
  core::jwk_set published;
  for (const signing_key& key : keys) {
    if (!published.add(key.kid, key.public_key))
      return error_at(key_path("", key.kid), "cannot publish this key (duplicate or invalid)");
  }
  // The signer's public key must be the one published under its kid, or every attestation would
  // fail to verify; data_dir derives both from the same file, so this is a consistency check.
  if (signer->public_key() != published.keys().front().x)
    return error_at(key_path("", keys.front().kid), "public key does not match the private key");
  std::string document = core::build_jwks(published.keys());
  out.emplace(
    signing_key_ring(std::move(*signer), std::move(published), std::move(document), signing_since));
  return std::nullopt;
}

std::vector<std::string> signing_key_ring::retirable(std::int64_t now) const {
  std::vector<std::string> kids;
  if (now - signing_since_ <=
      core::limits::attestation_lifetime_seconds_max + core::limits::attestation_leeway_seconds)
    return kids;
  for (const core::public_jwk& key : published_.keys())
    if (key.kid != signer_.kid()) kids.push_back(key.kid);
  return kids;
}

std::optional<data_dir_error> rotate_signing_key(const fs::path& dir, std::string& kid) {
  std::vector<signing_key> existing;
  if (auto error = load_signing_keys(dir, existing)) return error;
  if (existing.size() >= signing_keys_max) {
    return error_at(dir / signing_dir, "already holds " + std::to_string(existing.size()) +
                                         " keys, the most that load; retire old ones first");
  }
  struct stat newest {};
  const fs::path newest_path = key_path(dir, existing.front().kid);
  if (::stat(newest_path.c_str(), &newest) != 0)
    return errno_error(newest_path, "cannot inspect", errno);

  if (auto error = add_signing_key(dir, kid)) return error;
  const fs::path path = key_path(dir, kid);
  struct stat added {};
  if (::stat(path.c_str(), &added) != 0) return errno_error(path, "cannot inspect", errno);
  // A clock that stepped back (or an old key copied in with a future time) would otherwise make
  // the new key sort after the current signer, and the rotation would silently not happen.
  if (!modified_after(added.st_mtim, newest.st_mtim)) {
    if (auto error = touch_after(path, newest.st_mtim)) return error;
  }

  std::vector<signing_key> after;
  if (auto error = load_signing_keys(dir, after)) return error;
  if (after.front().kid != kid)
    return error_at(path, "was written but does not sort as the newest key");
  return std::nullopt;
}

std::optional<data_dir_error> retire_signing_keys(const fs::path& dir, const signing_key_ring& ring,
                                                  std::int64_t now,
                                                  std::vector<std::string>& removed) {
  removed.clear();
  for (const std::string& kid : ring.retirable(now)) {
    const fs::path path = key_path(dir, kid);
    if (::unlink(path.c_str()) == 0)
      removed.push_back(kid);
    else if (errno != ENOENT)
      return errno_error(path, "cannot delete", errno);
  }
  if (removed.empty()) return std::nullopt;
  return fsync_directory(dir / signing_dir);
}

} // namespace steward::storage
