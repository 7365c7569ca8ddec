#include "bench/steward_bench/charges.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/steward_bench/http_loop.hpp"
#include "bench/steward_bench/scenario.hpp"
#include "core/hmac_signature.hpp"
#include "core/json_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace steward::bench {
namespace {

constexpr std::string_view charges_path = "/v1/provider/charges";
/// Caps and token ceilings set by the setup: far above anything a run can spend.
constexpr std::int64_t setup_money_amount = 1'000'000'000'000;
constexpr std::int64_t token_lifetime_seconds = 86'400;
/// Setup: retries of one request after 409/429/503 answers, and connection failures in a row.
constexpr int setup_retries_max = 30;
constexpr int setup_connection_failures_max = 5;
/// Setup gives up when no answer at all arrived for this long (a hung server).
constexpr std::int64_t setup_stall_ns_max = 30'000'000'000;

/// Appends a signed `POST /v1/provider/charges` of `amount` on `token` with idempotency key `key`
/// (DESIGN 4, "Auth"). `body` and `headers` are scratch buffers, reused to avoid allocations.
void append_charge_request(std::string& out, const endpoint& server, const charges_options& o,
                           std::string_view secret, std::string_view token, std::string_view key,
                           std::string& body, std::string& headers) {
  body.assign(R"({"payment_token":")").append(token).append(R"(","amount":)");
  append_number(body, o.amount);
  body.append(R"(,"currency":"usd","description":"bench"})");
  const std::string signature =
    core::sign(secret, unix_now(), core::signed_request{"POST", charges_path, key, body});
  headers.assign("Steward-Provider: ").append(o.provider).append("\r\n");
  headers.append(core::signature_header_name).append(": ").append(signature).append("\r\n");
  headers.append("Idempotency-Key: ").append(key).append("\r\n");
  append_request(out, "POST", charges_path, server.host_header, headers, body);
}

// --- Setup ----------------------------------------------------------------------------------------

/// Creates the users, their caps and their payment tokens; `tokens[i]` is user i's `ptk_` id.
class setup_run final : public loop_handler {
public:
  setup_run(const charges_options& options, const endpoint& server, std::string platform_key,
            std::string provider_secret, std::size_t lanes, std::int64_t started_ns)
    : options_(options), server_(server), platform_key_(std::move(platform_key)),
      provider_secret_(std::move(provider_secret)),
      nonce_(run_nonce()), tokens_(options.users), lanes_(lanes),
      next_progress_ns_(started_ns + 1'000'000'000), last_answer_ns_(started_ns) {
    for (std::size_t c = 0; c < lanes; ++c)
      lanes_[c].user = c;
  }

  std::vector<std::string>& tokens() { return tokens_; }
  const std::string& failure() const { return failure_; }
  std::size_t completed() const { return completed_; }

  void on_idle(http_loop& loop, std::size_t c, std::int64_t now_ns) override {
    lane& l = lanes_[c];
    if (!failure_.empty() || l.user >= options_.users)
      return;
    if (now_ns < l.not_before_ns) {
      loop.wake(c, l.not_before_ns);
      return;
    }
    std::string& out = loop.request_buffer(c);
    std::string headers = "Authorization: Bearer " + platform_key_ + "\r\n";
    std::string body;
    const std::string user = std::to_string(l.user);
    switch (l.step) {
    case setup_step::upsert:
      l.target = "/v1/users/bench-" + user;
      body = R"({"email":"bench)" + user + R"(@example.com"})";
      append_request(out, "PUT", l.target, server_.host_header, headers, body);
      break;
    case setup_step::limits:
      l.target = "/v1/users/" + l.user_id + "/limits";
      body = R"({"providers":{")" + options_.provider + R"(":{"amount":)" +
             std::to_string(setup_money_amount) + R"(,"currency":"usd"}}})";
      append_request(out, "PUT", l.target, server_.host_header, headers, body);
      break;
    case setup_step::token:
      l.target = "/v1/users/" + l.user_id + "/payment_tokens";
      headers += "Idempotency-Key: bench-mint-" + nonce_ + "-" + user + "\r\n";
      body = R"({"provider":")" + options_.provider + R"(","max_amount":{"amount":)" +
             std::to_string(setup_money_amount) + R"(,"currency":"usd"},"expires_at":)" +
             std::to_string(unix_now() + token_lifetime_seconds) + "}";
      append_request(out, "POST", l.target, server_.host_header, headers, body);
      break;
    case setup_step::probe: {
      l.target = std::string(charges_path);
      std::string scratch;
      append_charge_request(out, server_, options_, provider_secret_, tokens_[l.user],
                            "bench-probe-" + nonce_, body, scratch);
      break;
    }
    }
    loop.send(c, now_ns);
  }

