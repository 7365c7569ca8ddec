#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace steward::core::metrics {
namespace {

TEST(metrics, exposition_text_of_a_small_registry) {
  registry metrics;
  auto& started = metrics.add_counter("steward_starts_total", "Process starts.");
  auto& charges_ok = metrics.add_counter("steward_charges_total", "Charges decided.",
                                         {{"outcome", "approved"}, {"provider", "ref"}});
  auto& charges_declined = metrics.add_counter("steward_charges_total", "Charges decided.",
                                               {{"outcome", "declined"}, {"provider", "ref"}});
  auto& in_flight = metrics.add_gauge("steward_in_flight", "Requests in flight.");
  std::int64_t actors = 42;
  metrics.add_callback_gauge("steward_user_actors", "Resident user actors.", {},
                             [&actors] { return actors; });
  metrics.add_callback_counter("steward_journal_batches_total", "Journal batches committed.",
                               {{"backend", "sqlite"}}, [] { return std::uint64_t{7}; });
  std::array<double, 2> const bounds{0.1, 1.0};
  auto& commit = metrics.add_histogram("steward_commit_seconds", "Journal commit time.", bounds);

  started.inc();
  charges_ok.inc(3);
  charges_declined.inc();
  in_flight.inc(5);
  in_flight.dec(7);
  commit.observe_ns(50'000'000);    // 0.05 s: first bucket
  commit.observe_ns(100'000'000);   // exactly 0.1 s: still the first bucket (le is inclusive)
  commit.observe_ns(250'000'000);   // second bucket
  commit.observe_ns(3'000'000'000); // only +Inf
  actors = 43;

  EXPECT_EQ(metrics.render(),
            "# HELP steward_starts_total Process starts.\n"
            "# TYPE steward_starts_total counter\n"
            "steward_starts_total 1\n"
            "# HELP steward_charges_total Charges decided.\n"
            "# TYPE steward_charges_total counter\n"
            "steward_charges_total{outcome=\"approved\",provider=\"ref\"} 3\n"
            "steward_charges_total{outcome=\"declined\",provider=\"ref\"} 1\n"
            "# HELP steward_in_flight Requests in flight.\n"
            "# TYPE steward_in_flight gauge\n"
            "steward_in_flight -2\n"
            "# HELP steward_user_actors Resident user actors.\n"
            "# TYPE steward_user_actors gauge\n"
            "steward_user_actors 43\n"
            "# HELP steward_journal_batches_total Journal batches committed.\n"
            "# TYPE steward_journal_batches_total counter\n"
            "steward_journal_batches_total{backend=\"sqlite\"} 7\n"
            "# HELP steward_commit_seconds Journal commit time.\n"
            "# TYPE steward_commit_seconds histogram\n"
            "steward_commit_seconds_bucket{le=\"0.1\"} 2\n"
            "steward_commit_seconds_bucket{le=\"1\"} 3\n"
            "steward_commit_seconds_bucket{le=\"+Inf\"} 4\n"
            "steward_commit_seconds_sum 3.4\n"
            "steward_commit_seconds_count 4\n");
}

TEST(metrics, histogram_buckets_are_cumulative) {
  registry metrics;
  std::array<double, 3> const bounds{0.001, 0.01, 0.1};
  auto& latency =
    metrics.add_histogram("latency_seconds", "Latency.", bounds, {{"route", "charges"}});
  for (int i = 0; i < 5; ++i)
    latency.observe(0.0005);
  for (int i = 0; i < 3; ++i)
    latency.observe(0.05);
  latency.observe(0.01);
  latency.observe(-1.0);
  latency.observe(std::numeric_limits<double>::quiet_NaN());
  latency.observe(1e300);

  auto const snapshot = latency.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<std::uint64_t>{7, 8, 11, 12}));
  EXPECT_EQ(snapshot.count, 12u);
  auto const text = metrics.render();
  EXPECT_NE(text.find("latency_seconds_bucket{route=\"charges\",le=\"0.001\"} 7\n"
                      "latency_seconds_bucket{route=\"charges\",le=\"0.01\"} 8\n"
                      "latency_seconds_bucket{route=\"charges\",le=\"0.1\"} 11\n"
                      "latency_seconds_bucket{route=\"charges\",le=\"+Inf\"} 12\n"),
            std::string::npos)
    << text;
  EXPECT_NE(text.find("latency_seconds_count{route=\"charges\"} 12\n"), std::string::npos);
}

