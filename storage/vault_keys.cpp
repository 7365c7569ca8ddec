#include "storage/vault_keys.hpp"

#include "core/base64url.hpp"
#include "core/hex.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"
#include "storage/data_dir.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace steward::storage {

namespace {

namespace fs = std::filesystem;

using key_bytes = std::array<std::uint8_t, core::vault_key_bytes>;
static_assert(vault_key_bytes == core::vault_key_bytes,
              "DIR/vault.key (data_dir.hpp) holds exactly one sealing key");

constexpr std::size_t hex_chars = 2 * core::vault_key_bytes;
constexpr std::size_t base64url_chars = (core::vault_key_bytes * 4 + 2) / 3; // 43

/// Wipes a buffer of key material on every way out of a scope.
struct wipe_on_exit {
  void* data;
  std::size_t size;
  ~wipe_on_exit() { OPENSSL_cleanse(data, size); }
};

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};


bool parse_hex(std::string_view text, key_bytes& out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = core::hex_value(text[2 * i]);
    const int low = core::hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return true;
}

// 43 characters carry 258 bits; the last character's two low bits must be zero, so that each key
// has exactly one spelling.
bool parse_base64url(std::string_view text, key_bytes& out) {
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t filled = 0;
  for (char c : text) {
    const int value = core::base64url_value(c);
    if (value < 0) return false;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[filled++] = static_cast<std::uint8_t>((buffer >> bits) & 0xFF);
    }
  }
  const bool canonical = (buffer & ((1u << bits) - 1)) == 0;
  OPENSSL_cleanse(&buffer, sizeof buffer);
  return filled == out.size() && canonical;
}

// Why `text` is not a key, or empty when it is one (then `out` holds it).
std::string parse_key_text(std::string_view text, key_bytes& out) {
  bool parsed = false;
  if (text.size() == hex_chars)
    parsed = parse_hex(text, out);
  else if (text.size() == base64url_chars)
    parsed = parse_base64url(text, out);
  if (!parsed) {
    OPENSSL_cleanse(out.data(), out.size());
    return "must be 64 hex digits or 43 unpadded base64url characters (32 random bytes), got " +
           std::to_string(text.size()) + " characters that are neither; create one with: openssl "
                                         "rand -hex 32";
  }
  if (std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }))
    return "is all zeros, a placeholder rather than a key; create one with: openssl rand -hex 32";
  return {};
}

vault_key_error retired_error(const fs::path& path, std::string message) {
  return {vault_key_failure::retired_key_invalid, path.string(), std::move(message)};
}

// Reads one retired key under the rules of every secret file (storage/data_dir.hpp): checked on
// the open descriptor, a regular file, private to its owner, exactly 32 bytes.
std::optional<vault_key_error> read_retired_key(const fs::path& path, key_bytes& out) {
  // O_NONBLOCK: a FIFO planted in place of a key must not hang start-up.
  const fd_guard guard{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (guard.fd < 0)
    return retired_error(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(guard.fd, &info) != 0)
    return retired_error(path, std::string("cannot inspect: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return retired_error(path, "is not a regular file");
  if ((info.st_mode & 077) != 0) {
    return retired_error(path, "lets group or others at this key; run chmod 600 " +
                                 path.string());
  }
  // One byte more than a key, to tell "exactly 32" from "at least 32".
  std::array<std::uint8_t, core::vault_key_bytes + 1> buffer{};
  const wipe_on_exit wipe{buffer.data(), buffer.size()};
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const auto result = ::read(guard.fd, buffer.data() + filled, buffer.size() - filled);
    if (result < 0 && errno == EINTR) continue;
    if (result < 0)
      return retired_error(path, std::string("cannot read: ") + std::strerror(errno));
    if (result == 0) break;
    filled += static_cast<std::size_t>(result);
  }
  if (filled != core::vault_key_bytes) {
    return retired_error(path, "must be exactly 32 raw bytes, like vault.key, found " +
                                 (filled > core::vault_key_bytes ? std::string("more")
                                                                 : std::to_string(filled)));
  }
  std::copy_n(buffer.begin(), out.size(), out.begin());
  return std::nullopt;
}

std::optional<vault_key_error> load_retired_keys(const fs::path& dir,
                                                 std::vector<core::vault_key>& out) {
  std::error_code error_code;
  const fs::file_status status = fs::status(dir, error_code);
  if (status.type() == fs::file_type::not_found) return std::nullopt; // no retired keys
  if (error_code)
    return retired_error(dir, "cannot inspect: " + error_code.message());
  if (!fs::is_directory(status)) return retired_error(dir, "is not a directory");

  std::vector<fs::path> files;
  for (fs::directory_iterator entries(dir, error_code), end; !error_code && entries != end;
       entries.increment(error_code)) {
    const std::string name = entries->path().filename().string();
    // Hidden files are temporary files of an interrupted copy, and other names are not keys.
    if (name.starts_with(".") || !name.ends_with(vault_retired_extension)) continue;
    if (files.size() == core::limits::vault_retired_keys_max) {
      return vault_key_error{vault_key_failure::too_many_retired_keys, dir.string(),
                             "holds more than " +
                               std::to_string(core::limits::vault_retired_keys_max) +
                               " keys; reseal what they opened and remove the oldest"};
    }
    files.push_back(entries->path());
  }
  if (error_code) return retired_error(dir, "cannot list: " + error_code.message());
  // Sorted, so that the ring's order (and so every log of it) does not depend on the file system.
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    key_bytes bytes{};
    const wipe_on_exit wipe{bytes.data(), bytes.size()};
    if (auto error = read_retired_key(file, bytes)) return error;
    out.emplace_back(bytes);
  }
  return std::nullopt;
}

} // namespace

