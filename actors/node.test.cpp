#include "actors/node.hpp"

#include "actors/actor_test_support.hpp"

#include <caf/test/dsl.hpp>
#include <gtest/gtest.h>

namespace steward::actors {
namespace {

struct NodeActorTest : ::testing::Test, test_coordinator_fixture<> {
  testing::capture_loop loop;
  std::atomic<bool> draining{false};
  mailbox_counter mailbox;
  node_actor node = spawn_node(sys, node_config{&draining, &mailbox});

  void ask(std::uint64_t connection, std::uint32_t sequence) {
    mailbox.sent();
    caf::anon_send(node, readiness_atom::value, net::responder(&loop, connection, sequence));
  }
};

TEST_F(NodeActorTest, AnswersReadyToTheRequestsConnectionAndSlot) {
  ask(42, 7);
  EXPECT_EQ(mailbox.depth(), 1);
  sched.run();
  EXPECT_EQ(mailbox.depth(), 0);
  ASSERT_EQ(loop.collect(), 1u);
  const auto& replies = loop.all;
  EXPECT_EQ(replies[0].connection, 42u);
  EXPECT_EQ(replies[0].sequence, 7u);
  EXPECT_EQ(replies[0].response.status, 200);
  EXPECT_EQ(replies[0].response.body, R"({"status":"ready"})");
}

TEST_F(NodeActorTest, AnswersOverloadedWhileDraining) {
  draining = true;
  ask(1, 0);
  sched.run();
  ASSERT_EQ(loop.collect(), 1u);
  const auto& replies = loop.all;
  EXPECT_EQ(replies[0].response.status, 503);
  EXPECT_EQ(replies[0].response.content_type, "application/problem+json");
  EXPECT_NE(replies[0].response.body.find(R"("code":"overloaded")"), std::string::npos);
}

TEST_F(NodeActorTest, ABatchOfRepliesWakesTheLoopOnce) {
  for (std::uint32_t i = 0; i < 5; ++i)
    ask(9, i);
  sched.run();
  EXPECT_EQ(loop.wakes, 1);
  ASSERT_EQ(loop.collect(), 5u);
  const auto& replies = loop.all;
  for (std::uint32_t i = 0; i < 5; ++i)
    EXPECT_EQ(replies[i].sequence, i);
  // After the loop took the batch, the next reply wakes it again.
  ask(9, 5);
  sched.run();
  EXPECT_EQ(loop.wakes, 2);
  EXPECT_EQ(loop.collect(), 6u);
}

} // namespace
} // namespace steward::actors
