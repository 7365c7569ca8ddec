#include "bench/steward_bench/charges.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/steward_bench/http_loop.hpp"
#include "core/hmac_signature.hpp"
#include "core/json_writer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace steward::bench {
namespace {

constexpr std::string_view charges_path = "/v1/provider/charges";
/// Caps and token ceilings set by the setup: far above anything a run can spend.
constexpr std::int64_t setup_money_amount = 1'000'000'000'000;
constexpr std::int64_t token_lifetime_seconds = 86'400;
/// How often a load thread publishes its counters for the progress line.
constexpr std::int64_t publish_interval_ns = 100'000'000;
/// Setup: retries of one request after 409/429/503 answers, and connection failures in a row.
constexpr int setup_retries_max = 30;
constexpr int setup_connection_failures_max = 5;
/// Setup gives up when no answer at all arrived for this long (a hung server).
constexpr std::int64_t setup_stall_ns_max = 30'000'000'000;
/// Bytes of an unexpected answer kept to show in the summary.
constexpr std::size_t sample_bytes_max = 400;
constexpr int status_code_max = 599;

std::int64_t to_ns(double seconds) { return static_cast<std::int64_t>(seconds * 1e9); }

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  (void)error; // 24 bytes hold every int64
  out.append(digits, end);
}

/// A secret file's content without its trailing newline; nullopt when unreadable or empty.
std::optional<std::string> read_secret(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file)
    return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  if (secret.empty())
    return std::nullopt;
  return secret;
}

/// The top-level `"id":"…"` of a Stripe-style answer (it is the first member), or empty.
std::string_view answer_id(std::string_view body) {
  constexpr std::string_view needle = "\"id\":\"";
  const auto at = body.find(needle);
  if (at == std::string_view::npos)
    return {};
  const auto start = at + needle.size();
  const auto end = body.find('"', start);
  return end == std::string_view::npos ? std::string_view() : body.substr(start, end - start);
}

std::string clip(std::string_view text) {
  std::string out(text.substr(0, sample_bytes_max));
  if (text.size() > sample_bytes_max)
    out += "…";
  return out;
}

