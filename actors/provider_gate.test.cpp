#include "actors/provider_gate.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace steward::actors {
namespace {

using admission = provider_gate::admission;

TEST(provider_gate, admits_up_to_the_bound_and_a_released_place_admits_again) {
  provider_gate gate(2);
  gate.add("ref");
  provider_gate::ticket a, b, c;
  EXPECT_EQ(gate.try_enter("ref", a), admission::admitted);
  EXPECT_EQ(gate.try_enter("ref", b), admission::admitted);
  EXPECT_EQ(gate.try_enter("ref", c), admission::full);
  EXPECT_FALSE(c.held());
  EXPECT_EQ(gate.in_flight("ref"), 2u);
  EXPECT_EQ(gate.refused("ref"), 1u);
  a = provider_gate::ticket{}; // a flow erased: its place goes back
  EXPECT_EQ(gate.in_flight("ref"), 1u);
  EXPECT_EQ(gate.try_enter("ref", c), admission::admitted);
  EXPECT_EQ(gate.in_flight("ref"), 2u);
}

TEST(provider_gate, a_moved_ticket_is_given_back_once) {
  provider_gate gate(4);
  gate.add("ref");
  {
    provider_gate::ticket a;
    ASSERT_EQ(gate.try_enter("ref", a), admission::admitted);
    provider_gate::ticket b = std::move(a);
    EXPECT_FALSE(a.held());
    EXPECT_TRUE(b.held());
    std::vector<provider_gate::ticket> flows;
    flows.push_back(std::move(b));
    EXPECT_EQ(gate.in_flight("ref"), 1u);
  }
  EXPECT_EQ(gate.in_flight("ref"), 0u);
}

TEST(provider_gate, recovered_purchases_enter_past_the_bound_and_unknown_providers_are_not_counted) {
  provider_gate gate(1);
  gate.add("ref");
  provider_gate::ticket held;
  ASSERT_EQ(gate.try_enter("ref", held), admission::admitted);
  auto recovered = gate.enter("ref");
  EXPECT_TRUE(recovered.held());
  EXPECT_EQ(gate.in_flight("ref"), 2u);
  provider_gate::ticket other;
  EXPECT_EQ(gate.try_enter("other", other), admission::unbounded);
  EXPECT_FALSE(other.held());
  EXPECT_EQ(gate.in_flight("other"), 0u);
}

TEST(provider_gate, racing_threads_never_pass_the_bound) {
  provider_gate gate(8);
  gate.add("ref");
  std::atomic<std::uint32_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        provider_gate::ticket ticket;
        if (gate.try_enter("ref", ticket) == admission::admitted) {
          auto now = gate.in_flight("ref");
          auto seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
        }
      }
    });
  for (auto& thread : threads)
    thread.join();
  EXPECT_LE(peak.load(), 8u);
  EXPECT_EQ(gate.in_flight("ref"), 0u);
}

} // namespace
} // namespace steward::actors