std::string to_string(const vault_key_error& error) { return error.where + ": " + error.message; }

// --- The ring ------------------------------------------------------------------------------------

vault_key_ring::vault_key_ring(const core::vault_key& current,
                               std::span<const core::vault_key> retired) {
  add(current);
  for (const core::vault_key& key : retired) add(key);
}

void vault_key_ring::add(const core::vault_key& key) {
  if (find(key.id()) == nullptr) keys_.push_back(key);
}

const core::vault_key& vault_key_ring::current() const noexcept {
  STEWARD_ASSERT(!keys_.empty() && "the vault key ring was never loaded");
  return keys_.front();
}

const core::vault_key* vault_key_ring::find(const core::vault_key_id& id) const noexcept {
  for (const core::vault_key& key : keys_)
    if (key.id() == id) return &key;
  return nullptr;
}

core::sealed_result vault_key_ring::seal(std::string_view plaintext,
                                         std::string_view associated_data,
                                         const core::random_fill& random) const {
  return core::seal(plaintext, current(), associated_data, random);
}

core::opened_result vault_key_ring::open(std::span<const std::uint8_t> blob,
                                         std::string_view associated_data) const {
  return core::open(blob, keys_, associated_data);
}

bool vault_key_ring::needs_reseal(std::span<const std::uint8_t> blob) const noexcept {
  const std::optional<core::vault_key_id> id = core::sealed_key_id(blob);
  return !id || keys_.empty() || *id != keys_.front().id();
}

core::sealed_result vault_key_ring::reseal(std::span<const std::uint8_t> blob,
                                           std::string_view associated_data,
                                           const core::random_fill& random) const {
  return core::reseal(blob, keys_, current(), associated_data, random);
}

// --- Loading -------------------------------------------------------------------------------------

std::optional<std::string_view> vault_key_from_environment() {
  // Read once at start-up, before any thread that could call setenv exists.
  const char* value = std::getenv(vault_key_environment.data()); // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr) return std::nullopt;
  return std::string_view(value);
}

std::optional<core::vault_key> parse_vault_key_text(std::string_view text) {
  key_bytes bytes{};
  const wipe_on_exit wipe{bytes.data(), bytes.size()};
  if (!parse_key_text(text, bytes).empty()) return std::nullopt;
  return core::vault_key(bytes);
}

std::optional<vault_key_error> load_vault_keys(const vault_key_sources& sources,
                                               vault_key_ring& out) {
  std::optional<core::vault_key> current;
  std::vector<core::vault_key> others;
  if (sources.environment) {
    key_bytes bytes{};
    const wipe_on_exit wipe{bytes.data(), bytes.size()};
    std::string problem = parse_key_text(*sources.environment, bytes);
    if (!problem.empty()) {
      return vault_key_error{vault_key_failure::malformed_environment,
                             std::string(vault_key_environment), std::move(problem)};
    }
    current.emplace(bytes);
    if (sources.file_key) others.emplace_back(*sources.file_key);
  } else if (sources.file_key) {
    current.emplace(*sources.file_key);
  } else {
    const fs::path dir = sources.data_dir.empty() ? fs::path("DIR") : sources.data_dir;
    return vault_key_error{vault_key_failure::missing, "vault key",
                           "none configured; set " + std::string(vault_key_environment) +
                             " or create " + (dir / "vault.key").string() +
                             " (32 random bytes, mode 0600)"};
  }
  if (!sources.data_dir.empty()) {
    if (auto error = load_retired_keys(sources.data_dir / vault_retired_dir, others)) return error;
  }
  out = vault_key_ring(*current, others);
  return std::nullopt;
}

} // namespace steward::storage
