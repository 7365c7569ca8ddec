// System tests of stewardd's HTTP/1.1 server: the real binary on loopback, driven over raw sockets.
// Each test starts its own stewardd (port 0, fresh temp dir) with small limits and timeouts, talks
// to it byte for byte, and checks responses, connection state and the admin listener's metrics.
//
// Metrics update after a response has been sent, so every metric assertion polls the admin
// listener until the expected value appears or a deadline passes.

#include "tests/support/process.hpp"
#include "tests/support/raw_client.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace steward::test_support {
namespace {

using namespace std::chrono_literals;

/// Time allowed for one exchange with a healthy server on a busy two-core machine.
constexpr auto io_timeout = 3s;

constexpr std::string_view healthz_body = R"({"status":"ok"})";
constexpr std::string_view readyz_body = R"({"status":"ready"})";

// --- Prometheus text parsing ---------------------------------------------------------------------

struct series_key {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels; ///< sorted by label name

  bool operator==(const series_key&) const = default;
};

/// Parses `name{label="value",...} value` (the exposition format's sample line). Returns the series
/// and the value text, or nullopt for anything else (comments, blank lines, malformed lines).
std::optional<std::pair<series_key, std::string_view>> parse_sample(std::string_view line) {
  series_key key;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') {
    ++i;
  }
  key.name = std::string(line.substr(0, i));
  if (key.name.empty() || key.name.front() == '#') {
    return std::nullopt;
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) {
        ++i;
      }
      if (i >= line.size()) {
        return std::nullopt;
      }
      if (line[i] == '}') {
        ++i;
        break;
      }
      const auto equals = line.find('=', i);
      if (equals == std::string_view::npos || equals + 1 >= line.size() ||
          line[equals + 1] != '"') {
        return std::nullopt;
      }
      std::string name(line.substr(i, equals - i));
      std::string value;
      i = equals + 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value.push_back(line[i] == 'n' ? '\n' : line[i]);
        } else {
          value.push_back(line[i]);
        }
        ++i;
      }
      if (i >= line.size()) {
        return std::nullopt;
      }
      ++i; // closing quote
      key.labels.emplace_back(std::move(name), std::move(value));
    }
  }
  while (i < line.size() && line[i] == ' ') {
    ++i;
  }
  std::string_view value = line.substr(i);
  value = value.substr(0, value.find(' '));
  if (value.empty()) {
    return std::nullopt;
  }
  std::sort(key.labels.begin(), key.labels.end());
  return std::pair{std::move(key), value};
}

double parse_sample_value(std::string_view text) {
  const std::string copy(text);
  return std::strtod(copy.c_str(), nullptr); // accepts +Inf and NaN as the format writes them
}

/// The value of the series written like a sample without its value, e.g.
/// `steward_http_connections{listener="public"}`; label order does not matter, the label set must
/// match exactly. nullopt when the series is absent.
std::optional<double> metric_value(std::string_view text, std::string_view series) {
  const auto query = parse_sample(std::string(series) + " 0");
  if (!query) {
    ADD_FAILURE() << "bad series query: " << series;
    return std::nullopt;
  }
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    const auto sample = parse_sample(line);
    if (sample && sample->first == query->first) {
      return parse_sample_value(sample->second);
    }
  }
  return std::nullopt;
}

/// Every sample of metric `name` whose labels include all of `labels`.
std::vector<std::pair<series_key, double>> samples_of(
    std::string_view text, std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels) {
  std::vector<std::pair<series_key, double>> out;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    auto sample = parse_sample(line);
    if (!sample || sample->first.name != name) {
      continue;
    }
    const bool matches = std::all_of(labels.begin(), labels.end(), [&](const auto& wanted) {
      return std::find(sample->first.labels.begin(), sample->first.labels.end(), wanted) !=
             sample->first.labels.end();
    });
    if (matches) {
      out.emplace_back(std::move(sample->first), parse_sample_value(sample->second));
    }
  }
  return out;
}

/// The admin listener's /metrics body, or nullopt (with a recorded failure) unless it answers 200.
std::optional<std::string> scrape(std::uint16_t admin_port) {
  const auto response = http_get(admin_port, "/metrics", deadline_in(io_timeout));
  if (!response || response->status != 200) {
    ADD_FAILURE() << "GET /metrics on the admin listener failed: "
                  << (response ? "status " + std::to_string(response->status) : "no response");
    return std::nullopt;
  }
  return response->body;
}

/// A series' current value, 0 when absent (a labelled counter appears on its first increment).
double metric_or_zero(std::uint16_t admin_port, std::string_view series) {
  const auto text = scrape(admin_port);
  return text ? metric_value(*text, series).value_or(0.0) : -1.0;
}

/// Scrapes until `holds(value)` (absent counts as 0) or the deadline; returns the last value.
double poll_metric(std::uint16_t admin_port, std::string_view series,
                   const std::function<bool(double)>& holds, deadline until) {
  double value = 0;
  while (true) {
    value = metric_or_zero(admin_port, series);
    if (holds(value) || clock::now() >= until) {
      return value;
    }
    // Poll interval of the scrape loop; the deadline, not this pause, bounds the wait.
    std::this_thread::sleep_for(20ms);
  }
}

double poll_metric_equals(std::uint16_t admin_port, std::string_view series, double wanted,
                          clock::duration within = 5s) {
  return poll_metric(
      admin_port, series, [&](double v) { return v == wanted; }, deadline_in(within));
}

double poll_metric_at_least(std::uint16_t admin_port, std::string_view series, double wanted,
                            clock::duration within = 5s) {
  return poll_metric(
      admin_port, series, [&](double v) { return v >= wanted; }, deadline_in(within));
}

constexpr std::string_view public_connections = R"(steward_http_connections{listener="public"})";
constexpr std::string_view public_accepted =
    R"(steward_http_connections_accepted_total{listener="public"})";
