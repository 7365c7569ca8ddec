#include "actors/kill_switch.hpp"

#include "actors/actor_test_support.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <thread>

namespace steward::actors {
namespace {

using namespace testing;

/// Runs one change and waits for its durable/not-durable answer.
struct change_result {
  std::promise<bool> promise;
  std::future<bool> future = promise.get_future();
  std::function<void(bool)> callback() {
    return [this](bool durable) { promise.set_value(durable); };
  }
  bool wait() {
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  }
};

/// Waits (on real threads: the register's and the journal's) until `done` holds, 10 s at most.
template <class Predicate>
bool eventually(Predicate done) {
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

std::unique_ptr<storage::kill_register> open_register(const temp_dir& dir) {
  std::string error;
  auto opened = storage::kill_register::open(dir.path() / "kills.db", error);
  EXPECT_TRUE(opened) << error;
  return opened;
}

std::size_t system_events(storage::journal& journal) {
  auto events = journal.read_stream(system_stream, 1, 1000);
  return events ? events.value().size() : 0;
}

TEST(KillSwitch, AKillIsAckedOnceRegisteredWithoutWaitingForTheJournal) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  gated_journal journal(*sqlite);
  auto durable = open_register(dir);
  kill_switch kills({"acme", "other"}, durable.get(), &journal);
  ASSERT_FALSE(kills.load());

  journal.close_gate();
  change_result killed;
  kills.change("acme", true, test_now, killed.callback());
  EXPECT_TRUE(kills.provider("acme")) << "in force before anything is written";
  EXPECT_TRUE(kills.refuses("acme"));
  EXPECT_FALSE(kills.refuses("other"));
  EXPECT_TRUE(killed.wait()) << "acked while the journal holds nothing yet";
  ASSERT_TRUE(eventually([&] { return journal.held() == 1; })) << "then journaled for the audit";
  journal.release();
  ASSERT_TRUE(eventually([&] { return system_events(*sqlite) == 1; }));

  journal.open_gate();
  change_result lifted;
  kills.change("acme", false, test_now + 1, lifted.callback());
  EXPECT_TRUE(lifted.wait());
  EXPECT_FALSE(kills.provider("acme"));
  ASSERT_TRUE(eventually([&] { return system_events(*sqlite) == 2; }));
}

/// A scoped change's answer: durable, and the change's version.
struct scoped_result {
  std::promise<std::pair<bool, std::uint64_t>> promise;
  std::future<std::pair<bool, std::uint64_t>> future = promise.get_future();
  std::function<void(bool, std::uint64_t)> callback() {
    return [this](bool durable, std::uint64_t version) { promise.set_value({durable, version}); };
  }
  std::pair<bool, std::uint64_t> wait() {
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  }
};

TEST(KillSwitch, ASettledScopedKillLeavesTheRegisterOnlyAsItsLastChange) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  {
    auto durable = open_register(dir);
    kill_switch kills({"acme"}, durable.get(), sqlite.get());
    ASSERT_FALSE(kills.load());

    scoped_result first;
    kills.change_scoped(kill_switch::user_scope, "usr_a", true, test_now, first.callback());
    auto const [first_durable, v1] = first.wait();
    ASSERT_TRUE(first_durable);
    ASSERT_TRUE(kills.user_killed("usr_a"));
    EXPECT_EQ(kills.scoped(kill_switch::user_scope, "usr_a")->version, v1);

    // A lift came after: settling the kill the stream shows would drop the lift. Nothing happens.
    scoped_result lift;
    kills.change_scoped(kill_switch::user_scope, "usr_a", false, test_now + 1, lift.callback());
    auto const [lift_durable, v2] = lift.wait();
    ASSERT_TRUE(lift_durable);
    EXPECT_GT(v2, v1);
    kills.settle(kill_switch::user_scope, "usr_a", {true, v1});
    ASSERT_TRUE(kills.scoped(kill_switch::user_scope, "usr_a"));
    EXPECT_FALSE(kills.user_killed("usr_a"));
    kills.settle(kill_switch::user_scope, "usr_a", {true, v2}); // the version, with another state
    ASSERT_TRUE(kills.scoped(kill_switch::user_scope, "usr_a"));

    // The stream shows the lift: forgotten here, and its row removed.
    kills.settle(kill_switch::user_scope, "usr_a", {false, v2});
    EXPECT_FALSE(kills.scoped(kill_switch::user_scope, "usr_a"));
    ASSERT_TRUE(eventually([&] { return kills.settled() == 1; }));

    // A session's kill settled while in force: the ledger alone holds it from then on.
    scoped_result session;
    kills.change_scoped(kill_switch::session_scope, "ses_b", true, test_now, session.callback());
    auto const [session_durable, v3] = session.wait();
    ASSERT_TRUE(session_durable);
    kills.settle(kill_switch::session_scope, "ses_b", {true, v3});
    EXPECT_FALSE(kills.session_killed("ses_b"));
    ASSERT_TRUE(eventually([&] { return kills.settled() == 2; }));

    // One that is still being written is not settled, whatever the version says. Another
    // connection holds the register's write lock meanwhile, so the write cannot have finished.
    sqlite3* blocker = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "kills.db").c_str(), &blocker), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    scoped_result held;
    kills.change_scoped(kill_switch::user_scope, "usr_c", true, test_now, held.callback());
    auto const v4 = kills.scoped(kill_switch::user_scope, "usr_c")->version;
    kills.settle(kill_switch::user_scope, "usr_c", {true, v4});
    EXPECT_TRUE(kills.scoped(kill_switch::user_scope, "usr_c"));
    ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(blocker);
    ASSERT_TRUE(held.wait().first);
    scoped_result after;
    kills.change_scoped(kill_switch::user_scope, "usr_e", true, test_now, after.callback());
    ASSERT_TRUE(after.wait().first);
    EXPECT_EQ(kills.settled(), 2u) << "usr_c was being written when settle was called";
    durable->stop();
  }
  // The register keeps only what the streams may not show: usr_c's and usr_e's kills.
  auto durable = open_register(dir);
  const std::vector<storage::kill_record> expected{{"user", "usr_c", true, test_now},
                                                   {"user", "usr_e", true, test_now}};
  EXPECT_EQ(durable->loaded(), expected);
  kill_switch restarted({"acme"}, durable.get(), sqlite.get());
  ASSERT_FALSE(restarted.load());
  EXPECT_TRUE(restarted.user_killed("usr_c"));
  EXPECT_FALSE(restarted.scoped(kill_switch::user_scope, "usr_a"));
  EXPECT_FALSE(restarted.scoped(kill_switch::session_scope, "ses_b"));
}

