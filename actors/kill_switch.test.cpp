#include "actors/kill_switch.hpp"

#include "actors/actor_test_support.hpp"

#include <gtest/gtest.h>

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