/// A random hex tag that keeps this run's idempotency keys apart from every earlier run's.
std::string run_nonce() {
  std::random_device device;
  const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device() ^
                              static_cast<std::uint64_t>(monotonic_ns());
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// Appends an HTTP/1.1 request with a JSON body; `headers` are whole `Name: value\r\n` lines.
void append_request(std::string& out, std::string_view method, std::string_view target,
                    std::string_view host, std::string_view headers, std::string_view body) {
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nContent-Type: application/json\r\n").append(headers);
  out.append("Content-Length: ");
  append_number(out, static_cast<std::int64_t>(body.size()));
  out.append("\r\n\r\n").append(body);
}

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

/// What a load thread counts, for one phase (warm-up or measured window).
struct tally {
  std::uint64_t responses = 0;
  std::uint64_t approved = 0;
  std::array<std::uint64_t, status_code_max + 1> statuses{};
  std::array<std::uint64_t, connection_failure_count> failures{};
  std::uint64_t lost_in_flight = 0; ///< requests that went down with their connection
  latency_histogram latency;        ///< of every answer, any status

  std::uint64_t errors() const {
    std::uint64_t sum = 0;
    for (auto n : failures)
      sum += n;
    return sum;
  }

  void add(const tally& other) {
    responses += other.responses;
    approved += other.approved;
    for (std::size_t i = 0; i < statuses.size(); ++i)
      statuses[i] += other.statuses[i];
    for (std::size_t i = 0; i < failures.size(); ++i)
      failures[i] += other.failures[i];
    lost_in_flight += other.lost_in_flight;
    latency.add(other.latency);
  }
};

/// Shared, read-only during the load.
struct load_plan {
  const charges_options* options;
  const endpoint* server;
  const std::vector<std::string>* tokens;
  std::string secret;
  std::string nonce;
  std::int64_t start_ns;
  std::int64_t measure_ns; ///< end of the warm-up
  std::int64_t end_ns;
  std::int64_t interval_ns; ///< between two requests of one connection (open loop), else 0
};

/// What the progress line reads while a thread runs.
struct progress {
  std::uint64_t responses_all = 0; ///< both phases
  bool measuring = false;
  tally current; ///< the phase in progress
};

/// One load thread: its connections, its counters, and the charges it sends.
class charge_load final : public loop_handler {
public:
  charge_load(const load_plan& plan, std::size_t thread, std::size_t first_connection,
              std::size_t connections)
    : plan_(plan), key_prefix_("bench-" + plan.nonce + "-" + std::to_string(thread) + "-"),
      intended_ns_(connections, 0), next_due_ns_(connections, 0),
      cursor_(plan.options->users * thread / plan.options->threads) {
    // Open loop: the connections' schedules are staggered evenly over one interval.
    const auto total = plan.options->connections;
    for (std::size_t c = 0; c < connections; ++c)
      next_due_ns_[c] =
        plan.start_ns + plan.interval_ns * static_cast<std::int64_t>(first_connection + c) /
                          static_cast<std::int64_t>(total);
    body_.reserve(256);
  }

  void on_idle(http_loop& loop, std::size_t c, std::int64_t now_ns) override {
    if (now_ns >= plan_.end_ns)
      return;
    std::int64_t intended = now_ns;
    if (plan_.interval_ns > 0) {
      if (next_due_ns_[c] > now_ns) {
        loop.wake(c, next_due_ns_[c]);
        return;
      }
      intended = next_due_ns_[c];
      next_due_ns_[c] += plan_.interval_ns;
    }
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
    if (response.status != 201 && response.status >= 100 && response.status <= status_code_max &&
        samples_.size() < 16 && !samples_.contains(response.status))
      samples_.emplace(response.status, clip(response.body));
    tally* t = phase(now_ns);
    if (t == nullptr)
      return;
    ++t->responses;
    if (response.status == 201)
      ++t->approved;
    ++t->statuses[static_cast<std::size_t>(std::clamp(response.status, 0, status_code_max))];
    t->latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns - intended_ns_[c])) /
                      1000);
  }

  void on_failure(http_loop&, std::size_t, connection_failure failure, int error, bool in_flight,
                  std::int64_t now_ns) override {
    const auto kind = static_cast<std::size_t>(failure);
    if (failure_samples_[kind].empty())
      failure_samples_[kind] =
        std::string(to_string(failure)) + (error != 0 ? std::string(": ") + std::strerror(error) : "");
    tally* t = phase(now_ns);
    if (t == nullptr)
      return;
    ++t->failures[kind];
    if (in_flight)
      ++t->lost_in_flight;
  }

  bool on_tick(http_loop&, std::int64_t now_ns) override {
    if (now_ns - last_publish_ns_ >= publish_interval_ns) {
      last_publish_ns_ = now_ns;
      publish(now_ns);
    }
    return now_ns < plan_.end_ns;
  }

  void publish(std::int64_t now_ns) {
    const bool measuring = now_ns >= plan_.measure_ns;
    std::lock_guard lock(mutex_);
    published_.responses_all = responses_all_;
    published_.measuring = measuring;
    published_.current = measuring ? measured_ : warmup_;
  }

  /// A copy of what was last published; safe from any thread.
  void read_progress(progress& out) {
    std::lock_guard lock(mutex_);
    out = published_;
  }

  // Read after the thread has finished.
  const tally& measured() const { return measured_; }
  const std::map<int, std::string>& samples() const { return samples_; }
  const std::array<std::string, connection_failure_count>& failure_samples() const {
    return failure_samples_;
  }