TEST(KillSwitch, AKillTheJournalMissedIsJournaledAtTheNextStart) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  gated_journal journal(*sqlite);
  {
    auto durable = open_register(dir);
    kill_switch kills({"acme", "other"}, durable.get(), &journal);
    ASSERT_FALSE(kills.load());
    journal.close_gate();
    change_result global;
    change_result acme;
    kills.change("", true, test_now, global.callback());
    kills.change("acme", true, test_now, acme.callback());
    EXPECT_TRUE(global.wait());
    EXPECT_TRUE(acme.wait());
    ASSERT_TRUE(eventually([&] { return journal.held() == 2; }));
    journal.fail(storage::journal_error::io_error); // as if the process died before the journal
    EXPECT_EQ(kills.audit_failures(), 2u);
    EXPECT_TRUE(kills.global()) << "a kill stays in force when it could not be journaled";

    journal.open_gate();
    change_result other;
    kills.change("other", true, test_now + 1, other.callback());
    EXPECT_TRUE(other.wait());
    ASSERT_TRUE(eventually([&] { return system_events(*sqlite) == 1; }))
      << "the next change continues the durable chain";
  }

  auto durable = open_register(dir);
  kill_switch restarted({"acme", "other"}, durable.get(), sqlite.get());
  ASSERT_FALSE(restarted.load());
  EXPECT_TRUE(restarted.global());
  EXPECT_TRUE(restarted.provider("acme"));
  EXPECT_TRUE(restarted.provider("other"));
  EXPECT_EQ(system_events(*sqlite), 3u) << "the two missed kills are journaled now";
  auto verdict = sqlite->verify_stream(system_stream);
  ASSERT_TRUE(verdict);
  EXPECT_TRUE(verdict.value().valid);
  auto outbox = sqlite->read_outbox(0, 100);
  ASSERT_TRUE(outbox);
  EXPECT_EQ(outbox.value().size(), 3u) << "each kill.activated webhook is queued once";

  // A second start finds nothing to reconcile.
  kill_switch again({"acme", "other"}, durable.get(), sqlite.get());
  ASSERT_FALSE(again.load());
  EXPECT_EQ(system_events(*sqlite), 3u);
}

TEST(KillSwitch, AJournaledKillFromBeforeTheRegisterIsAdopted) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  {
    auto durable = open_register(dir);
    kill_switch kills({"acme"}, durable.get(), sqlite.get());
    ASSERT_FALSE(kills.load());
    change_result killed;
    kills.change("acme", true, test_now, killed.callback());
    ASSERT_TRUE(killed.wait());
    ASSERT_TRUE(eventually([&] { return system_events(*sqlite) == 1; }));
  }
  // A data dir written before the register existed: only the journal knows the kill.
  std::filesystem::remove(dir.path() / "kills.db");
  std::filesystem::remove(dir.path() / "kills.db-wal");
  std::filesystem::remove(dir.path() / "kills.db-shm");
  {
    auto durable = open_register(dir);
    ASSERT_TRUE(durable->loaded().empty());
    kill_switch kills({"acme"}, durable.get(), sqlite.get());
    ASSERT_FALSE(kills.load());
    EXPECT_TRUE(kills.provider("acme"));
  }
  auto durable = open_register(dir);
  ASSERT_EQ(durable->loaded().size(), 1u) << "copied into the register at start";
  EXPECT_TRUE(durable->loaded()[0].active);
  EXPECT_EQ(durable->loaded()[0].id, "acme");
  EXPECT_EQ(system_events(*sqlite), 1u) << "nothing journaled twice";
}

} // namespace
} // namespace steward::actors