TEST(metrics, observe_since_counts_the_time_from_a_start_until_now) {
  std::array<double, 2> const bounds{1.0, 3600.0};
  histogram waits(bounds);
  auto const now = std::chrono::steady_clock::now();
  waits.observe_since(now - std::chrono::seconds(2));  // 2 s ago: the second bucket
  waits.observe_since(now + std::chrono::seconds(10)); // in the future: counted as 0
  auto const snapshot = waits.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<std::uint64_t>{1, 2, 2}));
  EXPECT_GE(snapshot.sum_seconds, 2.0);
  EXPECT_LT(snapshot.sum_seconds, 60.0);
}

TEST(metrics, label_values_and_help_are_escaped) {
  registry metrics;
  metrics.add_counter("escaped_total", "Help with a \\ backslash,\na newline and \"quotes\".",
                      {{"path", "C:\\dir"}, {"quote", "say \"hi\""}, {"lines", "a\nb"}})
    .inc();
  EXPECT_EQ(metrics.render(),
            "# HELP escaped_total Help with a \\\\ backslash,\\na newline and \"quotes\".\n"
            "# TYPE escaped_total counter\n"
            "escaped_total{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",lines=\"a\\nb\"} 1\n");
}

TEST(metrics, concurrent_updates_from_four_threads_add_up) {
  registry metrics;
  auto& total = metrics.add_counter("ops_total", "Operations.");
  auto& level = metrics.add_gauge("level", "Level.");
  std::array<double, 1> const bounds{0.000001};
  auto& durations = metrics.add_histogram("op_seconds", "Op time.", bounds);
  auto& table = metrics.add_request_stats("public", {"charges"}, {200});

  constexpr int threads_count = 4;
  constexpr int iterations = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < iterations; ++i) {
        total.inc();
        level.inc();
        level.dec();
        durations.observe_ns(static_cast<std::uint64_t>(i % 2) * 2000);
        table.record(0, 200, 1000);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();

  constexpr std::uint64_t expected = std::uint64_t{threads_count} * iterations;
  EXPECT_EQ(total.value(), expected);
  EXPECT_EQ(level.value(), 0);
  auto const snapshot = durations.snapshot();
  EXPECT_EQ(snapshot.count, expected);
  EXPECT_EQ(snapshot.cumulative[0], expected / 2);
  EXPECT_DOUBLE_EQ(snapshot.sum_seconds, static_cast<double>(expected / 2) * 2000 / 1e9);
  EXPECT_EQ(table.requests(0, 200), expected);
  EXPECT_EQ(table.durations(0).count, expected);
}

