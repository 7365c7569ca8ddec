#include "storage/wal_gather_vfs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;

/// One connection, closed at the end of the scope.
class connection {
public:
  connection(const fs::path& path, const char* vfs) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  }
  ~connection() { sqlite3_close(db_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int exec(const std::string& sql) {
    char* message = nullptr;
    auto const rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (message ? message : "");
    sqlite3_free(message);
    return rc;
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr), SQLITE_OK) << sql;
    std::int64_t value = -1;
    if (sqlite3_step(statement) == SQLITE_ROW)
      value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return value;
  }

  std::string text(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr), SQLITE_OK) << sql;
    std::string value;
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr)
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return value;
  }

  sqlite3* handle() const { return db_; }

private:
  sqlite3* db_ = nullptr;
};

/// The write-family system calls this process made so far (`syscw` of /proc/self/io).
std::int64_t write_calls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::int64_t value = 0;
  while (io >> key >> value)
    if (key == "syscw:")
      return value;
  return -1;
}

class WalGatherVfs : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-gather-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A writer through the VFS as the journal's: WAL, synchronous=FULL, no automatic checkpoint.
  std::unique_ptr<connection> writer(int cache_pages = 2000) {
    auto db = std::make_unique<connection>(path(), wal_gather_vfs());
    EXPECT_EQ(db->text("PRAGMA journal_mode=WAL"), "wal");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA wal_autocheckpoint=0");
    db->exec("PRAGMA cache_size=" + std::to_string(cache_pages));
    db->exec("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
    return db;
  }
  fs::path path() const { return dir_ / "gather.db"; }

  fs::path dir_;
};

TEST_F(WalGatherVfs, EveryCommitIsVisibleToAConnectionOfTheDefaultVfsAtOnce) {
  auto w = writer();
  connection reader(path(), nullptr);
  for (int i = 1; i <= 200; ++i) {
    // Rows of different sizes, and an update of earlier rows: frames appended and rewritten.
    w->exec("BEGIN IMMEDIATE");
    w->exec("INSERT INTO t (k, v) VALUES (" + std::to_string(i) + ", randomblob(" + std::to_string(100 + 37 * i) + "))");
    w->exec("UPDATE t SET v = zeroblob(length(v)) WHERE k % 7 = " + std::to_string(i % 7));
    w->exec("COMMIT");
    ASSERT_EQ(reader.scalar("SELECT count(*) FROM t"), i);
    ASSERT_EQ(reader.scalar("SELECT sum(length(v)) FROM t"), w->scalar("SELECT sum(length(v)) FROM t"));
  }
  EXPECT_EQ(reader.text("PRAGMA integrity_check"), "ok");
  // A checkpoint from the reader's side copies what the writer committed.
  EXPECT_EQ(reader.scalar("PRAGMA wal_checkpoint(PASSIVE)"), 0);
}

TEST_F(WalGatherVfs, AWriteCallPerCommitRatherThanTwoPerPage) {
  auto w = writer();
  auto const commit_pages = [&](int rows) {
    w->exec("BEGIN IMMEDIATE");
    for (int i = 0; i < rows; ++i)
      w->exec("INSERT INTO t (v) VALUES (randomblob(3000))"); // about a page each
    w->exec("COMMIT");
  };
  commit_pages(1); // the WAL's header and first frames
  auto const before = write_calls();
  ASSERT_GE(before, 0) << "/proc/self/io";
  for (int c = 0; c < 10; ++c)
    commit_pages(40);
  auto const gathered = write_calls() - before;

  // The same through the default VFS, for the ratio.
  w.reset();
  connection plain(path(), nullptr);
  plain.exec("PRAGMA synchronous=FULL");
  auto const plain_before = write_calls();
  for (int c = 0; c < 10; ++c) {
    plain.exec("BEGIN IMMEDIATE");
    for (int i = 0; i < 40; ++i)
      plain.exec("INSERT INTO t (v) VALUES (randomblob(3000))");
    plain.exec("COMMIT");
  }
  auto const direct = write_calls() - plain_before;
  // 40 pages and their index pages: two pieces of 31 pages at most (wal_gather_vfs.cpp).
  EXPECT_LE(gathered, 10 * 3) << "ten commits of about 40 pages";
  EXPECT_GE(direct, 10 * 40 * 2) << "two calls per frame without it";
}

TEST_F(WalGatherVfs, ATransactionLargerThanTheCacheReadsBackWhatItSpilled) {
  // 10 cache pages: the transaction spills frames to the WAL and reads some back before it commits.
  auto w = writer(10);
  connection reader(path(), nullptr);
  w->exec("BEGIN IMMEDIATE");
  for (int i = 1; i <= 300; ++i)
    w->exec("INSERT INTO t (k, v) VALUES (" + std::to_string(i) + ", randomblob(1500))");
  EXPECT_EQ(w->scalar("SELECT count(*) FROM t WHERE length(v) = 1500"), 300);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 0) << "nothing committed yet";
  w->exec("UPDATE t SET v = zeroblob(10) WHERE k <= 150");
  w->exec("COMMIT");
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 300);
  EXPECT_EQ(reader.scalar("SELECT sum(length(v)) FROM t"), 150 * 10 + 150 * 1500);

  // And a spilled transaction rolled back leaves nothing.
  w->exec("BEGIN IMMEDIATE");
  for (int i = 301; i <= 600; ++i)
    w->exec("INSERT INTO t (k, v) VALUES (" + std::to_string(i) + ", randomblob(1500))");
  w->exec("ROLLBACK");
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM t"), 300);
  EXPECT_EQ(w->scalar("SELECT count(*) FROM t"), 300);
}

TEST_F(WalGatherVfs, ASynchronousSettingThatSkipsCommitSyncsIsRefused) {
  auto w = writer();
  for (const char* refused : {"NORMAL", "1", "off", "0"}) {
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(w->handle(), (std::string("PRAGMA synchronous=") + refused).c_str(), nullptr,
                           nullptr, &message),
              SQLITE_ERROR)
      << refused;
    EXPECT_STREQ(message, "a connection that gathers its WAL writes must keep synchronous=FULL");
    sqlite3_free(message);
  }
  EXPECT_EQ(w->scalar("PRAGMA synchronous"), 2) << "still FULL";
  w->exec("PRAGMA synchronous=EXTRA");
  w->exec("PRAGMA synchronous=full");
  EXPECT_EQ(w->scalar("PRAGMA synchronous"), 2);
}

TEST_F(WalGatherVfs, ClosingWritesEverythingAndTheFileReopens) {
  {
    auto w = writer();
    for (int i = 1; i <= 50; ++i)
      w->exec("INSERT INTO t (k, v) VALUES (" + std::to_string(i) + ", randomblob(900))");
    // A restart of the WAL from the writer's side, then more: the header is written again.
    EXPECT_EQ(w->scalar("PRAGMA wal_checkpoint(RESTART)"), 0);
    for (int i = 51; i <= 60; ++i)
      w->exec("INSERT INTO t (k, v) VALUES (" + std::to_string(i) + ", randomblob(900))");
  }
  connection reopened(path(), wal_gather_vfs());
  EXPECT_EQ(reopened.scalar("SELECT count(*) FROM t"), 60);
  EXPECT_EQ(reopened.scalar("SELECT sum(length(v)) FROM t"), 60 * 900);
}

} // namespace
} // namespace steward::storage
