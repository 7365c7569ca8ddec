// steward-bench: the load generator of the end-to-end benchmarks (DESIGN 7). It talks plain
// HTTP/1.1 to a running stewardd over keep-alive connections on epoll, with no HTTP library, so
// what it measures is stewardd and not a client stack. Scenarios:
//
//   charges   durable approved POST /v1/provider/charges per second (bench/steward_bench/charges.hpp)
//
// Options are `--name=value`; a bad or unknown one fails at once with a message that names it.

#include "bench/steward_bench/charges.hpp"

#include "core/ids.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace steward;

namespace {

constexpr int exit_usage = 2;

constexpr std::string_view usage_text =
  R"(usage: steward-bench charges --url=http://HOST:PORT --data-dir=DIR [options]

  --url=URL          stewardd's public listener, http://HOST:PORT
  --data-dir=DIR     stewardd's data dir (platform.key, providers/<provider>.secret)
  --users=N          users created by the setup, each with one payment token   [10000]
  --connections=N    keep-alive connections of the load phase                   [512]
  --duration=S       measured seconds                                           [10]
  --warmup=S         seconds before the measurement, not counted                [2]
  --rate=R           total requests/s, paced per connection (open loop);
                     0 = each connection sends as soon as it has its answer    [0]
  --amount=N         minor units per charge                                     [1]
  --provider=SLUG    provider whose signature the charges carry                 [acme]
  --kill-provider=SLUG  during the window, kill and unkill this other provider every 100 ms
                     and report the kill's answer latency                        [none]
  --report=FILE      also write the results as JSON to FILE
  --threads=N        event-loop threads of the load phase                       [1]
)";

/// Limits of the options: far above what the benchmark needs, low enough to catch a typo.
constexpr std::uint32_t users_max = 1'000'000;
constexpr std::uint32_t connections_max = 65'536;
constexpr std::uint32_t threads_max = 64;
constexpr double seconds_max = 86'400;
constexpr double rate_max = 10'000'000;
constexpr std::int64_t amount_max = 1'000'000'000'000'000;

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "steward-bench: " << message << "\n\n" << usage_text;
  std::exit(exit_usage);
}

template <class Integer>
Integer parse_integer(std::string_view name, std::string_view text, Integer low, Integer high) {
  Integer value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high)
    usage_error("--" + std::string(name) + "=" + std::string(text) + ": expected an integer from " +
                std::to_string(low) + " to " + std::to_string(high));
  return value;
}

double parse_seconds(std::string_view name, std::string_view text, double low, double high) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < low || value > high)
    usage_error("--" + std::string(name) + "=" + std::string(text) + ": expected a number from " +
                std::to_string(static_cast<long long>(low)) + " to " +
                std::to_string(static_cast<long long>(high)));
  return value;
}

bench::charges_options parse_charges(const std::vector<std::string_view>& args) {
  bench::charges_options o;
  for (auto arg : args) {
    if (arg.substr(0, 2) != "--" || arg.find('=') == std::string_view::npos)
      usage_error("expected --name=value, got '" + std::string(arg) + "'");
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(2, eq - 2);
    const std::string_view value = arg.substr(eq + 1);
    if (name == "url")
      o.url = value;
    else if (name == "data-dir")
      o.data_dir = value;
    else if (name == "users")
      o.users = parse_integer<std::uint32_t>(name, value, 1, users_max);
    else if (name == "connections")
      o.connections = parse_integer<std::uint32_t>(name, value, 1, connections_max);
    else if (name == "duration")
      o.duration_s = parse_seconds(name, value, 0.001, seconds_max);
    else if (name == "warmup")
      o.warmup_s = parse_seconds(name, value, 0, seconds_max);
    else if (name == "rate")
      o.rate = parse_seconds(name, value, 0, rate_max);
    else if (name == "amount")
      o.amount = parse_integer<std::int64_t>(name, value, 1, amount_max);
    else if (name == "provider")
      o.provider = value;
    else if (name == "report")
      o.report_path = value;
    else if (name == "kill-provider")
      o.kill_provider = value;
    else if (name == "threads")
      o.threads = parse_integer<std::uint32_t>(name, value, 1, threads_max);
    else
      usage_error("unknown option --" + std::string(name));
  }
  if (o.url.empty())
    usage_error("--url is required");
  if (o.data_dir.empty())
    usage_error("--data-dir is required");
  if (!core::is_valid_provider_slug(o.provider))
    usage_error("--provider=" + o.provider + ": not a provider slug (1-32 of a-z, 0-9, -)");
  if (!o.kill_provider.empty() &&
      (!core::is_valid_provider_slug(o.kill_provider) || o.kill_provider == o.provider))
    usage_error("--kill-provider=" + o.kill_provider +
                ": must be another configured provider's slug than --provider");
  if (o.threads > o.connections)
    usage_error("--threads=" + std::to_string(o.threads) + " is more than --connections=" +
                std::to_string(o.connections));
  return o;
}

/// Raises the open-files limit to what the connections need, as far as the hard limit allows.
void ensure_file_limit(std::uint32_t connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return;
  const rlim_t needed = connections + bench::setup_connections + 64;
  if (limit.rlim_cur >= needed)
    return;
  limit.rlim_cur = std::min(limit.rlim_max, needed);
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < needed)
    std::cerr << "steward-bench: warning: open-files limit " << limit.rlim_cur << " is below the "
              << needed << " needed for --connections=" << connections << "\n";
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage_text;
    return args.empty() ? exit_usage : 0;
  }
  const std::string_view scenario = args[0];
  args.erase(args.begin());
  if (scenario != "charges")
    usage_error("unknown scenario '" + std::string(scenario) + "' (known: charges)");
  const auto options = parse_charges(args);
  ensure_file_limit(options.connections);
  return bench::run_charges(options);
}