constexpr std::string_view public_rejected =
    R"(steward_http_connections_rejected_total{listener="public"})";

std::string timeouts_series(std::string_view kind) {
  return R"(steward_http_timeouts_total{listener="public",kind=")" + std::string(kind) + R"("})";
}

// --- Response checks -----------------------------------------------------------------------------

/// An RFC 9457 problem with the given status and stable code, and every member the API promises.
::testing::AssertionResult is_problem(const std::optional<http_response>& response, int status,
                                      std::string_view code) {
  if (!response) {
    return ::testing::AssertionFailure() << "no response";
  }
  if (response->status != status) {
    return ::testing::AssertionFailure()
           << "status " << response->status << ", wanted " << status << "; body " << response->body;
  }
  if (response->media_type() != "application/problem+json") {
    return ::testing::AssertionFailure()
           << "Content-Type '" << response->header("content-type").value_or("") << "'";
  }
  simdjson::dom::parser parser;
  simdjson::dom::object problem;
  if (parser.parse(response->body).get_object().get(problem) != simdjson::SUCCESS) {
    return ::testing::AssertionFailure() << "body is not a JSON object: " << response->body;
  }
  for (const char* member : {"type", "title", "detail", "code"}) {
    std::string_view text;
    if (problem[member].get_string().get(text) != simdjson::SUCCESS) {
      return ::testing::AssertionFailure()
             << "member '" << member << "' missing or not a string: " << response->body;
    }
  }
  std::int64_t status_member = 0;
  if (problem["status"].get_int64().get(status_member) != simdjson::SUCCESS ||
      status_member != status) {
    return ::testing::AssertionFailure()
           << "member 'status' is not " << status << ": " << response->body;
  }
  std::string_view code_member;
  if (problem["code"].get_string().get(code_member) != simdjson::SUCCESS || code_member != code) {
    return ::testing::AssertionFailure()
           << "code '" << code_member << "', wanted '" << code << "': " << response->body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_json_ok(const std::optional<http_response>& response,
                                      std::string_view body) {
  if (!response) {
    return ::testing::AssertionFailure() << "no response";
  }
  if (response->status != 200) {
    return ::testing::AssertionFailure()
           << "status " << response->status << "; body " << response->body;
  }
  if (response->media_type() != "application/json") {
    return ::testing::AssertionFailure()
           << "Content-Type '" << response->header("content-type").value_or("") << "'";
  }
  if (response->body != body) {
    return ::testing::AssertionFailure()
           << "body '" << response->body << "', wanted '" << body << "'";
  }
  if (response->header("content-length") != std::to_string(body.size())) {
    return ::testing::AssertionFailure()
           << "Content-Length '" << response->header("content-length").value_or("(none)") << "'";
  }
  return ::testing::AssertionSuccess();
}

/// The server gave up on a request that stopped arriving: a 408 request_timeout problem followed by
/// a close, or just a close. `until` bounds the wait.
::testing::AssertionResult timed_out(raw_client& client, deadline until) {
  auto response = client.read_response(until);
  if (response) {
    if (auto problem = is_problem(response, 408, "request_timeout"); !problem) {
      return problem;
    }
    if (!client.read_until_eof(until)) {
      return ::testing::AssertionFailure() << "408 sent but the connection stayed open";
    }
    return ::testing::AssertionSuccess();
  }
  if (client.last_error() == "eof" || client.last_error() == "reset") {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "neither 408 nor close: " << client.last_error()
                                       << "; received '" << client.pending() << "'";
}

raw_client connect_or_fail(std::uint16_t port) {
  int error = 0;
  auto client = raw_client::connect(port, deadline_in(io_timeout), &error);
  if (!client) {
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) +
                             " failed: " + std::strerror(error));
  }
  return std::move(*client);
}

class http_server : public stewardd_test {};

// --- Start-up ------------------------------------------------------------------------------------

TEST_F(http_server, prints_bound_addresses_and_serves_both_listeners) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->addresses().public_endpoint.host, "127.0.0.1");
  EXPECT_EQ(server->addresses().admin_endpoint.host, "127.0.0.1");
  EXPECT_NE(server->public_port(), server->admin_port());
  EXPECT_TRUE(is_json_ok(http_get(server->public_port(), "/healthz", deadline_in(io_timeout)),
                         healthz_body));
  EXPECT_TRUE(is_json_ok(http_get(server->admin_port(), "/healthz", deadline_in(io_timeout)),
                         healthz_body));
}

struct bad_option_case {
  std::string flag;        ///< replaces the base flag with the same name, or is appended
  std::string option_name; ///< what stderr must mention
};

class bad_option : public stewardd_test, public ::testing::WithParamInterface<bad_option_case> {};

TEST_P(bad_option, fails_fast_naming_the_option) {
  const auto& param = GetParam();
  const auto run_dir = new_run_dir();
  auto args = base_args(run_dir);
  const auto name_end = param.flag.find('=');
  const auto flag_prefix =
      param.flag.substr(0, name_end == std::string::npos ? name_end : name_end + 1);
  const auto same = std::find_if(args.begin(), args.end(), [&](const std::string& arg) {
    return arg.starts_with(flag_prefix);
  });
  if (name_end != std::string::npos && same != args.end()) {
    *same = param.flag;
  } else {
    args.push_back(param.flag);
  }
  auto child = spawn_stewardd(run_dir, args);
  ASSERT_NE(child, nullptr);
  const auto status = child->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status.has_value()) << "stewardd kept running with " << param.flag;
  ASSERT_TRUE(WIFEXITED(*status)) << "stewardd died from a signal with " << param.flag;
  EXPECT_NE(WEXITSTATUS(*status), 0) << param.flag;
  // The one user-facing string this suite checks: a bad config names the option that is wrong.
  EXPECT_NE(child->stderr_text().find(param.option_name), std::string::npos)
      << "stderr does not name '" << param.option_name << "':\n"
      << child->stderr_text();
  const auto line = child->read_first_line(deadline_in(1s));
  EXPECT_FALSE(line && line->starts_with("listening")) << "it bound its listeners before failing";
}