TEST(metrics, request_stats_map_routes_and_statuses) {
  registry metrics;
  auto& table = metrics.add_request_stats("public", {"healthz", "charges"}, {200, 404});
  table.record(0, 200, 50'000);        // 50 µs: the first bucket (le=0.0001)
  table.record(1, 404, 2'000'000);     // 2 ms: le=0.0025
  table.record(1, 503, 20'000'000'000); // 20 s: only +Inf
  table.record(2, 200, 1);             // past the routes
  table.record(0xffff'ffff, 999, 1);   // unmatched route, status past the table

  EXPECT_EQ(table.requests(0, 200), 1u);
  EXPECT_EQ(table.requests(1, 404), 1u);
  EXPECT_EQ(table.requests(1, 503), 1u);
  EXPECT_EQ(table.requests(1, 500), 1u) << "500 and 503 share status=\"other\"";
  EXPECT_EQ(table.requests(7, 200), 1u);
  EXPECT_EQ(table.requests(7, 0), 1u);
  EXPECT_EQ(table.requests(0, 404), 0u);

  auto const charges = table.durations(1);
  ASSERT_EQ(charges.cumulative.size(), request_duration_bounds_seconds.size() + 1);
  EXPECT_EQ(charges.cumulative[3], 0u);  // le=0.001
  EXPECT_EQ(charges.cumulative[4], 1u);  // le=0.0025
  EXPECT_EQ(charges.cumulative[15], 1u); // le=10
  EXPECT_EQ(charges.cumulative[16], 2u); // +Inf
  EXPECT_DOUBLE_EQ(charges.sum_seconds, 20.002);

  auto const text = metrics.render();
  std::string const requests_expected =
    "# HELP steward_http_requests_total HTTP requests answered, by listener, route and status.\n"
    "# TYPE steward_http_requests_total counter\n"
    "steward_http_requests_total{listener=\"public\",route=\"healthz\",status=\"200\"} 1\n"
    "steward_http_requests_total{listener=\"public\",route=\"healthz\",status=\"404\"} 0\n"
    "steward_http_requests_total{listener=\"public\",route=\"healthz\",status=\"other\"} 0\n"
    "steward_http_requests_total{listener=\"public\",route=\"charges\",status=\"200\"} 0\n"
    "steward_http_requests_total{listener=\"public\",route=\"charges\",status=\"404\"} 1\n"
    "steward_http_requests_total{listener=\"public\",route=\"charges\",status=\"other\"} 1\n"
    "steward_http_requests_total{listener=\"public\",route=\"unmatched\",status=\"200\"} 1\n"
    "steward_http_requests_total{listener=\"public\",route=\"unmatched\",status=\"404\"} 0\n"
    "steward_http_requests_total{listener=\"public\",route=\"unmatched\",status=\"other\"} 1\n"
    "# HELP steward_http_request_duration_seconds ";
  EXPECT_EQ(text.substr(0, requests_expected.size()), requests_expected);
  for (auto const* line :
       {"# TYPE steward_http_request_duration_seconds histogram\n",
        "steward_http_request_duration_seconds_bucket{listener=\"public\",route=\"healthz\","
        "le=\"0.0001\"} 1\n",
        "steward_http_request_duration_seconds_bucket{listener=\"public\",route=\"charges\","
        "le=\"0.00025\"} 0\n",
        "steward_http_request_duration_seconds_bucket{listener=\"public\",route=\"charges\","
        "le=\"0.0025\"} 1\n",
        "steward_http_request_duration_seconds_bucket{listener=\"public\",route=\"charges\","
        "le=\"+Inf\"} 2\n",
        "steward_http_request_duration_seconds_sum{listener=\"public\",route=\"charges\"} "
        "20.002\n",
        "steward_http_request_duration_seconds_count{listener=\"public\",route=\"unmatched\"} 2\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

TEST(metrics, two_listeners_share_one_family) {
  registry metrics;
  metrics.add_request_stats("public", {"a"}, {200}).record(0, 200, 1);
  metrics.add_request_stats("admin", {"metrics"}, {200});
  auto const text = metrics.render();
  auto count = [&](std::string_view needle) {
    std::size_t found = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++found;
    return found;
  };
  EXPECT_EQ(count("# TYPE steward_http_requests_total counter\n"), 1u);
  EXPECT_EQ(count("# TYPE steward_http_request_duration_seconds histogram\n"), 1u);
  EXPECT_EQ(count("listener=\"admin\",route=\"metrics\",status=\"200\"} 0\n"), 1u);
  EXPECT_EQ(count("listener=\"public\",route=\"a\",status=\"200\"} 1\n"), 1u);
}

void register_same_series_twice() {
  registry metrics;
  metrics.add_counter("twice_total", "Twice.", {{"a", "1"}, {"b", "2"}});
  // Label order does not make a different series.
  metrics.add_counter("twice_total", "Twice.", {{"b", "2"}, {"a", "1"}});
}

void register_one_name_with_two_types() {
  registry metrics;
  metrics.add_counter("kind", "Kind.");
  metrics.add_gauge("kind", "Kind.", {{"x", "y"}});
}

void register_a_bad_name() {
  registry metrics;
  metrics.add_counter("bad-name", "Bad.");
}

void register_unsorted_buckets() {
  registry metrics;
  std::array<double, 2> const unsorted{1.0, 0.5};
  metrics.add_histogram("h_seconds", "H.", unsorted);
}

void register_one_listener_twice() {
  registry metrics;
  metrics.add_request_stats("public", {"a"}, {200});
  metrics.add_request_stats("public", {"b"}, {200});
}

TEST(metrics_death, registration_mistakes_abort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(register_same_series_twice(), "assertion failed");
  EXPECT_DEATH(register_one_name_with_two_types(), "assertion failed");
  EXPECT_DEATH(register_a_bad_name(), "assertion failed");
  EXPECT_DEATH(register_unsorted_buckets(), "assertion failed");
  EXPECT_DEATH(register_one_listener_twice(), "assertion failed");
}

} // namespace
} // namespace steward::core::metrics
