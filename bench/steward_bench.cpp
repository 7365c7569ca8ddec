// steward-bench: the load generator of the end-to-end benchmarks (DESIGN 7). It talks plain
// HTTP/1.1 to a running stewardd over keep-alive connections on epoll, with no HTTP library, so
// what it measures is stewardd and not a client stack. Scenarios:
//
//   charges   durable approved POST /v1/provider/charges per second (bench/steward_bench/charges.hpp)
//   provision end-to-end purchases per second, catalog → POST /v1/resources → the provider's charge,
//             against a real provider such as the refprovider (bench/steward_bench/provision.hpp)
//
// Options are `--name=value`; a bad or unknown one fails at once with a message that names it.

#include "bench/steward_bench/charges.hpp"
#include "bench/steward_bench/provision.hpp"

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
#include <utility>
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
  --kill-user        the same for a user of the probe's own, bench-kill-probe    [off]
  --kill-url=URL     send the probe's kills there (stewardd's admin listener) with
                     DIR/admin.token instead of to --url with the platform key  [--url]
  --report=FILE      also write the results as JSON to FILE
  --threads=N        event-loop threads of the load phase                       [1]

usage: steward-bench provision --url=http://HOST:PORT --data-dir=DIR [options]

  --url, --data-dir, --duration, --warmup, --report, --threads as above, and
  --users=N          users created by the setup, each with a session and one
                     purchase (its provider account)                            [1000]
  --connections=N    keep-alive connections of the load phase                   [64]
  --rate=R           total operations/s, paced per connection (open loop);
                     0 = each connection starts one when the last is answered  [0]
  --provider=SLUG    the provider                                               [ref]
  --service=ID       the service bought, without the provider: hosting:pro is
                     $20/month and charged through steward, kv:free is free    [hosting:pro]
  --catalog-every=N  a catalog search before every N-th provision; 0 = none    [1]
  --query=TEXT       the search's q (letters, digits, -)                        [hosting]
  --per-user=N       operations per user in the load; 0 = the most its ledger
                     allows after the warm-up purchase (59 priced, 63 free)     [0]
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

/// Splits `--name=value`.
std::pair<std::string_view, std::string_view> split_option(std::string_view arg) {
  if (arg.substr(0, 2) != "--" || arg.find('=') == std::string_view::npos)
    usage_error("expected --name=value, got '" + std::string(arg) + "'");
  const auto eq = arg.find('=');
  return {arg.substr(2, eq - 2), arg.substr(eq + 1)};
}

/// Applies an option every scenario has; false when `name` is not one of them.
bool parse_load_option(std::string_view name, std::string_view value, bench::load_options& o) {
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
  else if (name == "report")
    o.report_path = value;
  else if (name == "threads")
    o.threads = parse_integer<std::uint32_t>(name, value, 1, threads_max);
  else
    return false;
  return true;
}

/// The checks of the options every scenario has.
void check_load_options(const bench::load_options& o) {
  if (o.url.empty())
    usage_error("--url is required");
  if (o.data_dir.empty())
    usage_error("--data-dir is required");
  if (o.threads > o.connections)
    usage_error("--threads=" + std::to_string(o.threads) + " is more than --connections=" +
                std::to_string(o.connections));
}

bench::charges_options parse_charges(const std::vector<std::string_view>& args) {
  bench::charges_options o;
  for (auto arg : args) {
    if (arg == "--kill-user") { // a switch, the one option without a value
      o.kill_user = true;
      continue;
    }
    const auto [name, value] = split_option(arg);
    if (parse_load_option(name, value, o))
      continue;
    if (name == "amount")
      o.amount = parse_integer<std::int64_t>(name, value, 1, amount_max);
    else if (name == "provider")
      o.provider = value;
    else if (name == "kill-provider")
      o.kill_provider = value;
    else if (name == "kill-url")
      o.kill_url = value;

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
  if (o.kill_user && !o.kill_provider.empty())
    usage_error("--kill-user and --kill-provider: one kill probe at a time");
  if (!o.kill_url.empty() && !o.kill_probe())
    usage_error("--kill-url needs a kill probe (--kill-provider or --kill-user)");
  check_load_options(o);
  return o;
}

/// A catalog service id or search text the bench puts into a URL path or query unescaped.
bool is_plain_text(std::string_view text, std::string_view extra) {
  if (text.empty() || text.size() > 64)
    return false;
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || extra.find(c) != std::string_view::npos;
  });
}

bench::provision_options parse_provision(const std::vector<std::string_view>& args) {
  bench::provision_options o;
  for (auto arg : args) {
    const auto [name, value] = split_option(arg);
    if (parse_load_option(name, value, o))
      continue;
    if (name == "provider")
      o.provider = value;
    else if (name == "service")
      o.service = value;
    else if (name == "catalog-every")
      o.catalog_every = parse_integer<std::uint32_t>(name, value, 0, users_max);
    else if (name == "query")
      o.query = value;
    else if (name == "per-user")
      o.per_user = parse_integer<std::uint32_t>(name, value, 0, users_max);
    else
      usage_error("unknown option --" + std::string(name));
  }
  check_load_options(o);
  if (!core::is_valid_provider_slug(o.provider))
    usage_error("--provider=" + o.provider + ": not a provider slug (1-32 of a-z, 0-9, -)");
  if (!is_plain_text(o.service, ":._"))
    usage_error("--service=" + o.service + ": expected a service id such as hosting:pro");
  if (!is_plain_text(o.query, ""))
    usage_error("--query=" + o.query + ": expected 1-64 letters, digits or -");
  if (o.threads > o.users)
    usage_error("--threads=" + std::to_string(o.threads) + " is more than --users=" +
                std::to_string(o.users) + " (each thread takes its own users)");
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
  if (scenario == "charges") {
    const auto options = parse_charges(args);
    ensure_file_limit(options.connections);
    return bench::run_charges(options);
  }
  if (scenario == "provision") {
    const auto options = parse_provision(args);
    ensure_file_limit(options.connections);
    return bench::run_provision(options);
  }
  usage_error("unknown scenario '" + std::string(scenario) + "' (known: charges, provision)");
}