INSTANTIATE_TEST_SUITE_P(options, bad_option,
                         ::testing::Values(bad_option_case{"--io-threads=0", "io-threads"},
                                           bad_option_case{"--listen=nonsense", "listen"},
                                           bad_option_case{"--bogus", "bogus"},
                                           bad_option_case{"--connections-max=65537",
                                                           "connections-max"}),
                         [](const auto& info) {
                           std::string name;
                           for (const char c : info.param.option_name) {
                             name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
                           }
                           return name + "_" + std::to_string(info.index);
                         });

// --- Routes --------------------------------------------------------------------------------------

TEST_F(http_server, healthz_and_readyz_answer_json) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
  ASSERT_TRUE(client.send_all(make_request("GET", "/readyz"), deadline_in(io_timeout)));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), readyz_body));
}

TEST_F(http_server, head_sends_headers_of_get_without_body) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  for (const auto& [path, body] :
       {std::pair{"/healthz", healthz_body}, std::pair{"/readyz", readyz_body}}) {
    SCOPED_TRACE(path);
    // HEAD then GET on one connection: a body wrongly sent after HEAD would break the GET's parse.
    ASSERT_TRUE(client.send_all(make_request("HEAD", path) + make_request("GET", path),
                                deadline_in(io_timeout)));
    const auto head = client.read_response(deadline_in(io_timeout), /*no_body=*/true);
    ASSERT_TRUE(head.has_value()) << client.last_error();
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->media_type(), "application/json");
    EXPECT_EQ(head->header("content-length"), std::to_string(body.size()));
    EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), body));
  }
  EXPECT_FALSE(client.wait_readable(deadline_in(100ms))) << "extra bytes: " << client.pending();
}

TEST_F(http_server, unknown_path_is_404_problem_and_keeps_connection) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(
      client.send_all(make_request("GET", "/no/such/route") + make_request("GET", "/healthz"),
                      deadline_in(io_timeout)));
  const auto missing = client.read_response(deadline_in(io_timeout));
  EXPECT_TRUE(is_problem(missing, 404, "not_found"));
  if (missing) {
    EXPECT_FALSE(missing->connection_close());
  }
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
}

TEST_F(http_server, wrong_method_is_405_with_allow_and_body_is_consumed) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(
      make_request("POST", "/healthz", "Content-Type: application/json\r\n", R"({"x":1})") +
          make_request("DELETE", "/readyz") + make_request("GET", "/healthz"),
      deadline_in(io_timeout)));
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i == 0 ? "POST /healthz" : "DELETE /readyz");
    const auto response = client.read_response(deadline_in(io_timeout));
    EXPECT_TRUE(is_problem(response, 405, "method_not_allowed"));
    ASSERT_TRUE(response.has_value()) << client.last_error();
    const auto allow = response->header("allow");
    ASSERT_TRUE(allow.has_value()) << "405 without Allow";
    EXPECT_NE(allow->find("GET"), std::string::npos) << *allow;
    EXPECT_NE(allow->find("HEAD"), std::string::npos) << *allow;
    EXPECT_EQ(allow->find("POST"), std::string::npos) << *allow;
  }
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
}

TEST_F(http_server, admin_listener_serves_health_and_prometheus_metrics) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(is_json_ok(http_get(server->admin_port(), "/healthz", deadline_in(io_timeout)),
                         healthz_body));
  EXPECT_TRUE(
      is_json_ok(http_get(server->admin_port(), "/readyz", deadline_in(io_timeout)), readyz_body));
  const auto metrics = http_get(server->admin_port(), "/metrics", deadline_in(io_timeout));
  ASSERT_TRUE(metrics.has_value());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->media_type(), "text/plain");
  EXPECT_NE(metrics->header("content-type").value_or("").find("version=0.0.4"), std::string::npos)
      << metrics->header("content-type").value_or("");
  EXPECT_TRUE(metric_value(metrics->body, public_connections).has_value()) << metrics->body;
  for (const char* type_line : {"# TYPE steward_http_connections gauge",
                                "# TYPE steward_http_connections_accepted_total counter",
                                "# TYPE steward_http_requests_total counter",
                                "# TYPE steward_http_request_duration_seconds histogram"}) {
    EXPECT_NE(metrics->body.find(type_line), std::string::npos) << "missing '" << type_line << "'";
  }
  // /metrics is an admin route only.
  const auto on_public = http_get(server->public_port(), "/metrics", deadline_in(io_timeout));
  EXPECT_TRUE(is_problem(on_public, 404, "not_found"));
}

// --- Connection management -----------------------------------------------------------------------

TEST_F(http_server, keep_alive_serves_many_requests_then_honours_connection_close) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  const double accepted_before = metric_or_zero(server->admin_port(), public_accepted);
  auto client = connect_or_fail(server->public_port());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.send_all(make_request("GET", i % 2 ? "/readyz" : "/healthz"),
                                deadline_in(io_timeout)));
    const auto response = client.read_response(deadline_in(io_timeout));
    ASSERT_TRUE(is_json_ok(response, i % 2 ? readyz_body : healthz_body)) << "request " << i;
    EXPECT_FALSE(response->connection_close()) << "request " << i;
  }
  ASSERT_TRUE(client.send_all(make_request("GET", "/healthz", "Connection: close\r\n"),
                              deadline_in(io_timeout)));
  const auto last = client.read_response(deadline_in(io_timeout));
  EXPECT_TRUE(is_json_ok(last, healthz_body));
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->connection_close());
  EXPECT_TRUE(client.read_until_eof(deadline_in(io_timeout))) << "connection stayed open";
  EXPECT_EQ(client.pending(), "");
  // All 21 requests used one connection.
  EXPECT_EQ(poll_metric_equals(server->admin_port(), public_accepted, accepted_before + 1),
            accepted_before + 1);
  client.close(); // the server may linger until our FIN before it counts the close
  EXPECT_EQ(poll_metric_equals(server->admin_port(), public_connections, 0), 0);
}