private:
  tally* phase(std::int64_t now_ns) {
    if (now_ns >= plan_.end_ns)
      return nullptr;
    return now_ns >= plan_.measure_ns ? &measured_ : &warmup_;
  }

  const load_plan& plan_;
  std::string key_prefix_;
  std::vector<std::int64_t> intended_ns_;
  std::vector<std::int64_t> next_due_ns_;
  std::size_t cursor_;
  std::uint64_t sent_ = 0;
  std::uint64_t responses_all_ = 0;
  std::string key_;
  std::string body_;
  std::string headers_;
  tally warmup_;
  tally measured_;
  std::map<int, std::string> samples_; ///< first body seen per status other than 201
  std::array<std::string, connection_failure_count> failure_samples_;
  std::int64_t last_publish_ns_ = 0;
  std::mutex mutex_;
  progress published_;
};

// --- Report ---------------------------------------------------------------------------------------

std::string fixed(double value, int decimals = 3) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

double ms(std::uint64_t us) { return static_cast<double>(us) / 1000.0; }

/// One blocking HTTP/1.1 exchange on `fd` (keep-alive): sends `request`, reads one answer with a
/// Content-Length. The status, or 0 on a failure or after `timeout_ms`.
int exchange(int fd, const std::string& request, int timeout_ms) {
  std::size_t sent = 0;
  while (sent < request.size()) {
    auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return 0;
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  const auto deadline = monotonic_ns() + std::int64_t{timeout_ms} * 1'000'000;
  for (;;) {
    auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::size_t length = 0;
      auto at = in.find("Content-Length:");
      if (at != std::string::npos && at < head_end)
        length = std::strtoull(in.c_str() + at + 15, nullptr, 10);
      if (in.size() >= head_end + 4 + length)
        return in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
    }
    const auto left_ms = (deadline - monotonic_ns()) / 1'000'000;
    pollfd ready{fd, POLLIN, 0};
    if (left_ms <= 0 || ::poll(&ready, 1, static_cast<int>(left_ms)) <= 0)
      return 0;
    char buffer[2048];
    auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0)
      return 0;
    in.append(buffer, static_cast<std::size_t>(n));
  }
}

/// Kill answer latencies measured by the probe.
struct kill_probe_result {
  latency_histogram latency;
  std::uint64_t failed = 0;
};

