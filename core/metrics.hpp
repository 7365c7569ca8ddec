#pragma once

// Metrics in the Prometheus text exposition format (version 0.0.4), cheap on the hot path.
//
// Everything is registered at start-up, under a mutex, and the registration hands back a reference
// that the caller keeps: an update is then one relaxed atomic add on memory no other metric shares,
// never a lookup by name (STYLE.md, "Hot paths"). Histograms and request tables are sharded by
// thread, so that io threads recording the same route do not bounce one cache line between cores.
//
// Registration mistakes (a bad metric name, the same series twice, one name with two types) are
// programmer errors and abort with STEWARD_ASSERT; nothing here takes external input.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core::metrics {

inline constexpr std::size_t cache_line_bytes = 64;

/// Copies of a sharded metric. Each thread adds to one shard, picked round-robin when the thread
/// first records; a read sums them. Eight covers the io threads of a typical node; more threads
/// than shards share shards, which stays correct and only costs some contention.
inline constexpr std::size_t shard_count = 8;

/// Routes and statuses of one `request_stats` table; beyond them the table would be mostly empty
/// series, and a bigger list means a mistake in the caller.
inline constexpr std::size_t request_stats_routes_max = 256;
inline constexpr std::size_t request_stats_statuses_max = 64;

/// Bucket bounds of `steward_http_request_duration_seconds`: 100 µs to 10 s, 1-2.5-5 steps.
inline constexpr std::array<double, 16> request_duration_bounds_seconds{
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05,   0.1,     0.25,   0.5,   1.0,   2.5,    5.0,   10.0};

enum class metric_type : std::uint8_t { counter, gauge, histogram };

/// One `name="value"` pair of a series, fixed at registration.
struct label {
  std::string name;
  std::string value;
};
using label_set = std::vector<label>;

/// A monotonic count, alone on its cache line.
class counter {
public:
  void inc(std::uint64_t amount = 1) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  alignas(cache_line_bytes) std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down (in-flight requests, open connections), alone on its cache line.
class gauge {
public:
  void inc(std::int64_t amount = 1) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(std::int64_t amount = 1) noexcept { value_.fetch_sub(amount, std::memory_order_relaxed); }
  void set(std::int64_t value) noexcept { value_.store(value, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  alignas(cache_line_bytes) std::atomic<std::int64_t> value_{0};
};

namespace detail {

/// Picks the calling thread's shard once; later calls cost a thread-local read.
std::size_t assign_shard() noexcept;

inline std::size_t current_shard() noexcept {
  thread_local const std::size_t shard = assign_shard();
  return shard;
}

/// `shard_count` copies of `cells_per_shard` counters, each copy starting on its own cache line.
class sharded_cells {
public:
  explicit sharded_cells(std::size_t cells_per_shard);

  std::atomic<std::uint64_t>& at(std::size_t shard, std::size_t cell) noexcept {
    return lines_[shard * lines_per_shard_ + cell / cells_per_line].cells[cell % cells_per_line];
  }
  /// The cell summed over all shards.
  std::uint64_t sum(std::size_t cell) const noexcept;

private:
  static constexpr std::size_t cells_per_line = cache_line_bytes / sizeof(std::uint64_t);
  struct alignas(cache_line_bytes) line {
    std::array<std::atomic<std::uint64_t>, cells_per_line> cells{};
  };
  std::size_t lines_per_shard_;
  std::unique_ptr<line[]> lines_;
};

/// Index of the first bound >= value: the bucket that counts it (`le` is inclusive).
inline std::size_t bucket_index(std::span<const std::uint64_t> bounds_ns, std::uint64_t value_ns) {
  std::size_t index = 0;
  // Linear: bucket lists are short (16), and most observations land in the first few buckets.
  while (index < bounds_ns.size() && bounds_ns[index] < value_ns)
    ++index;
  return index;
}

} // namespace detail

/// A snapshot of a histogram, as rendered.
struct histogram_snapshot {
  /// Cumulative counts: entry i counts observations <= bound i; the last entry is `+Inf`.
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

/// Durations in fixed buckets, sharded by thread. Observations are nanoseconds; rendering is in
/// seconds, as Prometheus expects.
class histogram {
public:
  /// `bounds_seconds`: upper bounds, strictly increasing, distinct at nanosecond resolution.
  explicit histogram(std::span<const double> bounds_seconds);

  void observe_ns(std::uint64_t duration_ns) noexcept {
    auto const shard = detail::current_shard();
    cells_.at(shard, detail::bucket_index(bounds_ns_, duration_ns))
      .fetch_add(1, std::memory_order_relaxed);
    cells_.at(shard, sum_cell()).fetch_add(duration_ns, std::memory_order_relaxed);
  }
  /// Negative and NaN durations count as 0, absurdly long ones as about 570 years.
  void observe(double seconds) noexcept;
  /// The time from `started` until now (steady clock).
  void observe_since(std::chrono::steady_clock::time_point started) noexcept {
    auto const elapsed = std::chrono::steady_clock::now() - started;
    observe_ns(static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count())));
  }

  histogram_snapshot snapshot() const;
  std::span<const double> bounds_seconds() const noexcept { return bounds_seconds_; }

private:
  std::size_t sum_cell() const noexcept { return bounds_ns_.size() + 1; }

  std::vector<double> bounds_seconds_;
  std::vector<std::uint64_t> bounds_ns_;
  /// Per shard: one count per bucket, the `+Inf` bucket, then the sum in nanoseconds.
  detail::sharded_cells cells_;
};

/// Request counts and latencies of one listener, per route and status, in one table indexed by
/// number: `record` is a few array indexings and three atomic adds, whatever the labels. It feeds
/// `steward_http_requests_total{listener,route,status}` and
/// `steward_http_request_duration_seconds{listener,route}`. Every series exists from the start at
/// zero, so that a rate over the first request is not lost.
class request_stats {
public:
  /// Use `registry::add_request_stats`.
  request_stats(std::string listener, std::vector<std::string> routes,
                std::vector<std::uint16_t> statuses);