TEST_F(http_server, http_1_0_closes_after_response) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  // HTTP/1.0 needs no Host header and defaults to closing.
  ASSERT_TRUE(client.send_all("GET /healthz HTTP/1.0\r\n\r\n", deadline_in(io_timeout)));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
  EXPECT_TRUE(client.read_until_eof(deadline_in(io_timeout))) << "HTTP/1.0 connection kept open";
  EXPECT_EQ(client.pending(), "");
}

struct pipelined_request {
  std::string bytes;
  int status;
  std::string_view body_or_code; ///< exact body for 200, problem code otherwise
};

std::vector<pipelined_request> mixed_pipeline(int count) {
  std::vector<pipelined_request> requests;
  for (int i = 0; i < count; ++i) {
    switch (i % 3) {
    case 0: // the actor hop first, so a faster /healthz behind it would overtake if order were lost
      requests.push_back({make_request("GET", "/readyz"), 200, readyz_body});
      break;
    case 1:
      requests.push_back({make_request("GET", "/healthz"), 200, healthz_body});
      break;
    default:
      requests.push_back({make_request("GET", "/missing-" + std::to_string(i)), 404, "not_found"});
      break;
    }
  }
  return requests;
}

void expect_pipeline_answered_in_order(std::uint16_t port, int count) {
  auto client = connect_or_fail(port);
  const auto requests = mixed_pipeline(count);
  std::string all;
  for (const auto& request : requests) {
    all += request.bytes;
  }
  ASSERT_TRUE(client.send_all(all, deadline_in(io_timeout)));
  const auto until = deadline_in(10s);
  for (int i = 0; i < count; ++i) {
    SCOPED_TRACE("response " + std::to_string(i));
    const auto response = client.read_response(until);
    ASSERT_TRUE(response.has_value()) << client.last_error();
    if (requests[i].status == 200) {
      EXPECT_TRUE(is_json_ok(response, requests[i].body_or_code));
    } else {
      EXPECT_TRUE(is_problem(response, requests[i].status, requests[i].body_or_code));
    }
  }
  EXPECT_FALSE(client.wait_readable(deadline_in(100ms))) << "extra bytes: " << client.pending();
}

TEST_F(http_server, pipelined_requests_are_answered_in_order) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  expect_pipeline_answered_in_order(server->public_port(), 30);
}

TEST_F(http_server, pipeline_deeper_than_limit_waits_instead_of_failing) {
  auto* server = start_stewardd({"--pipeline-depth-max=2"});
  ASSERT_NE(server, nullptr);
  expect_pipeline_answered_in_order(server->public_port(), 60);
}

TEST_F(http_server, pipelined_connection_close_ends_after_its_response) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(make_request("GET", "/readyz") +
                                  make_request("GET", "/healthz", "Connection: close\r\n") +
                                  make_request("GET", "/healthz"),
                              deadline_in(io_timeout)));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), readyz_body));
  const auto closing = client.read_response(deadline_in(io_timeout));
  EXPECT_TRUE(is_json_ok(closing, healthz_body));
  ASSERT_TRUE(closing.has_value());
  EXPECT_TRUE(closing->connection_close());
  EXPECT_TRUE(client.read_until_eof(deadline_in(io_timeout)));
  EXPECT_EQ(client.pending(), "") << "request after Connection: close was answered";
}

// --- Body framing --------------------------------------------------------------------------------

TEST_F(http_server, chunked_body_to_unknown_path_is_consumed_exactly) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  // The chunk data holds a complete request: a server that mis-framed the body would answer it.
  const std::string inner = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string request =
      "POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/json\r\n\r\n";
  request += "5\r\nhello\r\n";
  char size_line[16];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", inner.size());
  request += size_line + inner + "\r\n";
  request += "0\r\n\r\n";
  request += make_request("GET", "/healthz");
  ASSERT_TRUE(client.send_all(request, deadline_in(io_timeout)));
  EXPECT_TRUE(is_problem(client.read_response(deadline_in(io_timeout)), 404, "not_found"));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
  EXPECT_FALSE(client.wait_readable(deadline_in(100ms))) << "extra bytes: " << client.pending();
}

TEST_F(http_server, chunk_extensions_and_trailers_are_accepted) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  const std::string request =
      "POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nX-Trailer: yes\r\n\r\n" +
      make_request("GET", "/healthz");
  ASSERT_TRUE(client.send_all(request, deadline_in(io_timeout)));
  EXPECT_TRUE(is_problem(client.read_response(deadline_in(io_timeout)), 404, "not_found"));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
}

TEST_F(http_server, body_at_exactly_the_limit_is_accepted) {
  auto* server = start_stewardd({"--body-bytes-max=1024"});
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(
      make_request("POST", "/nope", "", std::string(1024, 'x')) + make_request("GET", "/healthz"),
      deadline_in(io_timeout)));
  EXPECT_TRUE(is_problem(client.read_response(deadline_in(io_timeout)), 404, "not_found"));
  EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
}

// --- Rejected requests: a problem, `Connection: close`, then EOF ---------------------------------

struct rejected_case {
  std::string name;
  std::string request;
  int status;
  std::string code;
  std::vector<std::string> flags;
};

