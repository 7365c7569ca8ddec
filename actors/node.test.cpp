#include "actors/node.hpp"

#include "net/io_loop.hpp"

#include <caf/test/dsl.hpp>
#include <gtest/gtest.h>

namespace steward::actors {
namespace {

class null_stats final : public net::listener_stats {
public:
  void connection_opened() noexcept override {}
  void connection_closed() noexcept override {}
  void connection_rejected() noexcept override {}
  void request_done(std::uint32_t, std::uint16_t, std::uint64_t) noexcept override {}
  void timed_out(net::timeout_kind) noexcept override {}
  void late_reply() noexcept override {}
};

/// An io loop without a transport: it records wake-ups and hands out the reply queue, so the test
/// sees exactly what an io thread would receive from the actor.
class capture_loop final : public net::io_loop {
public:
  capture_loop() : io_loop(settings_, routes_, stats_) {}

  std::vector<net::reply_queue::entry> take() {
    std::vector<net::reply_queue::entry> out;
    replies_.take(out);
    return out;
  }
  int wakes = 0;

protected:
  void wake() noexcept override { ++wakes; }

private:
  static inline net::connection_settings settings_{};
  static inline net::route_table routes_{};
  static inline null_stats stats_{};
};

struct NodeActorTest : ::testing::Test, test_coordinator_fixture<> {
  capture_loop loop;
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
  auto replies = loop.take();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].connection, 42u);
  EXPECT_EQ(replies[0].sequence, 7u);
  EXPECT_EQ(replies[0].response.status, 200);
  EXPECT_EQ(replies[0].response.body, R"({"status":"ready"})");
}

TEST_F(NodeActorTest, AnswersOverloadedWhileDraining) {
  draining = true;
  ask(1, 0);
  sched.run();
  auto replies = loop.take();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].response.status, 503);
  EXPECT_EQ(replies[0].response.content_type, "application/problem+json");
  EXPECT_NE(replies[0].response.body.find(R"("code":"overloaded")"), std::string::npos);
}

TEST_F(NodeActorTest, ABatchOfRepliesWakesTheLoopOnce) {
  for (std::uint32_t i = 0; i < 5; ++i)
    ask(9, i);
  sched.run();
  EXPECT_EQ(loop.wakes, 1);
  auto replies = loop.take();
  ASSERT_EQ(replies.size(), 5u);
  for (std::uint32_t i = 0; i < 5; ++i)
    EXPECT_EQ(replies[i].sequence, i);
  // After the loop took the batch, the next reply wakes it again.
  ask(9, 5);
  sched.run();
  EXPECT_EQ(loop.wakes, 2);
}

} // namespace
} // namespace steward::actors
