#include "actors/kill_switch.hpp"

#include "actors/actor_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

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

TEST(KillSwitch, AKillIsInForceAtOnceAndALiftOnlyOnceDurable) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  gated_journal journal(*sqlite);
  kill_switch kills({"acme", "other"}, &journal);
  ASSERT_FALSE(kills.load());

  journal.close_gate();
  change_result killed;
  kills.change("acme", true, test_now, killed.callback());
  EXPECT_TRUE(kills.provider("acme")) << "in force before it is durable";
  EXPECT_TRUE(kills.refuses("acme"));
  EXPECT_FALSE(kills.refuses("other"));
  journal.release();
  EXPECT_TRUE(killed.wait());

  change_result lifted;
  kills.change("acme", false, test_now, lifted.callback());
  EXPECT_TRUE(kills.provider("acme")) << "still killed until the lift is durable";
  journal.release();
  EXPECT_TRUE(lifted.wait());
  EXPECT_FALSE(kills.provider("acme"));
}

TEST(KillSwitch, AFailedAppendDoesNotBreakTheChainForTheNextKills) {
  temp_dir dir;
  auto sqlite = open_journal(dir);
  gated_journal journal(*sqlite);
  {
    kill_switch kills({"acme"}, &journal);
    ASSERT_FALSE(kills.load());
    journal.close_gate();
    change_result first;
    change_result second;
    kills.change("", true, test_now, first.callback());
    kills.change("acme", true, test_now, second.callback()); // chained after the first
    journal.fail(storage::journal_error::overloaded);
    EXPECT_FALSE(first.wait());
    EXPECT_FALSE(second.wait());
    EXPECT_TRUE(kills.global()) << "a kill stays in force when it could not be journaled";

    journal.open_gate();
    change_result retried;
    kills.change("", true, test_now + 1, retried.callback());
    EXPECT_TRUE(retried.wait()) << "the next kill continues the durable chain";
    change_result lifted;
    kills.change("", false, test_now + 2, lifted.callback());
    EXPECT_TRUE(lifted.wait());
    change_result provider;
    kills.change("acme", true, test_now + 3, provider.callback());
    EXPECT_TRUE(provider.wait());
  }
  auto verdict = sqlite->verify_stream(system_stream);
  ASSERT_TRUE(verdict);
  EXPECT_TRUE(verdict.value().valid);
  EXPECT_EQ(verdict.value().events, 3u);

  // A restart reads back what is durable: global lifted, acme killed.
  kill_switch restarted({"acme"}, sqlite.get());
  ASSERT_FALSE(restarted.load());
  EXPECT_FALSE(restarted.global());
  EXPECT_TRUE(restarted.provider("acme"));
}

} // namespace
} // namespace steward::actors
