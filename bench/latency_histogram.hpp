#pragma once

// A latency histogram for load generators, in the manner of HdrHistogram: microsecond resolution
// from 0 to 60 s with a relative error below 1 %, in a fixed block of counters (no allocation, so
// recording on a hot path costs an index computation and an add).
//
// Layout ("log-linear"): values below 2·S (S = `sub_bucket_count` = 128) have one counter each,
// exactly. Above that, every power of two [S·2^k, S·2^(k+1)) is split into S equal steps of 2^k µs,
// so a counter spans at most 1/S = 0.78 % of the values it holds. 60 s takes 2 533 counters
// (20 KiB).
//
// A percentile is reported as the highest value of the counter it falls in (HdrHistogram's
// "highest equivalent value"), capped at the largest value recorded: it is never below the true
// percentile of the recorded data and at most 1/S above it. The rank of percentile p among n values
// is ceil(p/100 · n), computed in integers (so p99.9 of 1000 values is the 999th, not the 1000th).

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace steward::bench {

/// The counter layout, outside the class so that its size can be computed in the class body.
namespace latency_buckets {

/// Values above this are recorded as this.
inline constexpr std::uint64_t value_max_us = 60'000'000;
inline constexpr unsigned sub_bucket_bits = 7;
/// Steps per power of two; the worst relative error of a reported value is 1 / this.
inline constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;

/// The counter that holds `value_us` (at most `value_max_us`).
constexpr std::size_t index_of(std::uint64_t value_us) noexcept {
  if (value_us < 2 * sub_bucket_count)
    return static_cast<std::size_t>(value_us);
  const unsigned shift = static_cast<unsigned>(std::bit_width(value_us)) - 1 - sub_bucket_bits;
  const std::uint64_t sub = value_us >> shift; // in [S, 2S)
  return static_cast<std::size_t>(2 * sub_bucket_count + (shift - 1) * sub_bucket_count +
                                  (sub - sub_bucket_count));
}

/// The smallest value counter `index` holds.
constexpr std::uint64_t lowest_equivalent(std::size_t index) noexcept {
  if (index < 2 * sub_bucket_count)
    return index;
  const std::uint64_t k = index - 2 * sub_bucket_count;
  const std::uint64_t shift = k / sub_bucket_count + 1;
  return (k % sub_bucket_count + sub_bucket_count) << shift;
}

/// The largest value counter `index` holds.
constexpr std::uint64_t highest_equivalent(std::size_t index) noexcept {
  if (index < 2 * sub_bucket_count)
    return index;
  const std::uint64_t shift = (index - 2 * sub_bucket_count) / sub_bucket_count + 1;
  return lowest_equivalent(index) + (std::uint64_t{1} << shift) - 1;
}

inline constexpr std::size_t counter_count = index_of(value_max_us) + 1;

} // namespace latency_buckets

class latency_histogram {
public:
  static constexpr std::uint64_t value_max_us = latency_buckets::value_max_us;
  static constexpr std::uint64_t sub_bucket_count = latency_buckets::sub_bucket_count;
  static constexpr std::size_t counter_count = latency_buckets::counter_count;

  static constexpr std::size_t index_of(std::uint64_t value_us) noexcept {
    return latency_buckets::index_of(value_us);
  }
  static constexpr std::uint64_t lowest_equivalent(std::size_t index) noexcept {
    return latency_buckets::lowest_equivalent(index);
  }
  static constexpr std::uint64_t highest_equivalent(std::size_t index) noexcept {
    return latency_buckets::highest_equivalent(index);
  }

  /// Records one value, in microseconds.
  void record(std::uint64_t value_us) noexcept {
    if (value_us > value_max_us) {
      value_us = value_max_us;
      ++saturated_;
    }
    ++counts_[index_of(value_us)];
    ++total_;
    sum_us_ += value_us;
    min_us_ = std::min(min_us_, value_us);
    max_us_ = std::max(max_us_, value_us);
  }

  /// Adds every value `other` recorded (merging the histograms of several threads).
  void add(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < counter_count; ++i)
      counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_us_ += other.sum_us_;
    saturated_ += other.saturated_;
    min_us_ = std::min(min_us_, other.min_us_);
    max_us_ = std::max(max_us_, other.max_us_);
  }

  void reset() noexcept { *this = latency_histogram(); }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t saturated() const noexcept { return saturated_; }
  /// Exact extremes of the recorded values (0 when empty).
  std::uint64_t min_us() const noexcept { return total_ == 0 ? 0 : min_us_; }
  std::uint64_t max_us() const noexcept { return max_us_; }
  double mean_us() const noexcept {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_us_) / static_cast<double>(total_);
  }

  /// The value below or at which `percentile` % of the recorded values lie (0 < percentile ≤ 100,
  /// to 1/10 000 of a percent), as described at the top of the file. 0 when nothing is recorded.
  std::uint64_t value_at_percentile(double percentile) const noexcept {
    if (total_ == 0)
      return 0;
    const auto ppm = static_cast<std::uint64_t>(
      std::clamp<long long>(std::llround(percentile * 10'000.0), 1, 1'000'000));
    // A run records far fewer than 1.8·10^13 values, so total · ppm does not overflow.
    std::uint64_t rank = (total_ * ppm + 999'999) / 1'000'000;
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counter_count; ++i) {
      seen += counts_[i];
      if (seen >= rank)
        return std::min(highest_equivalent(i), max_us_);
    }
    return max_us_;
  }

private:
  std::array<std::uint64_t, counter_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_us_ = 0;
  std::uint64_t saturated_ = 0;
  std::uint64_t min_us_ = UINT64_MAX;
  std::uint64_t max_us_ = 0;
};

static_assert(latency_histogram::counter_count == 2533);
static_assert(latency_histogram::index_of(255) == 255 && latency_histogram::index_of(256) == 256);
static_assert(latency_histogram::lowest_equivalent(latency_histogram::index_of(60'000'000)) <=
                60'000'000 &&
              latency_histogram::highest_equivalent(latency_histogram::index_of(60'000'000)) >=
                60'000'000);

} // namespace steward::bench
