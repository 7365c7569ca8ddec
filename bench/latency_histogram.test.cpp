#include "bench/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace steward::bench {
namespace {

constexpr double precision = 1.0 / static_cast<double>(latency_histogram::sub_bucket_count);

/// The exact percentile of sorted `values`, by the rank rule of the header (ceil(p/100 · n)).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, std::uint64_t ppm) {
  std::uint64_t rank = (sorted.size() * ppm + 999'999) / 1'000'000;
  return sorted[std::max<std::uint64_t>(rank, 1) - 1];
}

TEST(latency_histogram, empty_reports_zero) {
  latency_histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_EQ(h.max_us(), 0u);
  EXPECT_EQ(h.min_us(), 0u);
}

TEST(latency_histogram, small_values_are_exact) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.value_at_percentile(50), 50u);
  EXPECT_EQ(h.value_at_percentile(90), 90u);
  EXPECT_EQ(h.value_at_percentile(99), 99u);
  EXPECT_EQ(h.value_at_percentile(99.9), 100u);
  EXPECT_EQ(h.value_at_percentile(100), 100u);
  EXPECT_EQ(h.min_us(), 1u);
  EXPECT_EQ(h.max_us(), 100u);
  EXPECT_DOUBLE_EQ(h.mean_us(), 50.5);
}

TEST(latency_histogram, rank_of_p999_among_1000_is_the_999th) {
  // In floating point 99.9 / 100 · 1000 is 999.0000000000001, whose ceiling would pick the 1000th
  // value (the outlier); the rank is computed in integers instead.
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 999; ++v)
    h.record(v);
  h.record(50'000);
  EXPECT_EQ(h.value_at_percentile(99.9), 999u); // the counter [996, 999]
  EXPECT_EQ(h.value_at_percentile(100), 50'000u);
}

TEST(latency_histogram, uniform_1_to_10000_within_precision) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 10'000; ++v)
    h.record(v);
  struct expectation {
    double percentile;
    std::uint64_t exact;
  };
  for (auto [p, exact] : {expectation{50, 5'000}, expectation{90, 9'000}, expectation{99, 9'900},
                          expectation{99.9, 9'990}, expectation{100, 10'000}}) {
    const auto reported = h.value_at_percentile(p);
    EXPECT_GE(reported, exact) << "p" << p;
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * (1 + precision))
      << "p" << p;
  }
  // The counter of 5 000 spans [4 992, 5 023]: the reported p50 is its top.
  EXPECT_EQ(h.value_at_percentile(50), 5'023u);
  EXPECT_EQ(h.value_at_percentile(100), 10'000u); // capped at the exact maximum
}

TEST(latency_histogram, tail_is_not_hidden_by_the_mode) {
  // 990 fast answers and 10 slow ones: p99 is still fast, p99.9 and max are the slow ones.
  latency_histogram h;
  for (int i = 0; i < 990; ++i)
    h.record(1'000);
  for (int i = 0; i < 10; ++i)
    h.record(50'000);
  EXPECT_EQ(h.value_at_percentile(50), 1'003u); // the counter [1 000, 1 003]
  EXPECT_EQ(h.value_at_percentile(99), 1'003u);
  EXPECT_EQ(h.value_at_percentile(99.1), 50'000u);
  EXPECT_EQ(h.value_at_percentile(99.9), 50'000u);
  EXPECT_EQ(h.max_us(), 50'000u);
}

TEST(latency_histogram, random_data_matches_exact_percentiles) {
  const std::uint32_t seed = 20261128;
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> latency(7.0, 1.5); // median ≈ 1.1 ms, long tail
  std::vector<std::uint64_t> values;
  latency_histogram h;
  for (int i = 0; i < 100'000; ++i) {
    auto v = static_cast<std::uint64_t>(latency(random));
    v = std::min(v, latency_histogram::value_max_us);
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (std::uint64_t ppm : {500'000u, 900'000u, 990'000u, 999'000u, 1'000'000u}) {
    const auto exact = exact_percentile(values, ppm);
    const auto reported = h.value_at_percentile(static_cast<double>(ppm) / 10'000.0);
    EXPECT_GE(reported, exact) << ppm;
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * (1 + precision) + 1)
      << ppm;
  }
  EXPECT_EQ(h.min_us(), values.front());
  EXPECT_EQ(h.max_us(), values.back());
}

TEST(latency_histogram, merge_equals_recording_everything_in_one) {
  latency_histogram a, b, all;
  for (std::uint64_t v = 1; v <= 5'000; ++v) {
    a.record(v * 7);
    all.record(v * 7);
    b.record(v * 13 + 1);
    all.record(v * 13 + 1);
  }
  a.add(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min_us(), all.min_us());
  EXPECT_EQ(a.max_us(), all.max_us());
  for (double p : {10.0, 50.0, 90.0, 99.0, 99.9})
    EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p)) << p;
}

TEST(latency_histogram, values_past_60_s_saturate) {
  latency_histogram h;
  h.record(5);
  h.record(120'000'000);
  EXPECT_EQ(h.saturated(), 1u);
  EXPECT_EQ(h.max_us(), latency_histogram::value_max_us);
  EXPECT_EQ(h.value_at_percentile(100), latency_histogram::value_max_us);
  EXPECT_EQ(h.value_at_percentile(50), 5u);
}

TEST(latency_histogram, every_counter_boundary_round_trips) {
  for (std::size_t i = 0; i < latency_histogram::counter_count; ++i) {
    const auto low = latency_histogram::lowest_equivalent(i);
    const auto high = latency_histogram::highest_equivalent(i);
    ASSERT_EQ(latency_histogram::index_of(low), i);
    ASSERT_EQ(latency_histogram::index_of(high), i);
    if (i + 1 < latency_histogram::counter_count) {
      ASSERT_EQ(latency_histogram::lowest_equivalent(i + 1), high + 1);
    }
    // The width of a counter stays within the precision of its lowest value.
    ASSERT_LE(static_cast<double>(high - low), static_cast<double>(low) * precision) << i;
  }
}

} // namespace
} // namespace steward::bench
