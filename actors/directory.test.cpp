#include "actors/directory.hpp"

#include "actors/actor_test_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace steward::actors {
namespace {

using namespace testing;

TEST(DirectoryShardIndex, IsStableAndInRange) {
  const std::string user = test_id(core::id_kind::user, 42);
  EXPECT_EQ(shard_index(user, 4), shard_index(user, 4));
  EXPECT_EQ(shard_index(user, 1), 0u);
  // FNV-1a of "" is its offset basis: pinned so that the mapping never changes silently.
  EXPECT_EQ(shard_index("", 1000), 14695981039346656037ull % 1000);
  std::vector<int> used(4, 0);
  for (std::uint64_t n = 0; n < 400; ++n)
    ++used[shard_index(test_id(core::id_kind::user, n), 4)];
  for (int count : used)
    EXPECT_GT(count, 50); // spread over every shard
}

/// A real actor system, because the point is concurrency: first messages for one user race from
/// two threads (and through several shards' worth of other traffic).
struct DirectoryTest : ::testing::Test {
  temp_dir dir;
  std::unique_ptr<storage::sqlite_journal> sqlite = open_journal(dir);
  gated_journal journal{*sqlite};
  loader_pool loader{2};
  capture_loop loop;
  user_counters counters;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system = std::make_unique<caf::actor_system>(cfg);
  directory users{*system, make_config()};

  directory_config make_config() {
    directory_config out;
    out.shards = 4;
    out.journal = &journal;
    out.loader = &loader;
    out.clock = [] { return test_now; };
    out.counters = &counters;
    return out;
  }

  ~DirectoryTest() override {
    users.stop();
    system.reset(); // waits for every actor, before the journal and the loader go
  }

  const net::http_response* await(std::uint32_t sequence) {
    wait_until([&] { return loop.reply(sequence) != nullptr; }, [] { return false; });
    return loop.reply(sequence);
  }
};

TEST_F(DirectoryTest, ConcurrentFirstMessagesActivateTheUserOnce) {
  for (int round = 0; round < 20; ++round) {
    const std::string user = test_id(core::id_kind::user, 1000 + round);
    const std::string token = test_id(core::id_kind::payment_token, 1000 + round);
    const auto base = static_cast<std::uint32_t>(round * 10);
    std::thread first([&] {
      users.send(token_request(user, token, 5000, net::responder(&loop, 1, base)));
    });
    std::thread second([&] { users.send(spend_request{user, net::responder(&loop, 1, base + 1)}); });
    first.join();
    second.join();
    ASSERT_NE(await(base), nullptr);
    ASSERT_NE(await(base + 1), nullptr);
    EXPECT_EQ(loop.reply(base)->status, 201) << loop.reply(base)->body;
    EXPECT_EQ(loop.reply(base + 1)->status, 200);
    // Later messages reach the same activation: the token it created is there.
    users.send(charge(user, token, 1000 + round, 100, "k", net::responder(&loop, 1, base + 2)));
    ASSERT_NE(await(base + 2), nullptr);
    EXPECT_EQ(loop.reply(base + 2)->status, 201) << loop.reply(base + 2)->body;
  }
  EXPECT_EQ(counters.activations.load(), 20u);
}

TEST_F(DirectoryTest, AUserStoppedByAJournalFailureIsReactivatedFromDurableState) {
  const std::string user = test_id(core::id_kind::user, 5);
  const std::string token = test_id(core::id_kind::payment_token, 5);
  users.send(token_request(user, token, 1'000'000, net::responder(&loop, 1, 0)));
  ASSERT_NE(await(0), nullptr);
  ASSERT_EQ(loop.reply(0)->status, 201);
  users.send(charge(user, token, 1, 300, "k1", net::responder(&loop, 1, 1)));
  ASSERT_NE(await(1), nullptr);
  ASSERT_EQ(loop.reply(1)->status, 201);

  journal.close_gate();
  users.send(charge(user, token, 2, 400, "k2", net::responder(&loop, 1, 2)));
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; }, [] { return false; }));
  // Sent while the append is held: the shard forwards it to the same activation, which answers
  // it 503 once the journal failed (it is never lost between the two activations).
  users.send(charge(user, token, 3, 500, "k3", net::responder(&loop, 1, 3)));
  journal.open_gate();
  journal.fail(storage::journal_error::io_error);
  ASSERT_NE(await(2), nullptr);
  EXPECT_EQ(loop.reply(2)->status, 503);
  ASSERT_NE(await(3), nullptr);
  EXPECT_EQ(loop.reply(3)->status, 503); // forwarded to the failing activation
  ASSERT_TRUE(wait_until([&] { return counters.stopped.load() == 1; }, [] { return false; }));

  // The next message re-activates the user from the journal: the failed 400 is not there.
  ASSERT_TRUE(wait_until(
    [&] {
      const auto sequence = static_cast<std::uint32_t>(100 + loop.all.size());
      users.send(spend_request{user, net::responder(&loop, 1, sequence)});
      auto* spend = await(sequence);
      return spend != nullptr && spend->status == 200;
    },
    [] { return false; }));
  EXPECT_EQ(counters.activations.load(), 2u);
  users.send(charge(user, token, 4, 400, "k2", net::responder(&loop, 1, 4)));
  ASSERT_NE(await(4), nullptr);
  EXPECT_EQ(loop.reply(4)->status, 201) << loop.reply(4)->body;
  users.send(spend_request{user, net::responder(&loop, 1, 5)});
  ASSERT_NE(await(5), nullptr);
  EXPECT_TRUE(contains(loop.reply(5)->body, R"("spent":{"amount":700,"currency":"usd"})"))
    << loop.reply(5)->body;
  auto verification = sqlite->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
}

} // namespace
} // namespace steward::actors