std::ostream& operator<<(std::ostream& out, const rejected_case& c) {
  return out << c.name;
}

class rejected_request : public stewardd_test,
                         public ::testing::WithParamInterface<rejected_case> {};

TEST_P(rejected_request, gets_problem_then_close) {
  const auto& param = GetParam();
  auto* server = start_stewardd(param.flags);
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(param.request, deadline_in(io_timeout)));
  const auto response = client.read_response(deadline_in(io_timeout));
  ASSERT_TRUE(response.has_value()) << "no response (" << client.last_error() << ") to:\n"
                                    << param.request.substr(0, 300);
  EXPECT_TRUE(is_problem(response, param.status, param.code));
  EXPECT_TRUE(response->connection_close()) << "no Connection: close";
  EXPECT_TRUE(client.read_until_eof(deadline_in(io_timeout))) << "connection stayed open";
  EXPECT_EQ(client.pending(), "") << "bytes after the error response";
  // The server is unharmed.
  EXPECT_TRUE(is_json_ok(http_get(server->public_port(), "/healthz", deadline_in(io_timeout)),
                         healthz_body));
  client.close(); // the server may linger until our FIN before it counts the close
  EXPECT_EQ(poll_metric_equals(server->admin_port(), public_connections, 0), 0);
}

std::vector<rejected_case> rejected_cases() {
  const std::string host = "Host: 127.0.0.1\r\n";
  std::string many_headers;
  for (int i = 0; i < 60; ++i) {
    many_headers += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n";
  }
  std::string big_chunks;
  for (int i = 0; i < 4; ++i) {
    big_chunks += "200\r\n" + std::string(512, 'c') + "\r\n"; // 4 x 512 bytes > 1024
  }
  return {
      {"content_length_and_transfer_encoding",
       "POST /nope HTTP/1.1\r\n" + host +
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"duplicate_content_length_differing",
       "POST /nope HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
       400,
       "bad_request",
       {}},
      {"duplicate_content_length_equal",
       "POST /nope HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
       400,
       "bad_request",
       {}},
      {"negative_content_length",
       "POST /nope HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"obs_fold",
       "GET /healthz HTTP/1.1\r\n" + host + "X-Folded: first\r\n  continued\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"invalid_header_name_token",
       "GET /healthz HTTP/1.1\r\n" + host + "X-Bad(Name): 1\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"whitespace_before_colon",
       "GET /healthz HTTP/1.1\r\n" + host + "X-Spaced : 1\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"bad_chunk_size",
       "POST /nope HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"missing_host_in_http_1_1",
       "GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"bare_lf_line_endings",
       "GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
       400,
       "bad_request",
       {}},
      {"garbage_request_line", "\x16\x03\x01 hello there\r\n\r\n", 400, "bad_request", {}},
      // A coding the server does not implement, with framing it can still read: 501.
      {"transfer_encoding_gzip_chunked",
       "POST /nope HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       501,
       "not_implemented",
       {}},
      // Without chunked last the body length cannot be known: RFC 9112 6.3 requires 400 and close.
      {"transfer_encoding_gzip_not_chunked",
       "POST /nope HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n",
       400,
       "bad_request",
       {}},
      {"http_2_0_request_line",
       "GET /healthz HTTP/2.0\r\n" + host + "\r\n",
       505,
       "http_version_not_supported",
       {}},
      {"request_line_over_limit",
       "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n" + host + "\r\n",
       431,
       "headers_too_large",
       {}},
      {"header_section_over_limit",
       "GET /healthz HTTP/1.1\r\n" + host + many_headers + "\r\n",
       431,
       "headers_too_large",
       {"--header-bytes-max=4096"}},
      {"content_length_over_body_limit",
       "POST /nope HTTP/1.1\r\n" + host + "Content-Length: 1025\r\n\r\n",
       413,
       "payload_too_large",
       {"--body-bytes-max=1024"}},
      {"chunked_body_over_body_limit",
       "POST /nope HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + big_chunks +
           "0\r\n\r\n",
       413,
       "payload_too_large",
       {"--body-bytes-max=1024"}},
  };
}

INSTANTIATE_TEST_SUITE_P(wire, rejected_request, ::testing::ValuesIn(rejected_cases()),
                         [](const auto& info) { return info.param.name; });

// --- Connection limit ----------------------------------------------------------------------------

