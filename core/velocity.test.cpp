#include "core/velocity.hpp"

#include <gtest/gtest.h>

namespace steward::core {
namespace {

TEST(Velocity, AllowsUpToTheLimitPerMinuteThenRefuses) {
  velocity_window window(3);
  EXPECT_TRUE(window.allow(1000));
  EXPECT_TRUE(window.allow(1000));
  EXPECT_TRUE(window.allow(1010));
  EXPECT_FALSE(window.allow(1010));
  EXPECT_FALSE(window.allow(1059)); // the first two still count until 1060
  EXPECT_EQ(window.count(1059), 3u);
  EXPECT_TRUE(window.allow(1060));  // both at 1000 left the window: two slots open
  EXPECT_TRUE(window.allow(1060));
  EXPECT_FALSE(window.allow(1069));
  EXPECT_TRUE(window.allow(1070));  // the one at 1010 left
  EXPECT_EQ(window.count(1070), 3u);
}

TEST(Velocity, SlidesInsteadOfResettingEachMinute) {
  // A fixed-minute counter would let 2 at 0:59 and 2 at 1:00 through; the sliding window does not.
  velocity_window window(2);
  EXPECT_TRUE(window.allow(59));
  EXPECT_TRUE(window.allow(59));
  EXPECT_FALSE(window.allow(60));
  EXPECT_FALSE(window.allow(118));
  EXPECT_TRUE(window.allow(119));
}

TEST(Velocity, RefusedCallsDoNotCount) {
  velocity_window window(1);
  EXPECT_TRUE(window.allow(0));
  for (int t = 1; t < 60; ++t) EXPECT_FALSE(window.allow(t));
  EXPECT_TRUE(window.allow(60));
}

TEST(Velocity, FullRingAtTheCeiling) {
  velocity_window window(limits::charges_per_minute_max);
  for (std::uint32_t i = 0; i < limits::charges_per_minute_max; ++i)
    ASSERT_TRUE(window.allow(5000 + i / 20));
  EXPECT_FALSE(window.allow(5029));
  EXPECT_EQ(window.count(5029), limits::charges_per_minute_max);
  // Second 5000 held 20 charges; once it leaves the window exactly 20 fit again.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(window.allow(5060));
  EXPECT_FALSE(window.allow(5060));
  // Across many wraps of the ring the count stays exact: every 60 s a full minute's worth fits,
  // 30 s after a full burst nothing does.
  for (std::int64_t t = 6000; t < 9000; t += 30) {
    std::uint32_t allowed = 0;
    while (window.allow(t)) ++allowed;
    std::uint32_t expected = ((t - 6000) / 30) % 2 == 0 ? limits::charges_per_minute_max : 0;
    ASSERT_EQ(allowed, expected) << t;
    ASSERT_EQ(window.count(t), limits::charges_per_minute_max);
  }
}

TEST(Velocity, ClockSteppingBackNeverLetsMoreThrough) {
  velocity_window window(2);
  EXPECT_TRUE(window.allow(1000));
  EXPECT_TRUE(window.allow(1000));
  EXPECT_FALSE(window.allow(900)); // counted as 1000: still full
  EXPECT_FALSE(window.allow(1059));
  EXPECT_TRUE(window.allow(1060));
}

TEST(Velocity, ZeroLimitRefusesEverything) {
  velocity_window window(0);
  EXPECT_FALSE(window.allow(0));
  EXPECT_FALSE(window.allow(1'000'000));
  EXPECT_EQ(window.limit(), 0u);
}

TEST(Velocity, CountsOnlyTheLast60SecondsAfterAGap) {
  velocity_window window(5);
  EXPECT_EQ(window.count(0), 0u) << "nothing recorded";
  EXPECT_TRUE(window.allow(-61)); // before the epoch: slots of negative seconds
  EXPECT_TRUE(window.allow(-1));
  EXPECT_TRUE(window.allow(-1));
  EXPECT_EQ(window.count(-1), 2u) << "the charge at -61 left the window at -1";
  EXPECT_EQ(window.count(58), 2u);
  EXPECT_EQ(window.count(59), 0u);
  EXPECT_TRUE(window.allow(30));
  EXPECT_EQ(window.count(30), 3u);
  EXPECT_EQ(window.count(59), 1u);
  // A gap of an hour forgets everything.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(window.allow(3600));
  EXPECT_FALSE(window.allow(3659));
  EXPECT_EQ(window.count(3659), 5u);
}

TEST(Velocity, IsASmallFixedBlockWhateverTheLimit) {
  // One per session that charged in the last minute, in every resident user: it must not scale
  // with the ceiling of 600 charges per minute.
  EXPECT_LE(sizeof(velocity_window), 160u);
}

TEST(Velocity, DefaultComesFromLimits) {
  velocity_window window;
  EXPECT_EQ(window.limit(), limits::charges_per_minute_default);
  std::uint32_t allowed = 0;
  while (window.allow(42)) ++allowed;
  EXPECT_EQ(allowed, limits::charges_per_minute_default);
}

} // namespace
} // namespace steward::core