  /// `route` indexes the route list; any value past it (such as 0xffffffff) counts under
  /// `route="unmatched"`. A status not in the list counts under `status="other"`.
  void record(std::uint32_t route, std::uint16_t status, std::uint64_t duration_ns) noexcept {
    auto const row = route < route_count_ ? route : route_count_;
    auto const column = status < status_columns_.size() ? status_columns_[status] : other_column_;
    auto const shard = detail::current_shard();
    cells_.at(shard, row * columns_ + column).fetch_add(1, std::memory_order_relaxed);
    auto const histogram_base = histograms_start_ + row * histogram_cells_;
    cells_.at(shard, histogram_base + detail::bucket_index(bounds_ns_, duration_ns))
      .fetch_add(1, std::memory_order_relaxed);
    cells_.at(shard, histogram_base + histogram_cells_ - 1)
      .fetch_add(duration_ns, std::memory_order_relaxed);
  }

  /// Requests recorded for a route index (past the list: unmatched) and status (not in the list:
  /// other).
  std::uint64_t requests(std::uint32_t route, std::uint16_t status) const noexcept;
  histogram_snapshot durations(std::uint32_t route) const;

  const std::string& listener() const noexcept { return listener_; }
  /// Appends the series of each family (no HELP/TYPE lines).
  void render_requests(std::string& out) const;
  void render_durations(std::string& out) const;

private:
  std::string listener_;
  std::vector<std::string> routes_;
  std::vector<std::uint16_t> statuses_;
  std::uint32_t route_count_;
  /// Column of each status code below 600; statuses not in the list map to `other_column_`.
  std::array<std::uint8_t, 600> status_columns_{};
  std::uint8_t other_column_;
  std::size_t columns_;
  std::array<std::uint64_t, request_duration_bounds_seconds.size()> bounds_ns_{};
  /// Per route row: the buckets, `+Inf`, and the sum in nanoseconds.
  std::size_t histogram_cells_;
  std::size_t histograms_start_;
  detail::sharded_cells cells_;
};

/// The metrics of one process. Registration returns references that stay valid as long as the
/// registry; the registry must outlive every component that updates them.
class registry {
public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// Each adds one series to the family `name`, creating the family (with `help` and its type) on
  /// first use. The same name must keep the same type and help; the same labels may not repeat.
  counter& add_counter(std::string_view name, std::string_view help, label_set labels = {});
  gauge& add_gauge(std::string_view name, std::string_view help, label_set labels = {});
  histogram& add_histogram(std::string_view name, std::string_view help,
                           std::span<const double> bounds_seconds, label_set labels = {});

  /// Series whose value is read at render time, under the registry's lock: `read` must be cheap,
  /// thread-safe, must not touch this registry, and what it captures must outlive the registry.
  void add_callback_counter(std::string_view name, std::string_view help, label_set labels,
                            std::function<std::uint64_t()> read);
  void add_callback_gauge(std::string_view name, std::string_view help, label_set labels,
                          std::function<std::int64_t()> read);

  /// The request table of one listener (`listener` names it in the labels, e.g. "public").
  request_stats& add_request_stats(std::string_view listener, std::vector<std::string> routes,
                                   std::vector<std::uint16_t> statuses);

  /// The exposition text (`Content-Type: text/plain; version=0.0.4`): families in registration
  /// order, each with `# HELP` and `# TYPE` once, then its series in registration order.
  std::string render() const;
  void render_to(std::string& out) const;

private:
  struct family;
  struct series;

  family& family_for(std::string_view name, std::string_view help, metric_type type);
  series& add_series(family& target, label_set labels, bool histogram_labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family>> families_;
  std::vector<std::unique_ptr<request_stats>> request_stats_;
};

} // namespace steward::core::metrics
