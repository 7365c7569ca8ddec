#include "storage/kill_register.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace steward::storage {
namespace {

namespace fs = std::filesystem;

class KillRegister : public ::testing::Test {
protected:
  void SetUp() override {
    auto pattern = (fs::temp_directory_path() / "steward-kills-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<kill_register> open() {
    std::string error;
    auto opened = kill_register::open(dir_ / "kills.db", error);
    EXPECT_TRUE(opened) << error;
    return opened;
  }

  /// Writes and waits for the answer.
  static bool write(kill_register& kills, kill_record record) {
    std::promise<bool> answered;
    kills.write(std::move(record), [&](bool durable) { answered.set_value(durable); });
    return answered.get_future().get();
  }

  /// Erases and waits for the answer.
  static bool erase(kill_register& kills, kill_record record) {
    std::promise<bool> answered;
    kills.erase(std::move(record), [&](bool done) { answered.set_value(done); });
    return answered.get_future().get();
  }

  fs::path dir_;
};

TEST_F(KillRegister, AWriteIsThereAfterReopeningAndTheLastOneWins) {
  {
    auto kills = open();
    ASSERT_TRUE(kills);
    EXPECT_TRUE(kills->loaded().empty());
    EXPECT_TRUE(write(*kills, {"provider", "acme", true, 100}));
    EXPECT_TRUE(write(*kills, {"global", "", true, 101}));
    EXPECT_TRUE(write(*kills, {"provider", "acme", false, 102}));
    EXPECT_TRUE(write(*kills, {"provider", "other", true, 103}));
  }
  auto kills = open();
  ASSERT_TRUE(kills);
  const std::vector<kill_record> expected{
    {"global", "", true, 101}, {"provider", "acme", false, 102}, {"provider", "other", true, 103}};
  EXPECT_EQ(kills->loaded(), expected);
}

TEST_F(KillRegister, UserAndSessionKillsAreStoredBesideTheOthers) {
  {
    auto kills = open();
    ASSERT_TRUE(kills);
    EXPECT_TRUE(write(*kills, {"user", "usr_a", true, 100}));
    EXPECT_TRUE(write(*kills, {"session", "ses_b", true, 101}));
    EXPECT_TRUE(write(*kills, {"session", "ses_b", false, 102}));
    EXPECT_FALSE(write(*kills, {"team", "t", true, 103})) << "not a scope";
  }
  auto kills = open();
  ASSERT_TRUE(kills);
  const std::vector<kill_record> expected{{"session", "ses_b", false, 102},
                                          {"user", "usr_a", true, 100}};
  EXPECT_EQ(kills->loaded(), expected);
}

TEST_F(KillRegister, AnEraseRemovesARowOnlyInTheStateItNames) {
  {
    auto kills = open();
    ASSERT_TRUE(kills);
    EXPECT_TRUE(write(*kills, {"user", "usr_a", false, 100}));
    EXPECT_TRUE(write(*kills, {"user", "usr_b", true, 101}));
    EXPECT_TRUE(write(*kills, {"session", "ses_c", true, 102}));
    auto const commits = kills->commits();
    EXPECT_TRUE(erase(*kills, {"user", "usr_a", false, 0}));
    EXPECT_TRUE(erase(*kills, {"user", "usr_b", false, 0})) << "answered, but usr_b is killed: kept";
    EXPECT_TRUE(erase(*kills, {"user", "usr_none", true, 0})) << "no row: nothing to do";
    EXPECT_EQ(kills->commits(), commits + 3);
    // In the queue's order: a removal queued before a change does not remove that change.
    std::promise<bool> erased;
    std::promise<bool> written;
    kills->erase({"session", "ses_c", true, 0}, [&](bool done) { erased.set_value(done); });
    kills->write({"session", "ses_c", true, 103}, [&](bool durable) { written.set_value(durable); });
    EXPECT_TRUE(erased.get_future().get());
    EXPECT_TRUE(written.get_future().get());
    // And a change after a removal-only commit is durable again (the removal is fsynced with it).
    EXPECT_TRUE(write(*kills, {"user", "usr_d", true, 104}));
  }
  auto kills = open();
  ASSERT_TRUE(kills);
  const std::vector<kill_record> expected{
    {"session", "ses_c", true, 103}, {"user", "usr_b", true, 101}, {"user", "usr_d", true, 104}};
  EXPECT_EQ(kills->loaded(), expected);
}

TEST_F(KillRegister, AFileOfTheFirstVersionIsMigratedWithItsRows) {
  {
    // The file as the first version made it: its CHECK admits global and provider only.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "kills.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA journal_mode=WAL;"
                           "CREATE TABLE kills (scope TEXT NOT NULL CHECK (scope IN ('global', "
                           "'provider')), id TEXT NOT NULL, active INTEGER NOT NULL CHECK (active "
                           "IN (0, 1)), at INTEGER NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;"
                           "INSERT INTO kills VALUES ('provider', 'acme', 1, 50);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "INSERT INTO kills VALUES ('user', 'usr_a', 1, 51)", nullptr,
                           nullptr, nullptr),
              SQLITE_CONSTRAINT)
      << "the old CHECK";
    sqlite3_close(db);
  }
  {
    auto kills = open();
    ASSERT_TRUE(kills);
    const std::vector<kill_record> kept{{"provider", "acme", true, 50}};
    EXPECT_EQ(kills->loaded(), kept);
    EXPECT_TRUE(write(*kills, {"user", "usr_a", true, 51}));
  }
  auto kills = open(); // a second open finds version 1 and migrates nothing
  ASSERT_TRUE(kills);
  const std::vector<kill_record> expected{{"provider", "acme", true, 50},
                                          {"user", "usr_a", true, 51}};
  EXPECT_EQ(kills->loaded(), expected);
}