  void on_response(http_loop&, std::size_t c, const http_response& response,
                   std::int64_t now_ns) override {
    lane& l = lanes_[c];
    l.connection_failures = 0;
    last_answer_ns_ = now_ns;
    const bool ok = l.step == setup_step::upsert   ? response.status == 200 || response.status == 201
                    : l.step == setup_step::limits ? response.status == 200
                                                   : response.status == 201;
    if (!ok) {
      const bool retryable =
        response.status == 409 || response.status == 429 || response.status == 503;
      if (retryable && l.retries < setup_retries_max) {
        ++l.retries;
        l.not_before_ns = now_ns + std::min<std::int64_t>(l.retries * 50'000'000, 1'000'000'000);
        return;
      }
      fail_setup(l, response);
      return;
    }
    l.retries = 0;
    const std::string_view id = answer_id(response.body);
    switch (l.step) {
    case setup_step::upsert:
      if (id.substr(0, 4) != "usr_")
        return fail_setup(l, response, "no usr_ id in the answer");
      l.user_id = std::string(id);
      l.step = setup_step::limits;
      break;
    case setup_step::limits: l.step = setup_step::token; break;
    case setup_step::token:
      if (id.substr(0, 4) != "ptk_")
        return fail_setup(l, response, "no ptk_ id in the answer");
      tokens_[l.user] = std::string(id);
      if (l.user == 0) {
        l.step = setup_step::probe;
        break;
      }
      ++completed_;
      l.user += lanes_.size();
      l.step = setup_step::upsert;
      break;
    case setup_step::probe:
      ++completed_;
      l.user += lanes_.size();
      l.step = setup_step::upsert;
      break;
    }
  }

  void on_failure(http_loop&, std::size_t c, connection_failure failure, int error, bool,
                  std::int64_t) override {
    lane& l = lanes_[c];
    if (++l.connection_failures < setup_connection_failures_max || !failure_.empty())
      return; // the loop reconnects; the step's request is sent again (each step is idempotent)
    failure_ = "cannot talk to " + options_.url + ": " + std::string(to_string(failure)) +
               (error != 0 ? std::string(" (") + std::strerror(error) + ")" : std::string()) +
               "; is stewardd listening there?";
  }

  bool on_tick(http_loop&, std::int64_t now_ns) override {
    if (now_ns >= next_progress_ns_) {
      next_progress_ns_ += 1'000'000'000;
      std::cerr << "setup: " << completed_ << "/" << options_.users << " users ready\n";
    }
    if (failure_.empty() && now_ns - last_answer_ns_ > setup_stall_ns_max)
      failure_ = "no answer from " + options_.url + " for " +
                 std::to_string(setup_stall_ns_max / 1'000'000'000) + " s";
    return failure_.empty() && completed_ < options_.users;
  }

private:
  /// `probe`: one charge on user 0's token, so that a provider secret stewardd does not share is
  /// a setup failure with a clear message instead of a run of 401s.
  enum class setup_step : std::uint8_t { upsert, limits, token, probe };

  /// One setup connection: it takes users `c`, `c + lanes`, `c + 2·lanes`, … one step at a time.
  struct lane {
    std::size_t user = 0;
    setup_step step = setup_step::upsert;
    std::string user_id;
    std::string target;
    int retries = 0;
    int connection_failures = 0;
    std::int64_t not_before_ns = 0;
  };

  void fail_setup(const lane& l, const http_response& response, std::string_view why = {}) {
    if (!failure_.empty())
      return;
    const char* method =
      l.step == setup_step::token || l.step == setup_step::probe ? "POST" : "PUT";
    failure_ = std::string(method) + " " + l.target + " answered " +
               std::to_string(response.status) + (why.empty() ? "" : " (" + std::string(why) + ")") +
               ": " + clip(response.body);
    if (response.status == 401 && l.step == setup_step::probe)
      failure_ += "\n  401: the provider signature was refused. Is " + options_.data_dir +
                  "/providers/" + options_.provider + ".secret the secret of provider '" +
                  options_.provider + "' in the stewardd at " + options_.url +
                  " (--provider=" + options_.provider + "=URL)?";
    else if (response.status == 401)
      failure_ += "\n  401: the platform key was refused. Is --data-dir (" + options_.data_dir +
                  ") the data dir of the stewardd at " + options_.url + "?";
    else if (response.status == 404 || response.status == 400)
      failure_ += "\n  is provider '" + options_.provider +
                  "' configured in stewardd (--provider=" + options_.provider + "=URL)?";
  }

  const charges_options& options_;
  const endpoint& server_;
  std::string platform_key_;
  std::string provider_secret_;
  std::string nonce_;
  std::vector<std::string> tokens_;
  std::vector<lane> lanes_;
  std::size_t completed_ = 0;
  std::string failure_;
  std::int64_t next_progress_ns_;
  std::int64_t last_answer_ns_;
};

// --- Load -----------------------------------------------------------------------------------------

/// Shared, read-only during the load.
struct load_plan {
  const charges_options* options;
  const endpoint* server;
  const std::vector<std::string>* tokens;
  std::string secret;
  std::string nonce;
};

/// One load thread: its connections, its counters, and the charges it sends.
class charge_load final : public load_worker {
public:
  charge_load(const load_plan& plan, const load_window& window, std::size_t thread,
              std::size_t first_connection, std::size_t connections)
    : load_worker(window, first_connection, connections), plan_(plan),
      key_prefix_("bench-" + plan.nonce + "-" + std::to_string(thread) + "-"),
      intended_ns_(connections, 0),
      cursor_(plan.options->users * thread / plan.options->threads) {
    body_.reserve(256);
  }

  void on_idle(http_loop& loop, std::size_t c, std::int64_t now_ns) override {
    std::int64_t intended = 0;
    if (!take_turn(loop, c, now_ns, intended))
      return;
    const std::string& token = (*plan_.tokens)[cursor_];
    cursor_ = cursor_ + 1 == plan_.tokens->size() ? 0 : cursor_ + 1;

    key_.assign(key_prefix_);
    append_number(key_, static_cast<std::int64_t>(++sent_));
    append_charge_request(loop.request_buffer(c), *plan_.server, *plan_.options, plan_.secret,
                          token, key_, body_, headers_);
    intended_ns_[c] = intended;
    loop.send(c, now_ns);
  }

  void on_response(http_loop&, std::size_t c, const http_response& response,
                   std::int64_t now_ns) override {
    ++responses_all_;
    if (response.status != 201)
      keep_sample(response.status, response.body);
    if (tally* t = phase(now_ns))
      t->record(response.status, now_ns - intended_ns_[c]);
  }

private:
  const load_plan& plan_;
  std::string key_prefix_;
  std::vector<std::int64_t> intended_ns_;
  std::size_t cursor_;
  std::uint64_t sent_ = 0;
  std::string key_;
  std::string body_;
  std::string headers_;
};

// --- Report ---------------------------------------------------------------------------------------

/// Kill answer latencies measured by the probe.
struct kill_probe_result {
  latency_histogram latency;
  std::uint64_t failed = 0;
};

/// The platform reference of the user `--kill-user` kills and lifts.
constexpr std::string_view kill_probe_user = "bench-kill-probe";

/// The body of the probe's kills: the provider, or the probe's own user, created here through
/// the public listener. Empty when that user could not be created.
std::string kill_body(const charges_options& o, const endpoint& server, const std::string& platform_key) {
  if (!o.kill_user)
    return R"({"scope":"provider","id":")" + o.kill_provider + R"("})";
  const int fd = connect_blocking(server);
  if (fd < 0)
    return {};
  std::string request;
  append_request(request, "PUT", "/v1/users/" + std::string(kill_probe_user), server.host_header,
                 "Authorization: Bearer " + platform_key + "\r\n",
                 R"({"email":")" + std::string(kill_probe_user) + R"(@example.com"})");
  std::string answer;
  const int status = exchange(fd, request, 5000, &answer);
  ::close(fd);
  const std::string_view id = answer_id(answer);
  if ((status != 200 && status != 201) || id.substr(0, 4) != "usr_")
    return {};
  return R"({"scope":"user","id":")" + std::string(id) + R"("})";
}

/// Where the probe's kills go: the public listener with the platform key, or with `--kill-url`
/// the admin listener with the admin token.
struct kill_target {
  endpoint server;
  std::string credential;
};

/// Kills and lifts the probe's target every `o.kill_interval_s` between `from_ns` and `until_ns`.
kill_probe_result run_kill_probe(const charges_options& o, const endpoint& server,
                                 const std::string& platform_key, const kill_target& target,
                                 std::int64_t from_ns, std::int64_t until_ns) {
  kill_probe_result out;
  const std::string body = kill_body(o, server, platform_key);
  const int fd = body.empty() ? -1 : connect_blocking(target.server);
  if (fd < 0) {
    out.failed = 1;
    return out;
  }
  while (monotonic_ns() < from_ns)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool active = true;
  while (monotonic_ns() < until_ns) {
    std::string request;
    append_request(request, active ? "POST" : "DELETE", "/v1/kill", target.server.host_header,
                   "Authorization: Bearer " + target.credential + "\r\n", body);
    const auto sent = monotonic_ns();
    const int status = exchange(fd, request, 5000);
    const auto answered = monotonic_ns();
    if (status == 200)
      out.latency.record(static_cast<std::uint64_t>((answered - sent) / 1000));
    else
      ++out.failed;
    if (status == 0)
      break;
    active = !active;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.kill_interval_s));
  }
  if (!active) { // the last request was a kill: lift it, unmeasured, so that the target can charge
    std::string request;
    append_request(request, "DELETE", "/v1/kill", target.server.host_header,
                   "Authorization: Bearer " + target.credential + "\r\n", body);
    exchange(fd, request, 5000);
  }
  ::close(fd);
  return out;
}

struct results {
  kill_probe_result kills;
  load_results load;
  double setup_s = 0;
};

std::string json_report(const charges_options& o, const results& r) {
  const auto& m = r.load.measured;
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("scenario", "charges")
    .member("url", std::string_view(o.url))
    .member("users", o.users)
    .member("connections", o.connections)
    .member("threads", o.threads)
    .member("mode", o.rate > 0 ? "open" : "closed");
  w.key("rate_per_s").raw(fixed(o.rate, 1));
  w.key("duration_s").raw(fixed(o.duration_s));
  w.key("warmup_s").raw(fixed(o.warmup_s));
  w.key("setup_s").raw(fixed(r.setup_s));
  w.member("requests", m.responses).member("approved", m.approved);
  write_status_counts(w, m);
  write_errors(w, m);
  w.member("lost_in_flight", m.lost_in_flight)
    .member("in_flight_at_end", static_cast<std::uint64_t>(r.load.in_flight_at_end));
  w.key("throughput_per_s").raw(fixed(static_cast<double>(m.approved) / o.duration_s, 1));
  w.key("requests_per_s").raw(fixed(static_cast<double>(m.responses) / o.duration_s, 1));
  write_latency_ms(w, "latency_ms", m.latency);
  if (o.kill_probe()) {
    const auto& k = r.kills.latency;
    w.key("kill_ack_ms").begin_object().member("count", k.count()).member("failed", r.kills.failed);
    w.key("p50").raw(fixed(ms(k.value_at_percentile(50))));
    w.key("p99").raw(fixed(ms(k.value_at_percentile(99))));
    w.key("max").raw(fixed(ms(k.max_us())));
    w.end_object();
  }
  write_samples(w, r.load);
  w.end_object();
  out += "\n";
  return out;
}

void print_summary(std::ostream& out, const charges_options& o, const results& r) {
  const auto& m = r.load.measured;
  out << "charges: " << o.url << ", " << o.users << " users, " << o.connections
      << " connections, " << o.threads << " thread(s), "
      << (o.rate > 0 ? "open loop at " + fixed(o.rate, 0) + " req/s" : std::string("closed loop"))
      << "\n";
  out << "  window      " << fixed(o.duration_s, 1) << " s after " << fixed(o.warmup_s, 1)
      << " s warm-up (setup took " << fixed(r.setup_s, 2) << " s)\n";
  out << "  answered    " << m.responses << " (" << fixed(static_cast<double>(m.responses) / o.duration_s, 0)
      << " req/s)\n";
  out << "  approved    " << m.approved << " (" << fixed(static_cast<double>(m.approved) / o.duration_s, 0)
      << " /s, status 201)\n";
  print_statuses(out, m);
  print_errors(out, m, r.load.in_flight_at_end);
  out << "  latency ms  ";
  print_percentiles(out, m.latency);
  out << "  (every answer, from its " << (o.rate > 0 ? "scheduled" : "send") << " time)\n";
  if (o.kill_probe()) {
    const auto& k = r.kills.latency;
    out << "  kill ack ms p50 " << fixed(ms(k.value_at_percentile(50))) << "  p99 "
        << fixed(ms(k.value_at_percentile(99))) << "  max " << fixed(ms(k.max_us())) << "  ("
        << k.count() << " kills and lifts of "
        << (o.kill_user ? "user " + std::string(kill_probe_user) : o.kill_provider) << ", "
        << r.kills.failed << " failed)\n";
  }
  print_samples(out, r.load);
}

} // namespace

