#include "core/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace steward::core {
namespace {

using kind = breaker_ticket::kind;

circuit_breaker_config consecutive_only(std::uint32_t failures, std::uint32_t cooldown_ms) {
  circuit_breaker_config config;
  config.consecutive_failures_max = failures;
  config.window_outcomes_min = 0;
  config.cooldown_ms = cooldown_ms;
  return config;
}

/// Admits one request at `now` and reports a failure for it.
void fail_once(circuit_breaker& breaker, std::int64_t now) {
  auto ticket = breaker.admit(now);
  ASSERT_TRUE(ticket.admitted());
  breaker.record_failure(ticket, now);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndASuccessResetsTheCount) {
  circuit_breaker breaker(consecutive_only(3, 1000));
  fail_once(breaker, 0);
  fail_once(breaker, 1);
  auto ticket = breaker.admit(2);
  breaker.record_success(ticket, 2); // breaks the run: two more failures are not enough
  fail_once(breaker, 3);
  fail_once(breaker, 4);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
  fail_once(breaker, 5);
  EXPECT_EQ(breaker.state(), breaker_state::open);
  EXPECT_EQ(breaker.opens(), 1u);
  EXPECT_EQ(breaker.open_until_ms(), 1005);
}

TEST(CircuitBreaker, OpenRejectsUntilTheCooldownThenLetsOneProbeThrough) {
  circuit_breaker breaker(consecutive_only(1, 1000));
  fail_once(breaker, 100);
  ASSERT_EQ(breaker.state(), breaker_state::open);
  EXPECT_EQ(breaker.admit(100).admission, kind::rejected);
  EXPECT_EQ(breaker.admit(1099).admission, kind::rejected);
  EXPECT_EQ(breaker.state(), breaker_state::open);
  auto probe = breaker.admit(1100);
  EXPECT_EQ(probe.admission, kind::probe);
  EXPECT_EQ(breaker.state(), breaker_state::half_open);
  // One probe at a time by default: the next caller is rejected while it is out.
  EXPECT_EQ(breaker.admit(1101).admission, kind::rejected);
}

TEST(CircuitBreaker, ASuccessfulProbeClosesIt) {
  circuit_breaker breaker(consecutive_only(1, 1000));
  fail_once(breaker, 0);
  auto probe = breaker.admit(1000);
  breaker.record_success(probe, 1001);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
  EXPECT_EQ(breaker.admit(1002).admission, kind::allowed);
  EXPECT_EQ(breaker.admit(1002).admission, kind::allowed);
}

TEST(CircuitBreaker, AFailedProbeReopensForAFreshCooldown) {
  circuit_breaker breaker(consecutive_only(1, 1000));
  fail_once(breaker, 0);
  auto probe = breaker.admit(1500);
  breaker.record_failure(probe, 1600);
  EXPECT_EQ(breaker.state(), breaker_state::open);
  EXPECT_EQ(breaker.opens(), 2u);
  EXPECT_EQ(breaker.open_until_ms(), 2600);
  EXPECT_EQ(breaker.admit(2599).admission, kind::rejected);
  EXPECT_EQ(breaker.admit(2600).admission, kind::probe);
}

TEST(CircuitBreaker, HalfOpenAdmitsAtMostProbesMax) {
  auto config = consecutive_only(1, 10);
  config.probes_max = 2;
  circuit_breaker breaker(config);
  fail_once(breaker, 0);
  auto first = breaker.admit(10);
  auto second = breaker.admit(10);
  EXPECT_EQ(first.admission, kind::probe);
  EXPECT_EQ(second.admission, kind::probe);
  EXPECT_EQ(breaker.admit(10).admission, kind::rejected);
  // An abandoned probe frees its slot without deciding anything.
  breaker.record_abandoned(first);
  EXPECT_EQ(breaker.state(), breaker_state::half_open);
  EXPECT_EQ(breaker.admit(11).admission, kind::probe);
  EXPECT_EQ(breaker.admit(11).admission, kind::rejected);
}

TEST(CircuitBreaker, OutcomesOfTicketsFromBeforeAStateChangeAreIgnored) {
  circuit_breaker breaker(consecutive_only(2, 1000));
  auto slow = breaker.admit(0); // admitted while closed, answers late
  fail_once(breaker, 1);
  fail_once(breaker, 2);
  ASSERT_EQ(breaker.state(), breaker_state::open);
  breaker.record_success(slow, 3); // must not close the breaker
  EXPECT_EQ(breaker.state(), breaker_state::open);
  auto probe = breaker.admit(1002);
  ASSERT_EQ(probe.admission, kind::probe);
  breaker.record_failure(slow, 1003); // nor count as the probe's answer
  EXPECT_EQ(breaker.state(), breaker_state::half_open);
  EXPECT_EQ(breaker.opens(), 1u);
  breaker.record_success(probe, 1004);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
}

TEST(CircuitBreaker, RejectedTicketsCarryNoOutcome) {
  circuit_breaker breaker(consecutive_only(1, 1000));
  fail_once(breaker, 0);
  auto rejected = breaker.admit(1);
  ASSERT_FALSE(rejected.admitted());
  breaker.record_success(rejected, 2);
  EXPECT_EQ(breaker.state(), breaker_state::open);
}

circuit_breaker_config ratio_only(std::uint32_t outcomes_min, std::uint32_t percent) {
  circuit_breaker_config config;
  config.consecutive_failures_max = 0;
  config.window_ms = 1000; // ten buckets of 100 ms
  config.window_outcomes_min = outcomes_min;
  config.failure_percent = percent;
  config.cooldown_ms = 500;
  return config;
}

void succeed_once(circuit_breaker& breaker, std::int64_t now) {
  auto ticket = breaker.admit(now);
  ASSERT_TRUE(ticket.admitted());
  breaker.record_success(ticket, now);
}

TEST(CircuitBreaker, OpensWhenTheFailureRatioOverTheWindowIsReached) {
  circuit_breaker breaker(ratio_only(10, 50));
  // Alternating outcomes never make two failures in a row, yet half of them fail.
  for (int i = 0; i < 4; ++i) {
    succeed_once(breaker, i * 10);
    fail_once(breaker, i * 10 + 5);
  }
  succeed_once(breaker, 80);
  EXPECT_EQ(breaker.state(), breaker_state::closed); // 9 outcomes: below the minimum
  fail_once(breaker, 90); // 10 outcomes, 5 failures: 50 %
  EXPECT_EQ(breaker.state(), breaker_state::open);
  EXPECT_EQ(breaker.opens(), 1u);
}

TEST(CircuitBreaker, StaysClosedBelowTheRatio) {
  circuit_breaker breaker(ratio_only(10, 50));
  for (int i = 0; i < 6; ++i)
    succeed_once(breaker, i);
  for (int i = 0; i < 4; ++i)
    fail_once(breaker, 10 + i);
  EXPECT_EQ(breaker.state(), breaker_state::closed); // 4 of 10
}

TEST(CircuitBreaker, OutcomesLeaveTheWindowAsTimePasses) {
  circuit_breaker breaker(ratio_only(4, 50));
  fail_once(breaker, 0);
  fail_once(breaker, 0);
  fail_once(breaker, 0);
  // A second later the three failures have left the window: three successes and one failure
  // make 25 % of four outcomes, not 4 of 7.
  succeed_once(breaker, 1000);
  succeed_once(breaker, 1000);
  succeed_once(breaker, 1000);
  fail_once(breaker, 1000);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
  // Within the window they would have counted: the same outcomes 900 ms apart make 4 failures
  // of 7, and the breaker opens.
  circuit_breaker near(ratio_only(4, 50));
  fail_once(near, 0);
  fail_once(near, 0);
  fail_once(near, 0);
  succeed_once(near, 900);
  succeed_once(near, 900);
  succeed_once(near, 900);
  EXPECT_EQ(near.state(), breaker_state::closed); // a success never opens it
  fail_once(near, 900);
  EXPECT_EQ(near.state(), breaker_state::open);
}

TEST(CircuitBreaker, ClosingClearsTheWindow) {
  auto config = ratio_only(4, 50);
  config.consecutive_failures_max = 3;
  circuit_breaker breaker(config);
  fail_once(breaker, 0);
  fail_once(breaker, 0);
  fail_once(breaker, 0);
  ASSERT_EQ(breaker.state(), breaker_state::open);
  auto probe = breaker.admit(500);
  breaker.record_success(probe, 500);
  ASSERT_EQ(breaker.state(), breaker_state::closed);
  // The three old failures are still inside the window's time span but were cleared on closing:
  // one failure among four outcomes does not reopen it.
  succeed_once(breaker, 600);
  succeed_once(breaker, 600);
  succeed_once(breaker, 600);
  fail_once(breaker, 600);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
}

TEST(CircuitBreaker, ValidateNamesTheBadMember) {
  const char* problem = nullptr;
  EXPECT_TRUE(validate(circuit_breaker_config{}, &problem));
  EXPECT_EQ(problem, nullptr);
  circuit_breaker_config config;
  config.probes_max = 0;
  EXPECT_FALSE(validate(config, &problem));
  EXPECT_STREQ(problem, "probes_max");
  config = {};
  config.cooldown_ms = limits::breaker_cooldown_ms_max + 1;
  EXPECT_FALSE(validate(config, &problem));
  EXPECT_STREQ(problem, "cooldown_ms");
  config = {};
  config.failure_percent = 101;
  EXPECT_FALSE(validate(config, &problem));
  EXPECT_STREQ(problem, "failure_percent");
  config = {};
  config.window_ms = 1;
  EXPECT_FALSE(validate(config, &problem));
  EXPECT_STREQ(problem, "window_ms");
}

} // namespace
} // namespace steward::core