TEST_F(KillRegister, AFileOfANewerVersionIsRefused) {
  {
    auto kills = open();
    ASSERT_TRUE(kills);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "kills.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  std::string error;
  EXPECT_FALSE(kill_register::open(dir_ / "kills.db", error));
  EXPECT_NE(error.find("version 2"), std::string::npos) << error;
}

TEST_F(KillRegister, ConcurrentWritesAreAllAnsweredInFewCommits) {
  auto kills = open();
  ASSERT_TRUE(kills);
  constexpr int writers = 8;
  constexpr int each = 50;
  std::vector<std::thread> threads;
  std::atomic<int> durable{0};
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < each; ++i)
        if (write(*kills, {"provider", "p" + std::to_string(w), i % 2 == 0, i}))
          durable.fetch_add(1);
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(durable.load(), writers * each);
  EXPECT_LE(kills->commits(), static_cast<std::uint64_t>(writers * each));
  kills.reset();
  auto reopened = open();
  ASSERT_EQ(reopened->loaded().size(), static_cast<std::size_t>(writers));
  for (const auto& record : reopened->loaded()) {
    EXPECT_FALSE(record.active) << record.id << ": the last write (i = 49) lifted it";
    EXPECT_EQ(record.at, each - 1);
  }
}

TEST_F(KillRegister, StopAnswersWhatIsQueuedAndRefusesLaterWrites) {
  auto kills = open();
  ASSERT_TRUE(kills);
  std::vector<std::future<bool>> answers;
  std::vector<std::promise<bool>> promises(100);
  for (int i = 0; i < 100; ++i) {
    answers.push_back(promises[i].get_future());
    kills->write({"provider", "acme", true, i}, [&promises, i](bool ok) { promises[i].set_value(ok); });
  }
  kills->stop();
  for (auto& answer : answers)
    EXPECT_TRUE(answer.get()) << "queued before stop: committed";
  EXPECT_FALSE(write(*kills, {"global", "", true, 1})) << "after stop: refused at once";
}

TEST_F(KillRegister, AnUnknownScopeIsNotStored) {
  auto kills = open();
  ASSERT_TRUE(kills);
  EXPECT_FALSE(write(*kills, {"galaxy", "", true, 1}));
  EXPECT_TRUE(write(*kills, {"global", "", true, 2})) << "a failed commit leaves the register usable";
  kills.reset();
  auto reopened = open();
  ASSERT_EQ(reopened->loaded().size(), 1u);
  EXPECT_EQ(reopened->loaded()[0].scope, "global");
}

TEST_F(KillRegister, AnUnreadableFileIsNamedInTheError) {
  fs::create_directory(dir_ / "kills.db"); // a directory where the file should be
  std::string error;
  EXPECT_FALSE(kill_register::open(dir_ / "kills.db", error));
  EXPECT_NE(error.find("kills.db"), std::string::npos) << error;
}

} // namespace
} // namespace steward::storage