TEST_F(http_server, connections_past_limit_get_503_and_limit_frees_up) {
  constexpr int connections_max = 4;
  auto* server = start_stewardd(
      {"--connections-max=" + std::to_string(connections_max), "--idle-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto public_port = server->public_port();
  const auto admin_port = server->admin_port();

  std::vector<raw_client> held;
  for (int i = 0; i < connections_max; ++i) {
    held.push_back(connect_or_fail(public_port));
    ASSERT_TRUE(held.back().send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
    ASSERT_TRUE(is_json_ok(held.back().read_response(deadline_in(io_timeout)), healthz_body));
  }
  EXPECT_EQ(poll_metric_equals(admin_port, public_connections, connections_max), connections_max);
  const double rejected_before = metric_or_zero(admin_port, public_rejected);

  // The extra connection is answered without sending anything: the 503 comes on accept.
  auto extra = connect_or_fail(public_port);
  const auto refusal = extra.read_response(deadline_in(io_timeout));
  EXPECT_TRUE(is_problem(refusal, 503, "overloaded"));
  if (refusal) {
    EXPECT_TRUE(refusal->connection_close());
  }
  EXPECT_TRUE(extra.read_until_eof(deadline_in(io_timeout)));
  EXPECT_EQ(poll_metric_equals(admin_port, public_rejected, rejected_before + 1),
            rejected_before + 1);

  // The admitted connections are unaffected.
  for (auto& client : held) {
    ASSERT_TRUE(client.send_all(make_request("GET", "/readyz"), deadline_in(io_timeout)));
    EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), readyz_body));
  }

  held.clear();
  extra.close();
  ASSERT_EQ(poll_metric_equals(admin_port, public_connections, 0), 0);
  for (int i = 0; i < connections_max; ++i) {
    held.push_back(connect_or_fail(public_port));
    ASSERT_TRUE(held.back().send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
    EXPECT_TRUE(is_json_ok(held.back().read_response(deadline_in(io_timeout)), healthz_body))
        << "connection " << i << " after the limit freed up";
  }
}

TEST_F(http_server, connection_flood_is_bounded_and_recovers) {
  constexpr int connections_max = 50;
  constexpr int flood = 300;
  auto* server = start_stewardd({"--connections-max=" + std::to_string(connections_max),
                                 "--idle-timeout-ms=30000", "--header-read-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto public_port = server->public_port();
  const auto admin_port = server->admin_port();
  const double accepted_before = metric_or_zero(admin_port, public_accepted);
  const double rejected_before = metric_or_zero(admin_port, public_rejected);

  std::vector<raw_client> clients;
  clients.reserve(flood);
  for (int i = 0; i < flood; ++i) {
    clients.push_back(connect_or_fail(public_port));
  }
  // The connections past the limit each receive a 503 unprompted; wait until all of them have.
  std::vector<bool> readable(flood, false);
  int readable_count = 0;
  const auto until = deadline_in(10s);
  while (readable_count < flood - connections_max && clock::now() < until) {
    for (int i = 0; i < flood; ++i) {
      if (!readable[i] && clients[i].wait_readable(clock::now())) {
        readable[i] = true;
        ++readable_count;
      }
    }
    if (readable_count < flood - connections_max) {
      // Re-check interval; the deadline bounds the wait.
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_EQ(readable_count, flood - connections_max);

  int served = 0;
  int refused = 0;
  for (int i = 0; i < flood; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i));
    auto& client = clients[i];
    if (readable[i]) {
      const auto response = client.read_response(deadline_in(io_timeout));
      EXPECT_TRUE(is_problem(response, 503, "overloaded"));
      EXPECT_TRUE(client.read_until_eof(deadline_in(io_timeout)));
      ++refused;
    } else {
      ASSERT_TRUE(client.send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
      EXPECT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
      ++served;
    }
  }
  EXPECT_EQ(served, connections_max);
  EXPECT_EQ(refused, flood - connections_max);
  EXPECT_EQ(poll_metric_equals(admin_port, public_accepted, accepted_before + connections_max),
            accepted_before + connections_max);
  EXPECT_EQ(
      poll_metric_equals(admin_port, public_rejected, rejected_before + flood - connections_max),
      rejected_before + flood - connections_max);

  clients.clear();
  EXPECT_EQ(poll_metric_equals(admin_port, public_connections, 0, 10s), 0);
  EXPECT_TRUE(is_json_ok(http_get(public_port, "/healthz", deadline_in(io_timeout)), healthz_body));
  EXPECT_EQ(server->process().wait_exit(clock::now()), std::nullopt) << "stewardd exited";
}

// --- Timeouts ------------------------------------------------------------------------------------

constexpr auto short_timeout = 500ms;
/// Time a timeout may take beyond its setting (the io loop's 100 ms tick, a busy machine).
constexpr auto timeout_slack = 1000ms;
/// A timeout may fire one tick early at most.
constexpr auto timeout_floor = short_timeout - 200ms;

TEST_F(http_server, partial_header_section_times_out_with_408) {
  auto* server = start_stewardd({"--header-read-timeout-ms=500", "--idle-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto series = timeouts_series("header");
  const double before = metric_or_zero(server->admin_port(), series);
  auto client = connect_or_fail(server->public_port());
  const auto started = clock::now();
  ASSERT_TRUE(
      client.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", deadline_in(io_timeout)));
  EXPECT_TRUE(timed_out(client, started + short_timeout + timeout_slack));
  EXPECT_GE(clock::now() - started, timeout_floor) << "closed before the header timeout";
  EXPECT_EQ(poll_metric_at_least(server->admin_port(), series, before + 1), before + 1);
}

TEST_F(http_server, slow_loris_header_trickle_times_out_from_first_byte) {
  auto* server = start_stewardd({"--header-read-timeout-ms=500", "--idle-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto series = timeouts_series("header");
  const double before = metric_or_zero(server->admin_port(), series);
  auto client = connect_or_fail(server->public_port());
  const auto started = clock::now();
  ASSERT_TRUE(client.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                              deadline_in(io_timeout)));
  // One byte every 100 ms: each read keeps arriving, but the header deadline is absolute.
  const auto give_up = started + short_timeout + timeout_slack;
  while (clock::now() < give_up && !client.wait_readable(deadline_in(100ms))) {
    if (!client.send_all("a", deadline_in(io_timeout))) {
      break; // the server closed: the read below sees it
    }
  }
  EXPECT_TRUE(timed_out(client, give_up));
  EXPECT_GE(clock::now() - started, timeout_floor);
  EXPECT_EQ(poll_metric_at_least(server->admin_port(), series, before + 1), before + 1);
}

TEST_F(http_server, slow_body_times_out_with_408) {
  auto* server = start_stewardd(
      {"--body-read-timeout-ms=500", "--header-read-timeout-ms=30000", "--idle-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto series = timeouts_series("body");
  const double before = metric_or_zero(server->admin_port(), series);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(
      "POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789",
      deadline_in(io_timeout)));
  const auto started = clock::now();
  const auto give_up = started + short_timeout + timeout_slack;
  while (clock::now() < give_up && !client.wait_readable(deadline_in(100ms))) {
    if (!client.send_all("b", deadline_in(io_timeout))) {
      break;
    }
  }
  EXPECT_TRUE(timed_out(client, give_up));
  EXPECT_GE(clock::now() - started, timeout_floor);
  EXPECT_EQ(poll_metric_at_least(server->admin_port(), series, before + 1), before + 1);
}

TEST_F(http_server, idle_keep_alive_connection_is_closed) {
  auto* server = start_stewardd({"--idle-timeout-ms=500"});
  ASSERT_NE(server, nullptr);
  const auto series = timeouts_series("idle");
  const double before = metric_or_zero(server->admin_port(), series);
  auto client = connect_or_fail(server->public_port());
  ASSERT_TRUE(client.send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
  ASSERT_TRUE(is_json_ok(client.read_response(deadline_in(io_timeout)), healthz_body));
  const auto idle_since = clock::now();
  EXPECT_TRUE(client.read_until_eof(idle_since + short_timeout + timeout_slack))
      << "idle connection still open";
  EXPECT_GE(clock::now() - idle_since, timeout_floor) << "closed before the idle timeout";
  EXPECT_EQ(poll_metric_at_least(server->admin_port(), series, before + 1), before + 1);
  client.close(); // the server may linger until our FIN before it counts the close
  EXPECT_EQ(poll_metric_equals(server->admin_port(), public_connections, 0), 0);
}

TEST_F(http_server, silent_new_connection_is_closed) {
  auto* server = start_stewardd({"--idle-timeout-ms=500", "--header-read-timeout-ms=500"});
  ASSERT_NE(server, nullptr);
  auto client = connect_or_fail(server->public_port());
  const auto connected = clock::now();
  EXPECT_TRUE(client.read_until_eof(connected + short_timeout + timeout_slack))
      << "a connection that never sends a byte is held forever";
  client.close(); // the server may linger until our FIN before it counts the close
  EXPECT_EQ(poll_metric_equals(server->admin_port(), public_connections, 0), 0);
}

// --- Metrics -------------------------------------------------------------------------------------

TEST_F(http_server, metrics_count_connections_and_requests) {
  auto* server = start_stewardd();
  ASSERT_NE(server, nullptr);
  const auto admin_port = server->admin_port();
  const std::string requests_series =
      R"(steward_http_requests_total{listener="public",route="/healthz",status="200"})";
  const std::string inf_bucket_series =
      R"(steward_http_request_duration_seconds_bucket{listener="public",route="/healthz",le="+Inf"})";
  const double accepted_before = metric_or_zero(admin_port, public_accepted);
  const double requests_before = metric_or_zero(admin_port, requests_series);
  const double inf_before = metric_or_zero(admin_port, inf_bucket_series);

  std::vector<raw_client> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_or_fail(server->public_port()));
    for (int j = 0; j < 2; ++j) {
      ASSERT_TRUE(
          clients.back().send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
      ASSERT_TRUE(is_json_ok(clients.back().read_response(deadline_in(io_timeout)), healthz_body));
    }
  }
  EXPECT_EQ(poll_metric_equals(admin_port, public_connections, 3), 3);
  EXPECT_EQ(poll_metric_equals(admin_port, public_accepted, accepted_before + 3),
            accepted_before + 3);
  EXPECT_EQ(poll_metric_equals(admin_port, requests_series, requests_before + 6),
            requests_before + 6);
  EXPECT_EQ(poll_metric_equals(admin_port, inf_bucket_series, inf_before + 6), inf_before + 6);

  // The histogram's buckets are cumulative: counts never decrease as `le` grows.
  const auto text = scrape(admin_port);
  ASSERT_TRUE(text.has_value());
  auto buckets = samples_of(*text, "steward_http_request_duration_seconds_bucket",
                            {{"listener", "public"}, {"route", "/healthz"}});
  ASSERT_GE(buckets.size(), 2u) << *text;
  auto le_of = [](const series_key& key) {
    for (const auto& [name, value] : key.labels) {
      if (name == "le") {
        return value == "+Inf" ? std::numeric_limits<double>::infinity()
                               : std::strtod(value.c_str(), nullptr);
      }
    }
    return std::numeric_limits<double>::quiet_NaN();
  };
  std::sort(buckets.begin(), buckets.end(),
            [&](const auto& a, const auto& b) { return le_of(a.first) < le_of(b.first); });
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "bucket " << i;
  }
  EXPECT_TRUE(std::isinf(le_of(buckets.back().first))) << "no le=\"+Inf\" bucket";

  clients.clear();
  EXPECT_EQ(poll_metric_equals(admin_port, public_connections, 0), 0);
}

// --- Drain ---------------------------------------------------------------------------------------

class drain : public stewardd_test, public ::testing::WithParamInterface<int> {};

TEST_P(drain, finishes_in_flight_request_closes_idle_and_exits_zero) {
  const int signal_number = GetParam();
  auto* server = start_stewardd(
      {"--drain-timeout-ms=5000", "--idle-timeout-ms=30000", "--header-read-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto public_port = server->public_port();

  auto idle = connect_or_fail(public_port);
  ASSERT_TRUE(idle.send_all(make_request("GET", "/healthz"), deadline_in(io_timeout)));
  ASSERT_TRUE(is_json_ok(idle.read_response(deadline_in(io_timeout)), healthz_body));

  // One write carries a complete request and half of the next; the answer to the first shows the
  // server has read the half as well.
  auto half = connect_or_fail(public_port);
  ASSERT_TRUE(half.send_all(
      make_request("GET", "/healthz") + "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
      deadline_in(io_timeout)));
  ASSERT_TRUE(is_json_ok(half.read_response(deadline_in(io_timeout)), healthz_body));

  ASSERT_TRUE(server->process().signal(signal_number));
  const auto signalled = clock::now();

  // New connections are refused promptly (connect fails, or the connection is closed unanswered or
  // answered 503). A 200 means the signal has not been handled yet: try again until the deadline.
  bool refused = false;
  std::string last_outcome;
  while (!refused && clock::now() < signalled + 1500ms) {
    int error = 0;
    auto probe = raw_client::connect(public_port, deadline_in(500ms), &error);
    if (!probe) {
      refused = true;
      last_outcome = std::string("connect failed: ") + std::strerror(error);
      break;
    }
    if (!probe->send_all(make_request("GET", "/healthz"), deadline_in(500ms))) {
      refused = true;
      last_outcome = "send failed";
      break;
    }
    const auto response = probe->read_response(deadline_in(500ms));
    if (!response) {
      last_outcome = probe->last_error();
      refused = last_outcome != "timeout";
    } else {
      last_outcome = "status " + std::to_string(response->status);
      refused = response->status == 503;
    }
  }
  EXPECT_TRUE(refused) << "new connections still served or left hanging after the signal; last: "
                       << last_outcome;

  EXPECT_TRUE(idle.read_until_eof(signalled + 2s)) << "idle keep-alive connection not closed";

  ASSERT_TRUE(half.send_all("\r\n", deadline_in(io_timeout)));
  const auto completed = half.read_response(deadline_in(io_timeout));
  EXPECT_TRUE(is_json_ok(completed, healthz_body)) << half.last_error();
  if (completed) {
    EXPECT_TRUE(completed->connection_close()) << "response during drain without Connection: close";
  }
  EXPECT_TRUE(half.read_until_eof(deadline_in(io_timeout)));

  const auto status = server->process().wait_exit(signalled + 5s + timeout_slack);
  ASSERT_TRUE(status.has_value()) << "still running past the drain timeout";
  ASSERT_TRUE(WIFEXITED(*status)) << "killed by signal " << WTERMSIG(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_P(drain, cuts_unfinished_request_at_drain_timeout) {
  const int signal_number = GetParam();
  auto* server = start_stewardd(
      {"--drain-timeout-ms=1000", "--idle-timeout-ms=30000", "--header-read-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  auto half = connect_or_fail(server->public_port());
  ASSERT_TRUE(half.send_all(
      make_request("GET", "/healthz") + "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
      deadline_in(io_timeout)));
  ASSERT_TRUE(is_json_ok(half.read_response(deadline_in(io_timeout)), healthz_body));

  ASSERT_TRUE(server->process().signal(signal_number));
  const auto signalled = clock::now();
  const auto status = server->process().wait_exit(signalled + 1000ms + timeout_slack);
  ASSERT_TRUE(status.has_value()) << "a stalled request kept stewardd past its drain timeout";
  EXPECT_TRUE(WIFEXITED(*status)) << "killed by signal " << WTERMSIG(*status);
  EXPECT_TRUE(half.read_until_eof(deadline_in(io_timeout)));
}

INSTANTIATE_TEST_SUITE_P(signals, drain, ::testing::Values(SIGTERM, SIGINT), [](const auto& info) {
  return info.param == SIGTERM ? "sigterm" : "sigint";
});

// --- Isolation -----------------------------------------------------------------------------------

TEST_F(http_server, hostile_connections_do_not_delay_a_good_one) {
  auto* server = start_stewardd({"--header-read-timeout-ms=30000", "--idle-timeout-ms=30000"});
  ASSERT_NE(server, nullptr);
  const auto port = server->public_port();

  const auto seed = static_cast<std::uint32_t>(std::random_device{}());
  std::cout << "hostile_connections seed: " << seed << "\n";
  RecordProperty("seed", static_cast<int>(seed & 0x7fffffff));
  std::mt19937 random(seed);
  auto garbage = [&](std::size_t size) {
    std::string bytes(size, '\0');
    for (auto& byte : bytes) {
      byte = static_cast<char>(random() & 0xff);
    }
    return bytes;
  };

  // A slow-loris that never finishes its header section.
  auto loris = connect_or_fail(port);
  ASSERT_TRUE(loris.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                             deadline_in(io_timeout)));
  // A client that pipelines many requests and never reads: its responses back up in the server.
  auto hoarder = connect_or_fail(port);
  std::string hoard;
  for (int i = 0; i < 2000; ++i) {
    hoard += make_request("GET", "/healthz");
  }
  (void)hoarder.send_all(hoard, deadline_in(1s)); // may stop early once the server pushes back

  auto good = connect_or_fail(port);
  std::vector<raw_client> junk;
  auto slowest = clock::duration::zero();
  for (int i = 0; i < 50; ++i) {
    (void)loris.send_all("a", deadline_in(io_timeout));
    if (auto noise = raw_client::connect(port, deadline_in(io_timeout))) {
      // Random bytes, then a line end so a parser that validates per line sees a whole line.
      (void)noise->send_all(garbage(1024) + "\r\n\r\n", deadline_in(io_timeout));
      junk.push_back(std::move(*noise));
    }
    const auto sent = clock::now();
    ASSERT_TRUE(good.send_all(make_request("GET", i % 2 ? "/readyz" : "/healthz"),
                              deadline_in(io_timeout)));
    const auto response = good.read_response(sent + 1s);
    ASSERT_TRUE(is_json_ok(response, i % 2 ? readyz_body : healthz_body))
        << "request " << i << ": " << good.last_error();
    slowest = std::max(slowest, clock::now() - sent);
  }
  std::cout << "slowest good response: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms\n";
  // Every junk connection got its 400 and was closed rather than lingering.
  for (auto& noise : junk) {
    const auto response = noise.read_response(deadline_in(io_timeout));
    EXPECT_TRUE(is_problem(response, 400, "bad_request"));
    EXPECT_TRUE(noise.read_until_eof(deadline_in(io_timeout)));
  }
}

} // namespace
} // namespace steward::test_support
