#include "bench/steward_bench/provision.hpp"

#include "bench/steward_bench/http_loop.hpp"
#include "bench/steward_bench/scenario.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace steward::bench {
namespace {

/// Caps and run budgets set by the setup: far above anything a run can spend.
constexpr std::int64_t setup_money_amount = 1'000'000'000'000;
constexpr std::int64_t session_ttl_seconds = 3600;
/// Setup: retries of one request after 409/429/503 answers, and connection failures in a row.
constexpr int setup_retries_max = 30;
constexpr int setup_connection_failures_max = 5;
/// Setup gives up when no answer at all arrived for this long (a hung server).
constexpr std::int64_t setup_stall_ns_max = 30'000'000'000;
/// How long the setup waits for the provider's catalog to reach stewardd.
constexpr std::int64_t catalog_wait_ns_max = 60'000'000'000;

/// Operations a user can take after its warm-up purchase: a user's ledger keeps at most
/// `ledger_resources_live_max` live resources, and a session is allowed
/// `charges_per_minute_default` charges in any minute (the warm-up's charge among them).
constexpr std::uint32_t per_user_max_free =
  static_cast<std::uint32_t>(core::limits::ledger_resources_live_max) - 1;
constexpr std::uint32_t per_user_max_priced = std::min<std::uint32_t>(
  per_user_max_free, core::limits::charges_per_minute_default - 1);

/// What the setup learnt from the catalog.
struct service_info {
  std::string terms_version;
  bool free = false;
};

/// Reads `GET /v1/catalog/{provider}/{service}` with the platform key until it answers 200 (the
/// provider actor fetches the catalog with back-off), or fails with a message.
std::optional<service_info> read_service(const provision_options& o, const endpoint& server,
                                         const std::string& platform_key, std::string& failure) {
  const std::string target = "/v1/catalog/" + o.provider + "/" + o.service;
  const auto deadline = monotonic_ns() + catalog_wait_ns_max;
  int status = 0;
  std::string body;
  bool told = false;
  while (monotonic_ns() < deadline) {
    const int fd = connect_blocking(server);
    if (fd < 0) {
      failure = "cannot connect to " + o.url + "; is stewardd listening there?";
      return std::nullopt;
    }
    std::string request;
    append_request(request, "GET", target, server.host_header,
                   "Authorization: Bearer " + platform_key + "\r\n", {});
    status = exchange(fd, request, 5000, &body);
    ::close(fd);
    if (status == 200)
      break;
    if (status == 401) {
      failure = "GET " + target + " answered 401: the platform key was refused. Is --data-dir (" +
                o.data_dir + ") the data dir of the stewardd at " + o.url + "?";
      return std::nullopt;
    }
    if (!told) {
      std::cerr << "setup: waiting for " << o.provider << "/" << o.service
                << " in stewardd's catalog (GET " << target << " answered " << status << ")\n";
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (status != 200) {
    failure = "GET " + target + " answered " + std::to_string(status) + " for " +
              std::to_string(catalog_wait_ns_max / 1'000'000'000) + " s: " + clip(body) +
              "\n  is provider '" + o.provider + "' configured in stewardd (--provider=" +
              o.provider + "=URL) and its catalog reachable, with service '" + o.service + "'?";
    return std::nullopt;
  }
  service_info info;
  const std::string_view text = body;
  const auto terms = text.find("\"terms\":");
  if (terms != std::string_view::npos)
    info.terms_version = std::string(string_member(text.substr(terms), "version"));
  const auto pricing = text.find("\"pricing\":");
  info.free = pricing != std::string_view::npos &&
              string_member(text.substr(pricing), "type") == "free";
  if (info.terms_version.empty()) {
    failure = "GET " + target + " has no terms version: " + clip(body);
    return std::nullopt;
  }
  return info;
}

std::string provision_body(const provision_options& o) {
  return R"({"service":")" + o.provider + "/" + o.service + R"(","config":{}})";
}

// --- Setup ----------------------------------------------------------------------------------------

/// Makes the users ready to buy and buys once for each; `tokens[i]` is user i's session token.
class setup_run final : public loop_handler {
public:
  setup_run(const provision_options& options, const endpoint& server, std::string platform_key,
            std::string terms_version, std::size_t lanes, std::int64_t started_ns)
    : options_(options), server_(server), platform_key_(std::move(platform_key)),
      terms_version_(std::move(terms_version)), nonce_(run_nonce()), tokens_(options.users),
      lanes_(lanes), next_progress_ns_(started_ns + 1'000'000'000), last_answer_ns_(started_ns) {
    for (std::size_t c = 0; c < lanes; ++c)
      lanes_[c].user = c;
  }

  std::vector<std::string>& tokens() { return tokens_; }
  const std::string& failure() const { return failure_; }

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
    const std::string money =
      R"({"amount":)" + std::to_string(setup_money_amount) + R"(,"currency":"usd"})";
    switch (l.step) {
    case setup_step::upsert:
      l.method = "PUT";
      l.target = "/v1/users/bench-" + user;
      body = R"({"email":"bench-)" + user + R"(@example.com","email_verified":true})";
      break;
    case setup_step::limits:
      l.method = "PUT";
      l.target = "/v1/users/" + l.user_id + "/limits";
      body = R"({"providers":{")" + options_.provider + R"(":)" + money + "}}";
      break;
    case setup_step::terms:
      l.method = "POST";
      l.target = "/v1/users/" + l.user_id + "/terms/" + options_.provider;
      body = R"({"version":")" + terms_version_ + R"(","accepted_by":"bench"})";
      break;
    case setup_step::payment_method:
      l.method = "PUT";
      l.target = "/v1/users/" + l.user_id + "/payment_method";
      body = R"({"psp":"stripe","reference":"pm_bench"})";
      break;
    case setup_step::session:
      l.method = "POST";
      l.target = "/v1/users/" + l.user_id + "/sessions";
      body = R"({"run_budget":)" + money + R"(,"ttl_seconds":)" +
             std::to_string(session_ttl_seconds) + R"(,"label":"bench"})";
      break;
    case setup_step::warmup:
      l.method = "POST";
      l.target = "/v1/resources";
      headers = "Authorization: Bearer " + tokens_[l.user] + "\r\nIdempotency-Key: bench-warm-" +
                nonce_ + "-" + user + "\r\n";
      body = provision_body(options_);
      break;
    }
    append_request(out, l.method, l.target, server_.host_header, headers, body);
    loop.send(c, now_ns);
  }

  void on_response(http_loop&, std::size_t c, const http_response& response,
                   std::int64_t now_ns) override {
    lane& l = lanes_[c];
    l.connection_failures = 0;
    last_answer_ns_ = now_ns;
    const bool ok = l.step == setup_step::session || l.step == setup_step::warmup
                      ? response.status == 201
                      : response.status == 200 || response.status == 201;
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
    switch (l.step) {
    case setup_step::upsert: {
      const std::string_view id = answer_id(response.body);
      if (id.substr(0, 4) != "usr_")
        return fail_setup(l, response, "no usr_ id in the answer");
      l.user_id = std::string(id);
      l.step = setup_step::limits;
      break;
    }
    case setup_step::limits: l.step = setup_step::terms; break;
    case setup_step::terms: l.step = setup_step::payment_method; break;
    case setup_step::payment_method: l.step = setup_step::session; break;
    case setup_step::session: {
      const std::string_view token = string_member(response.body, "token");
      if (token.substr(0, 4) != "sst_")
        return fail_setup(l, response, "no sst_ token in the answer");
      tokens_[l.user] = std::string(token);
      l.step = setup_step::warmup;
      break;
    }
    case setup_step::warmup:
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
      std::cerr << "setup: " << completed_ << "/" << options_.users
                << " users ready (session open, first purchase made)\n";
    }
    if (failure_.empty() && now_ns - last_answer_ns_ > setup_stall_ns_max)
      failure_ = "no answer from " + options_.url + " for " +
                 std::to_string(setup_stall_ns_max / 1'000'000'000) + " s";
    return failure_.empty() && completed_ < options_.users;
  }

private:
  enum class setup_step : std::uint8_t { upsert, limits, terms, payment_method, session, warmup };

  /// One setup connection: it takes users `c`, `c + lanes`, `c + 2·lanes`, … one step at a time.
  struct lane {
    std::size_t user = 0;
    setup_step step = setup_step::upsert;
    std::string user_id;
    std::string method;
    std::string target;
    int retries = 0;
    int connection_failures = 0;
    std::int64_t not_before_ns = 0;
  };

  void fail_setup(const lane& l, const http_response& response, std::string_view why = {}) {
    if (!failure_.empty())
      return;
    failure_ = l.method + " " + l.target + " (user bench-" + std::to_string(l.user) +
               ") answered " + std::to_string(response.status) +
               (why.empty() ? "" : " (" + std::string(why) + ")") + ": " + clip(response.body);
    if (response.status == 401 && l.step != setup_step::warmup)
      failure_ += "\n  401: the platform key was refused. Is --data-dir (" + options_.data_dir +
                  ") the data dir of the stewardd at " + options_.url + "?";
    else if (response.status == 202)
      failure_ += "\n  202: the purchase needs a human (a gate) or its answer was lost; the setup "
                  "accepts terms and sets a payment method, so a gate here is unexpected";
  }

  const provision_options& options_;
  const endpoint& server_;
  std::string platform_key_;
  std::string terms_version_;
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
  const provision_options* options;
  const endpoint* server;
  const std::vector<std::string>* tokens; ///< session token of each user
  std::string catalog_target;
  std::string body;                       ///< of every POST /v1/resources
  std::string nonce;
  std::uint32_t per_user;
};

/// One load thread: its connections, its share of the users, and its operations.
class provision_load final : public load_worker {
public:
  provision_load(const load_plan& plan, const load_window& window, std::size_t thread,
                 std::size_t first_connection, std::size_t connections)
    : load_worker(window, first_connection, connections), plan_(plan),
      key_prefix_("bench-" + plan.nonce + "-" + std::to_string(thread) + "-"),
      ops_(connections),
      first_user_(plan.options->users * thread / plan.options->threads),
      end_user_(plan.options->users * (thread + 1) / plan.options->threads),
      issued_(end_user_ - first_user_, 0), cursor_(first_user_) {}

  void on_idle(http_loop& loop, std::size_t c, std::int64_t now_ns) override {
    op& o = ops_[c];
    if (o.step == stage::provision_next) {
      if (now_ns >= window_.end_ns)
        return;
      send_provision(loop, c, now_ns);
      return;
    }
    std::int64_t intended = 0;
    if (!take_turn(loop, c, now_ns, intended))
      return;
    const auto user = next_user(now_ns);
    if (!user)
      return; // every user of this thread has had its share: the connection stays quiet
    o.user = *user;
    o.started_ns = intended;
    const auto& token = (*plan_.tokens)[o.user];
    if (plan_.options->catalog_every > 0 && started_ % plan_.options->catalog_every == 0) {
      ++started_;
      std::string& out = loop.request_buffer(c);
      out.append("GET ").append(plan_.catalog_target).append(" HTTP/1.1\r\nHost: ");
      out.append(plan_.server->host_header).append("\r\nAuthorization: Bearer ").append(token);
      out.append("\r\n\r\n");
      o.step = stage::catalog;
      o.catalog_sent_ns = now_ns;
      loop.send(c, now_ns);
      return;
    }
    ++started_;
    send_provision(loop, c, now_ns);
  }

  void on_response(http_loop&, std::size_t c, const http_response& response,
                   std::int64_t now_ns) override {
    ++responses_all_;
    op& o = ops_[c];
    if (o.step == stage::catalog) {
      if (response.status != 200)
        keep_sample(response.status, response.body);
      if (tally* t = side_phase(now_ns))
        t->record(response.status, now_ns - o.catalog_sent_ns);
      o.step = stage::provision_next; // an agent that got no listing would stop; the bench goes on
      return;
    }
    if (response.status != 201)
      keep_sample(response.status, response.body);
    if (tally* t = phase(now_ns))
      t->record(response.status, now_ns - o.started_ns);
    o.step = stage::none;
  }

  void on_failure(http_loop& loop, std::size_t c, connection_failure failure, int error,
                  bool in_flight, std::int64_t now_ns) override {
    ops_[c].step = stage::none; // the operation is lost with its connection
    load_worker::on_failure(loop, c, failure, error, in_flight, now_ns);
  }

  /// When every user of this thread had its share, else 0.
  std::int64_t exhausted_ns() const { return exhausted_ns_; }

private:
  enum class stage : std::uint8_t { none, catalog, provision_next, provision };

  struct op {
    stage step = stage::none;
    std::size_t user = 0;
    std::int64_t started_ns = 0;
    std::int64_t catalog_sent_ns = 0;
  };

  std::optional<std::size_t> next_user(std::int64_t now_ns) {
    const std::size_t count = end_user_ - first_user_;
    for (std::size_t tried = 0; tried < count; ++tried) {
      const std::size_t user = cursor_;
      cursor_ = cursor_ + 1 == end_user_ ? first_user_ : cursor_ + 1;
      if (issued_[user - first_user_] < plan_.per_user) {
        ++issued_[user - first_user_];
        return user;
      }
    }
    if (exhausted_ns_ == 0)
      exhausted_ns_ = now_ns;
    return std::nullopt;
  }

  void send_provision(http_loop& loop, std::size_t c, std::int64_t now_ns) {
    op& o = ops_[c];
    key_.assign(key_prefix_);
    append_number(key_, static_cast<std::int64_t>(++sent_));
    headers_.assign("Authorization: Bearer ").append((*plan_.tokens)[o.user]).append("\r\n");
    headers_.append("Idempotency-Key: ").append(key_).append("\r\n");
    append_request(loop.request_buffer(c), "POST", "/v1/resources", plan_.server->host_header,
                   headers_, plan_.body);
    o.step = stage::provision;
    loop.send(c, now_ns);
  }

  const load_plan& plan_;
  std::string key_prefix_;
  std::vector<op> ops_;
  std::size_t first_user_;
  std::size_t end_user_;
  std::vector<std::uint32_t> issued_; ///< operations started per user of this thread
  std::size_t cursor_;
  std::uint64_t started_ = 0;
  std::uint64_t sent_ = 0;
  std::int64_t exhausted_ns_ = 0;
  std::string key_;
  std::string headers_;
};

// --- Report ---------------------------------------------------------------------------------------

struct results {
  load_results load;
  double setup_s = 0;
  std::uint32_t per_user = 0;
  bool free = false;
  /// Seconds from the start of the warm-up at which the first thread ran out of users; < 0: never.
  double exhausted_after_s = -1;
};

std::string json_report(const provision_options& o, const results& r) {
  const auto& m = r.load.measured;
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("scenario", "provision")
    .member("url", std::string_view(o.url))
    .member("service", std::string_view(o.provider + "/" + o.service))
    .member("priced", !r.free)
    .member("users", o.users)
    .member("per_user", r.per_user)
    .member("catalog_every", o.catalog_every)
    .member("connections", o.connections)
    .member("threads", o.threads)
    .member("mode", o.rate > 0 ? "open" : "closed");
  w.key("rate_per_s").raw(fixed(o.rate, 1));
  w.key("duration_s").raw(fixed(o.duration_s));
  w.key("warmup_s").raw(fixed(o.warmup_s));
  w.key("setup_s").raw(fixed(r.setup_s));
  w.member("requests", m.responses).member("provisioned", m.approved);
  write_status_counts(w, m);
  write_errors(w, m);
  w.member("lost_in_flight", m.lost_in_flight)
    .member("in_flight_at_end", static_cast<std::uint64_t>(r.load.in_flight_at_end));
  w.key("throughput_per_s").raw(fixed(static_cast<double>(m.approved) / o.duration_s, 1));
  w.key("requests_per_s").raw(fixed(static_cast<double>(m.responses) / o.duration_s, 1));
  write_latency_ms(w, "latency_ms", m.latency);
  const auto& s = r.load.side;
  w.key("catalog").begin_object().member("requests", s.responses);
  write_status_counts(w, s);
  write_latency_ms(w, "latency_ms", s.latency);
  w.end_object();
  if (r.exhausted_after_s >= 0)
    w.key("users_exhausted_after_s").raw(fixed(r.exhausted_after_s));
  else
    w.key("users_exhausted_after_s").raw("null");
  write_samples(w, r.load);
  w.end_object();
  out += "\n";
  return out;
}

void print_summary(std::ostream& out, const provision_options& o, const results& r) {
  const auto& m = r.load.measured;
  const auto& s = r.load.side;
  out << "provision: " << o.url << ", " << o.provider << "/" << o.service
      << (r.free ? " (free)" : " (priced: each purchase is charged through steward)") << ", "
      << o.users << " users, " << o.connections << " connections, " << o.threads << " thread(s), "
      << (o.rate > 0 ? "open loop at " + fixed(o.rate, 0) + " ops/s" : std::string("closed loop"))
      << "\n";
  out << "  window      " << fixed(o.duration_s, 1) << " s after " << fixed(o.warmup_s, 1)
      << " s warm-up (setup took " << fixed(r.setup_s, 2)
      << " s, with one purchase per user: every user's provider account exists, steady state)\n";
  out << "  provisions  " << m.responses << " answered, " << m.approved << " created ("
      << fixed(static_cast<double>(m.approved) / o.duration_s, 1) << " /s, status 201)\n";
  print_statuses(out, m);
  print_errors(out, m, r.load.in_flight_at_end);
  out << "  latency ms  ";
  print_percentiles(out, m.latency);
  out << "  (each operation"
      << (o.catalog_every == 0 ? ""
          : o.catalog_every == 1 ? ", catalog search included"
                                  : ", the catalog search of every " +
                                      std::to_string(o.catalog_every) + "th included")
      << ", from its " << (o.rate > 0 ? "scheduled" : "start") << " time)\n";
  if (o.catalog_every > 0) {
    out << "  catalog     " << s.responses << " searches (" << fixed(static_cast<double>(s.responses) / o.duration_s, 1)
        << " /s)";
    for (std::size_t code = 0; code < s.statuses.size(); ++code)
      if (s.statuses[code] != 0)
        out << "  " << code << ": " << s.statuses[code];
    out << "\n  catalog ms  ";
    print_percentiles(out, s.latency);
    out << "\n";
  }
  if (r.exhausted_after_s >= 0) {
    const double total_s = o.warmup_s + o.duration_s;
    const double needed =
      static_cast<double>(o.users) * total_s / std::max(r.exhausted_after_s, 0.001);
    out << "  users ran out " << fixed(r.exhausted_after_s, 1) << " s after the warm-up began ("
        << r.per_user << " operations each): the figures above undercount; run with --users="
        << static_cast<std::uint64_t>(needed * 1.2) + 1 << " or more\n";
  }
  print_samples(out, r.load);
}

} // namespace

int run_provision(const provision_options& options) {
  std::string error;
  const auto server = resolve_endpoint(options.url, error);
  if (!server) {
    std::cerr << "steward-bench: " << error << "\n";
    return 1;
  }
  const std::filesystem::path dir(options.data_dir);
  const auto platform_key = read_secret(dir / "platform.key");
  if (!platform_key) {
    std::cerr << "steward-bench: cannot read " << (dir / "platform.key").string()
              << ": --data-dir must be stewardd's data dir\n";
    return 1;
  }

  // --- Setup --------------------------------------------------------------------------------------
  const auto setup_started = monotonic_ns();
  std::string failure;
  const auto service = read_service(options, *server, *platform_key, failure);
  if (!service) {
    std::cerr << "steward-bench: setup failed: " << failure << "\n";
    return 1;
  }
  std::vector<std::string> tokens;
  {
    const std::size_t lanes = std::min<std::size_t>(setup_connections, options.users);
    setup_run setup(options, *server, *platform_key, service->terms_version, lanes,
                    setup_started);
    http_loop loop(*server, lanes);
    if (auto loop_failure = loop.run(setup)) {
      std::cerr << "steward-bench: setup: " << *loop_failure << "\n";
      return 1;
    }
    if (!setup.failure().empty()) {
      std::cerr << "steward-bench: setup failed: " << setup.failure() << "\n";
      return 1;
    }
    tokens = std::move(setup.tokens());
  }
  const double setup_s = static_cast<double>(monotonic_ns() - setup_started) / 1e9;
  std::cerr << "setup: " << options.users << " users with terms, payment method, a session and "
            << "one purchase each (the provider account) in " << fixed(setup_s, 2) << " s\n";

  // --- Load ---------------------------------------------------------------------------------------
  const std::uint32_t most = service->free ? per_user_max_free : per_user_max_priced;
  load_plan plan{};
  plan.options = &options;
  plan.server = &*server;
  plan.tokens = &tokens;
  plan.catalog_target = "/v1/catalog?provider=" + options.provider + "&q=" + options.query;
  plan.body = provision_body(options);
  plan.nonce = run_nonce();
  plan.per_user = options.per_user == 0 ? most : options.per_user;
  if (plan.per_user > most)
    std::cerr << "steward-bench: warning: --per-user=" << plan.per_user << " is more than the "
              << most << " a user can buy after the warm-up; expect 429 answers\n";
  const load_window window = make_window(options);

  std::vector<provision_load*> workers(options.threads, nullptr);
  results r;
  r.load = run_load(
    *server, window, options.threads,
    [&](std::uint32_t t, std::size_t first, std::size_t count) {
      auto worker = std::make_unique<provision_load>(plan, window, t, first, count);
      workers[t] = worker.get();
      return worker;
    },
    "created");
  if (!r.load.error.empty()) {
    std::cerr << "steward-bench: " << r.load.error << "\n";
    return 1;
  }
  r.setup_s = setup_s;
  r.per_user = plan.per_user;
  r.free = service->free;
  for (const auto* worker : workers)
    if (worker->exhausted_ns() != 0) {
      const double after = static_cast<double>(worker->exhausted_ns() - window.start_ns) / 1e9;
      if (r.exhausted_after_s < 0 || after < r.exhausted_after_s)
        r.exhausted_after_s = after;
    }
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
    std::cerr << "steward-bench: no provision was answered in the measured window\n";
    return 1;
  }
  if (r.load.measured.approved == 0)
    std::cerr << "steward-bench: warning: no provision was created in the measured window\n";
  return 0;
}

} // namespace steward::bench