int run_charges(const charges_options& options) {
  std::string error;
  const auto server = resolve_endpoint(options.url, error);
  if (!server) {
    std::cerr << "steward-bench: " << error << "\n";
    return 1;
  }
  const std::filesystem::path dir(options.data_dir);
  const auto platform_key = read_secret(dir / "platform.key");
  const auto secret = read_secret(dir / "providers" / (options.provider + ".secret"));
  if (!platform_key || !secret) {
    std::cerr << "steward-bench: cannot read "
              << (platform_key ? dir / "providers" / (options.provider + ".secret")
                               : dir / "platform.key")
                   .string()
              << ": --data-dir must be stewardd's data dir, with provider '" << options.provider
              << "' configured\n";
    return 1;
  }

  std::optional<kill_target> kill_to;
  if (options.kill_url.empty()) {
    kill_to = kill_target{*server, *platform_key};
  } else {
    const auto admin = resolve_endpoint(options.kill_url, error);
    const auto admin_token = read_secret(dir / "admin.token");
    if (!admin || !admin_token) {
      std::cerr << "steward-bench: --kill-url: "
                << (admin ? "cannot read " + (dir / "admin.token").string() : error) << "\n";
      return 1;
    }
    kill_to = kill_target{*admin, *admin_token};
  }

  // --- Setup --------------------------------------------------------------------------------------
  const auto setup_started = monotonic_ns();
  std::vector<std::string> tokens;
  {
    const std::size_t lanes = std::min<std::size_t>(setup_connections, options.users);
    setup_run setup(options, *server, *platform_key, *secret, lanes, setup_started);
    http_loop loop(*server, lanes);
    if (auto failure = loop.run(setup)) {
      std::cerr << "steward-bench: setup: " << *failure << "\n";
      return 1;
    }
    if (!setup.failure().empty()) {
      std::cerr << "steward-bench: setup failed: " << setup.failure() << "\n";
      return 1;
    }
    tokens = std::move(setup.tokens());
  }
  const double setup_s = static_cast<double>(monotonic_ns() - setup_started) / 1e9;
  std::cerr << "setup: " << options.users << " users with a payment token each in "
            << fixed(setup_s, 2) << " s\n";

  // --- Load ---------------------------------------------------------------------------------------
  load_plan plan{};
  plan.options = &options;
  plan.server = &*server;
  plan.tokens = &tokens;
  plan.secret = *secret;
  plan.nonce = run_nonce();
  const load_window window = make_window(options);

  kill_probe_result kills;
  std::thread kill_probe;
  if (options.kill_probe())
    kill_probe = std::thread([&] {
      kills = run_kill_probe(options, *server, *platform_key, *kill_to, window.measure_ns, window.end_ns);
    });

  results r;
  r.load = run_load(
    *server, window, options.threads,
    [&](std::uint32_t t, std::size_t first, std::size_t count) {
      return std::make_unique<charge_load>(plan, window, t, first, count);
    },
    "approved");
  if (kill_probe.joinable())
    kill_probe.join();
  if (!r.load.error.empty()) {
    std::cerr << "steward-bench: " << r.load.error << "\n";
    return 1;
  }
  r.setup_s = setup_s;
  r.kills = std::move(kills);
  print_summary(std::cout, options, r);
  std::cout << std::flush;
  if (!options.report_path.empty()) {
    std::ofstream file(options.report_path);
    file << json_report(options, r);
    if (!file) {
      std::cerr << "steward-bench: cannot write --report=" << options.report_path << "\n";
      return 1;
    }
  }
  if (r.load.measured.responses == 0) {
    std::cerr << "steward-bench: no request was answered in the measured window\n";
    return 1;
  }
  if (r.load.measured.approved == 0)
    std::cerr << "steward-bench: warning: no charge was approved in the measured window\n";
  return 0;
}

} // namespace steward::bench
