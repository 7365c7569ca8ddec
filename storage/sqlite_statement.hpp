#pragma once

// Thin RAII wrappers over SQLite's C API shared by the journal and the kill register: a connection
// that closes itself, a prepared statement, and a guard that resets it on every path out of a scope.

#include "core/hash_chain.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace steward::storage::sqlite {

struct db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;

/// A prepared statement, reset and unbound by `reset_guard` after every use.
class statement {
public:
  statement() = default;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  /// Returns an SQLite result code.
  int prepare(sqlite3* db, const char* sql) noexcept {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }

  // Bound text and blobs are not copied (SQLITE_STATIC): they must outlive the step, which every
  // caller guarantees by resetting before the bound value goes away.
  void bind(int index, std::string_view text) noexcept {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void bind_blob(int index, std::span<const std::uint8_t> bytes) noexcept {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
  void bind_blob(int index, std::string_view bytes) noexcept {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
  void bind(int index, std::int64_t value) noexcept { sqlite3_bind_int64(stmt_, index, value); }

  int step() noexcept { return sqlite3_step(stmt_); }
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t column_int(int index) const noexcept { return sqlite3_column_int64(stmt_, index); }
  std::string_view column_bytes(int index) const noexcept {
    // Text and blob columns alike: the pointer first, then the size (SQLite's documented order).
    auto const* data = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
    auto const size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index));
    return data == nullptr ? std::string_view{} : std::string_view(data, size);
  }
  /// The column as a 32-byte hash, or nullopt when it has another size.
  std::optional<core::chain_hash> column_hash(int index) const noexcept {
    auto const bytes = column_bytes(index);
    core::chain_hash hash{};
    if (bytes.size() != hash.size())
      return std::nullopt;
    std::memcpy(hash.data(), bytes.data(), hash.size());
    return hash;
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement on every path out of a scope, so that it releases its read snapshot and
/// its bindings never outlive the values they point to.
class reset_guard {
public:
  explicit reset_guard(statement& s) noexcept : statement_(s) {}
  ~reset_guard() { statement_.reset(); }
  reset_guard(const reset_guard&) = delete;
  reset_guard& operator=(const reset_guard&) = delete;

private:
  statement& statement_;
};

/// Runs SQL without results (pragmas, DDL, transaction control at open).
inline int exec(sqlite3* db, const char* sql) noexcept {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

} // namespace steward::storage::sqlite