/// Kills and lifts `o.kill_provider` every `o.kill_interval_s` between `from_ns` and `until_ns`.
kill_probe_result run_kill_probe(const charges_options& o, const endpoint& server,
                                 const std::string& platform_key, std::int64_t from_ns,
                                 std::int64_t until_ns) {
  kill_probe_result out;
  int fd = ::socket(server.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&server.address),
                          server.address_bytes) != 0) {
    if (fd >= 0)
      ::close(fd);
    out.failed = 1;
    return out;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string body = R"({"scope":"provider","id":")" + o.kill_provider + R"("})";
  while (monotonic_ns() < from_ns)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool active = true;
  while (monotonic_ns() < until_ns) {
    std::string request;
    append_request(request, active ? "POST" : "DELETE", "/v1/kill", server.host_header,
                   "Authorization: Bearer " + platform_key + "\r\n", body);
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
  ::close(fd);
  return out;
}

struct results {
  kill_probe_result kills;
  tally measured;
  std::map<int, std::string> samples;
  std::array<std::string, connection_failure_count> failure_samples;
  std::size_t in_flight_at_end = 0;
  double setup_s = 0;
};

std::string json_report(const charges_options& o, const results& r) {
  const auto& m = r.measured;
  const auto& h = m.latency;
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
  w.key("status_counts").begin_object();
  for (std::size_t s = 0; s < m.statuses.size(); ++s)
    if (m.statuses[s] != 0)
      w.member(std::to_string(s), m.statuses[s]);
  w.end_object();
  w.member("errors", m.errors());
  w.key("error_kinds").begin_object();
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    w.member(to_string(static_cast<connection_failure>(k)), m.failures[k]);
  w.end_object();
  w.member("lost_in_flight", m.lost_in_flight)
    .member("in_flight_at_end", static_cast<std::uint64_t>(r.in_flight_at_end));
  w.key("throughput_per_s").raw(fixed(static_cast<double>(m.approved) / o.duration_s, 1));
  w.key("requests_per_s").raw(fixed(static_cast<double>(m.responses) / o.duration_s, 1));
  w.key("latency_ms").begin_object();
  w.key("p50").raw(fixed(ms(h.value_at_percentile(50))));
  w.key("p90").raw(fixed(ms(h.value_at_percentile(90))));
  w.key("p99").raw(fixed(ms(h.value_at_percentile(99))));
  w.key("p999").raw(fixed(ms(h.value_at_percentile(99.9))));
  w.key("max").raw(fixed(ms(h.max_us())));
  w.key("mean").raw(fixed(h.mean_us() / 1000.0));
  w.end_object();
  if (!o.kill_provider.empty()) {
    const auto& k = r.kills.latency;
    w.key("kill_ack_ms").begin_object().member("count", k.count()).member("failed", r.kills.failed);
    w.key("p50").raw(fixed(ms(k.value_at_percentile(50))));
    w.key("p99").raw(fixed(ms(k.value_at_percentile(99))));
    w.key("max").raw(fixed(ms(k.max_us())));
    w.end_object();
  }
  w.key("samples").begin_object();
  for (const auto& [status, body] : r.samples)
    w.member(std::to_string(status), std::string_view(body));
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (!r.failure_samples[k].empty())
      w.member(to_string(static_cast<connection_failure>(k)),
               std::string_view(r.failure_samples[k]));
  w.end_object();
  w.end_object();
  out += "\n";
  return out;
}

void print_summary(std::ostream& out, const charges_options& o, const results& r) {
  const auto& m = r.measured;
  const auto& h = m.latency;
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
  out << "  statuses   ";
  for (std::size_t s = 0; s < m.statuses.size(); ++s)
    if (m.statuses[s] != 0)
      out << " " << s << ": " << m.statuses[s];
  out << "\n";
  out << "  errors      " << m.errors();
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (m.failures[k] != 0)
      out << "  " << to_string(static_cast<connection_failure>(k)) << ": " << m.failures[k];
  out << " (requests lost with their connection: " << m.lost_in_flight
      << "; in flight at the end: " << r.in_flight_at_end << ")\n";
  out << "  latency ms  p50 " << fixed(ms(h.value_at_percentile(50))) << "  p90 "
      << fixed(ms(h.value_at_percentile(90))) << "  p99 " << fixed(ms(h.value_at_percentile(99)))
      << "  p99.9 " << fixed(ms(h.value_at_percentile(99.9))) << "  max " << fixed(ms(h.max_us()))
      << "  (every answer, from its " << (o.rate > 0 ? "scheduled" : "send") << " time)\n";
  if (!o.kill_provider.empty()) {
    const auto& k = r.kills.latency;
    out << "  kill ack ms p50 " << fixed(ms(k.value_at_percentile(50))) << "  p99 "
        << fixed(ms(k.value_at_percentile(99))) << "  max " << fixed(ms(k.max_us())) << "  ("
        << k.count() << " kills and lifts of " << o.kill_provider << ", " << r.kills.failed
        << " failed)\n";
  }
  for (const auto& [status, body] : r.samples)
    out << "  first " << status << " answer: " << body << "\n";
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (!r.failure_samples[k].empty())
      out << "  first connection error: " << r.failure_samples[k] << "\n";
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
  plan.start_ns = monotonic_ns();
  plan.measure_ns = plan.start_ns + to_ns(options.warmup_s);
  plan.end_ns = plan.measure_ns + to_ns(options.duration_s);
  plan.interval_ns =
    options.rate > 0 ? static_cast<std::int64_t>(1e9 * options.connections / options.rate) : 0;

  kill_probe_result kills;
  std::thread kill_probe;
  if (!options.kill_provider.empty())
    kill_probe = std::thread([&] {
      kills = run_kill_probe(options, *server, *platform_key, plan.measure_ns, plan.end_ns);
    });

  std::vector<std::unique_ptr<charge_load>> loads;
  std::vector<std::size_t> in_flight_at_end(options.threads, 0);
  std::vector<std::string> loop_errors(options.threads);
  std::vector<std::thread> threads;
  std::mutex done_mutex;
  std::condition_variable done_changed;
  std::size_t done = 0;
  std::size_t first = 0;
  for (std::uint32_t t = 0; t < options.threads; ++t) {
    const std::size_t count = options.connections / options.threads +
                              (t < options.connections % options.threads ? 1 : 0);
    loads.push_back(std::make_unique<charge_load>(plan, t, first, count));
    first += count;
  }
  for (std::uint32_t t = 0; t < options.threads; ++t) {
    const std::size_t count = options.connections / options.threads +
                              (t < options.connections % options.threads ? 1 : 0);
    threads.emplace_back([&, t, count] {
      http_loop loop(*server, count);
      if (auto failure = loop.run(*loads[t]))
        loop_errors[t] = *failure;
      in_flight_at_end[t] = loop.in_flight();
      loads[t]->publish(monotonic_ns());
      loop.close_all();
      std::lock_guard lock(done_mutex);
      ++done;
      done_changed.notify_all();
    });
  }

  // Progress, once a second, from what the threads published.
  std::uint64_t responses_before = 0;
  std::int64_t last_ns = plan.start_ns;
  for (int second = 1;; ++second) {
    const auto tick = plan.start_ns + std::int64_t{second} * 1'000'000'000;
    {
      std::unique_lock lock(done_mutex);
      const auto wait_ns = std::max<std::int64_t>(0, tick - monotonic_ns());
      if (done_changed.wait_for(lock, std::chrono::nanoseconds(wait_ns),
                                [&] { return done == options.threads; }))
        break;
    }
    tally current;
    std::uint64_t responses_all = 0;
    bool measuring = false;
    progress p;
    for (auto& load : loads) {
      load->read_progress(p);
      responses_all += p.responses_all;
      measuring = p.measuring;
      current.add(p.current);
    }
    const auto now = monotonic_ns();
    const double rate =
      static_cast<double>(responses_all - responses_before) / (static_cast<double>(now - last_ns) / 1e9);
    responses_before = responses_all;
    last_ns = now;
    std::fprintf(stderr, "[%3d s] %-7s %8.0f req/s  approved %9llu  errors %5llu  p99 %8.3f ms\n",
                 second, measuring ? "measure" : "warmup", rate,
                 static_cast<unsigned long long>(current.approved),
                 static_cast<unsigned long long>(current.errors()),
                 ms(current.latency.value_at_percentile(99)));
  }
  for (auto& thread : threads)
    thread.join();
  if (kill_probe.joinable())
    kill_probe.join();
  for (const auto& failure : loop_errors)
    if (!failure.empty()) {
      std::cerr << "steward-bench: " << failure << "\n";
      return 1;
    }

  results r;
  r.setup_s = setup_s;
  r.kills = std::move(kills);
  for (std::size_t t = 0; t < loads.size(); ++t) {
    r.measured.add(loads[t]->measured());
    for (const auto& [status, body] : loads[t]->samples())
      r.samples.emplace(status, body);
    for (std::size_t k = 0; k < connection_failure_count; ++k)
      if (r.failure_samples[k].empty())
        r.failure_samples[k] = loads[t]->failure_samples()[k];
    r.in_flight_at_end += in_flight_at_end[t];
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
  if (r.measured.responses == 0) {
    std::cerr << "steward-bench: no request was answered in the measured window\n";
    return 1;
  }
  if (r.measured.approved == 0)
    std::cerr << "steward-bench: warning: no charge was approved in the measured window\n";
  return 0;
}

} // namespace steward::bench
