#include "bench/steward_bench/scenario.hpp"

#include "core/json_writer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace steward::bench {

std::int64_t to_ns(double seconds) { return static_cast<std::int64_t>(seconds * 1e9); }

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  (void)error; // 24 bytes hold every int64
  out.append(digits, end);
}

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

std::string_view string_member(std::string_view body, std::string_view name) {
  std::string needle;
  needle.append("\"").append(name).append("\":\"");
  const auto at = body.find(needle);
  if (at == std::string_view::npos)
    return {};
  const auto start = at + needle.size();
  const auto end = body.find('"', start);
  return end == std::string_view::npos ? std::string_view() : body.substr(start, end - start);
}

std::string_view answer_id(std::string_view body) { return string_member(body, "id"); }

std::string clip(std::string_view text) {
  std::string out(text.substr(0, sample_bytes_max));
  if (text.size() > sample_bytes_max)
    out += "…";
  return out;
}

std::string run_nonce() {
  std::random_device device;
  const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device() ^
                              static_cast<std::uint64_t>(monotonic_ns());
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

void append_request(std::string& out, std::string_view method, std::string_view target,
                    std::string_view host, std::string_view headers, std::string_view body) {
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nContent-Type: application/json\r\n").append(headers);
  out.append("Content-Length: ");
  append_number(out, static_cast<std::int64_t>(body.size()));
  out.append("\r\n\r\n").append(body);
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

double ms(std::uint64_t us) { return static_cast<double>(us) / 1000.0; }

int exchange(int fd, const std::string& request, int timeout_ms, std::string* body) {
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
      if (in.size() >= head_end + 4 + length) {
        if (body != nullptr)
          body->assign(in, head_end + 4, length);
        return in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
      }
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

int connect_blocking(const endpoint& server) {
  int fd = ::socket(server.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&server.address),
                          server.address_bytes) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// --- Counters -------------------------------------------------------------------------------------

std::uint64_t tally::errors() const {
  std::uint64_t sum = 0;
  for (auto n : failures)
    sum += n;
  return sum;
}

void tally::add(const tally& other) {
  responses += other.responses;
  approved += other.approved;
  for (std::size_t i = 0; i < statuses.size(); ++i)
    statuses[i] += other.statuses[i];
  for (std::size_t i = 0; i < failures.size(); ++i)
    failures[i] += other.failures[i];
  lost_in_flight += other.lost_in_flight;
  latency.add(other.latency);
}

void tally::record(int status, std::int64_t latency_ns) {
  ++responses;
  if (status == 201)
    ++approved;
  ++statuses[static_cast<std::size_t>(std::clamp(status, 0, status_code_max))];
  latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency_ns)) / 1000);
}

load_window make_window(const load_options& options) {
  load_window w;
  w.start_ns = monotonic_ns();
  w.measure_ns = w.start_ns + to_ns(options.warmup_s);
  w.end_ns = w.measure_ns + to_ns(options.duration_s);
  w.interval_ns =
    options.rate > 0 ? static_cast<std::int64_t>(1e9 * options.connections / options.rate) : 0;
  w.connections = options.connections;
  return w;
}

load_worker::load_worker(const load_window& window, std::size_t first_connection,
                         std::size_t connections)
  : window_(window), next_due_ns_(connections, 0) {
  // Open loop: the connections' schedules are staggered evenly over one interval.
  for (std::size_t c = 0; c < connections; ++c)
    next_due_ns_[c] =
      window.start_ns + window.interval_ns * static_cast<std::int64_t>(first_connection + c) /
                          static_cast<std::int64_t>(window.connections);
}

bool load_worker::take_turn(http_loop& loop, std::size_t c, std::int64_t now_ns,
                            std::int64_t& intended) {
  if (now_ns >= window_.end_ns)
    return false;
  intended = now_ns;
  if (window_.interval_ns > 0) {
    if (next_due_ns_[c] > now_ns) {
      loop.wake(c, next_due_ns_[c]);
      return false;
    }
    intended = next_due_ns_[c];
    next_due_ns_[c] += window_.interval_ns;
  }
  return true;
}

void load_worker::keep_sample(int status, std::string_view body) {
  if (status >= 100 && status <= status_code_max && samples_.size() < 16 &&
      !samples_.contains(status))
    samples_.emplace(status, clip(body));
}

void load_worker::on_failure(http_loop&, std::size_t, connection_failure failure, int error,
                             bool in_flight, std::int64_t now_ns) {
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

bool load_worker::on_tick(http_loop&, std::int64_t now_ns) {
  if (now_ns - last_publish_ns_ >= publish_interval_ns) {
    last_publish_ns_ = now_ns;
    publish(now_ns);
  }
  return now_ns < window_.end_ns;
}

void load_worker::publish(std::int64_t now_ns) {
  const bool measuring = now_ns >= window_.measure_ns;
  std::lock_guard lock(mutex_);
  published_.responses_all = responses_all_;
  published_.measuring = measuring;
  published_.current = measuring ? measured_ : warmup_;
}

void load_worker::read_progress(progress& out) {
  std::lock_guard lock(mutex_);
  out = published_;
}

tally* load_worker::phase(std::int64_t now_ns) {
  if (now_ns >= window_.end_ns)
    return nullptr;
  return now_ns >= window_.measure_ns ? &measured_ : &warmup_;
}

tally* load_worker::side_phase(std::int64_t now_ns) {
  if (now_ns >= window_.end_ns)
    return nullptr;
  return now_ns >= window_.measure_ns ? &side_measured_ : &side_warmup_;
}

load_results run_load(const endpoint& server, const load_window& window, std::uint32_t threads_n,
                      const worker_factory& make, std::string_view success) {
  const std::uint32_t connections = window.connections;
  std::vector<std::unique_ptr<load_worker>> loads;
  std::vector<std::size_t> in_flight_at_end(threads_n, 0);
  std::vector<std::string> loop_errors(threads_n);
  std::vector<std::thread> threads;
  std::mutex done_mutex;
  std::condition_variable done_changed;
  std::size_t done = 0;
  std::size_t first = 0;
  for (std::uint32_t t = 0; t < threads_n; ++t) {
    const std::size_t count = connections / threads_n + (t < connections % threads_n ? 1 : 0);
    loads.push_back(make(t, first, count));
    first += count;
  }
  for (std::uint32_t t = 0; t < threads_n; ++t) {
    const std::size_t count = connections / threads_n + (t < connections % threads_n ? 1 : 0);
    threads.emplace_back([&, t, count] {
      http_loop loop(server, count);
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
  const std::string label(success);
  std::uint64_t responses_before = 0;
  std::int64_t last_ns = window.start_ns;
  for (int second = 1;; ++second) {
    const auto tick = window.start_ns + std::int64_t{second} * 1'000'000'000;
    {
      std::unique_lock lock(done_mutex);
      const auto wait_ns = std::max<std::int64_t>(0, tick - monotonic_ns());
      if (done_changed.wait_for(lock, std::chrono::nanoseconds(wait_ns),
                                [&] { return done == threads_n; }))
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
    const double rate = static_cast<double>(responses_all - responses_before) /
                        (static_cast<double>(now - last_ns) / 1e9);
    responses_before = responses_all;
    last_ns = now;
    std::fprintf(stderr, "[%3d s] %-7s %8.0f req/s  %s %9llu  errors %5llu  p99 %8.3f ms\n",
                 second, measuring ? "measure" : "warmup", rate, label.c_str(),
                 static_cast<unsigned long long>(current.approved),
                 static_cast<unsigned long long>(current.errors()),
                 ms(current.latency.value_at_percentile(99)));
  }
  for (auto& thread : threads)
    thread.join();

  load_results r;
  for (const auto& failure : loop_errors)
    if (!failure.empty() && r.error.empty())
      r.error = failure;
  for (std::size_t t = 0; t < loads.size(); ++t) {
    r.measured.add(loads[t]->measured());
    r.side.add(loads[t]->side_measured());
    for (const auto& [status, body] : loads[t]->samples())
      r.samples.emplace(status, body);
    for (std::size_t k = 0; k < connection_failure_count; ++k)
      if (r.failure_samples[k].empty())
        r.failure_samples[k] = loads[t]->failure_samples()[k];
    r.in_flight_at_end += in_flight_at_end[t];
  }
  return r;
}

// --- Report pieces --------------------------------------------------------------------------------

void write_status_counts(core::json_writer& w, const tally& t) {
  w.key("status_counts").begin_object();
  for (std::size_t s = 0; s < t.statuses.size(); ++s)
    if (t.statuses[s] != 0)
      w.member(std::to_string(s), t.statuses[s]);
  w.end_object();
}

void write_errors(core::json_writer& w, const tally& t) {
  w.member("errors", t.errors());
  w.key("error_kinds").begin_object();
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    w.member(to_string(static_cast<connection_failure>(k)), t.failures[k]);
  w.end_object();
}

void write_latency_ms(core::json_writer& w, std::string_view key, const latency_histogram& h) {
  w.key(key).begin_object();
  w.key("p50").raw(fixed(ms(h.value_at_percentile(50))));
  w.key("p90").raw(fixed(ms(h.value_at_percentile(90))));
  w.key("p99").raw(fixed(ms(h.value_at_percentile(99))));
  w.key("p999").raw(fixed(ms(h.value_at_percentile(99.9))));
  w.key("max").raw(fixed(ms(h.max_us())));
  w.key("mean").raw(fixed(h.mean_us() / 1000.0));
  w.end_object();
}

void write_samples(core::json_writer& w, const load_results& r) {
  w.key("samples").begin_object();
  for (const auto& [status, body] : r.samples)
    w.member(std::to_string(status), std::string_view(body));
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (!r.failure_samples[k].empty())
      w.member(to_string(static_cast<connection_failure>(k)),
               std::string_view(r.failure_samples[k]));
  w.end_object();
}

void print_statuses(std::ostream& out, const tally& t) {
  out << "  statuses   ";
  for (std::size_t s = 0; s < t.statuses.size(); ++s)
    if (t.statuses[s] != 0)
      out << " " << s << ": " << t.statuses[s];
  out << "\n";
}

void print_errors(std::ostream& out, const tally& t, std::size_t in_flight_at_end) {
  out << "  errors      " << t.errors();
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (t.failures[k] != 0)
      out << "  " << to_string(static_cast<connection_failure>(k)) << ": " << t.failures[k];
  out << " (requests lost with their connection: " << t.lost_in_flight
      << "; in flight at the end: " << in_flight_at_end << ")\n";
}

void print_percentiles(std::ostream& out, const latency_histogram& h) {
  out << "p50 " << fixed(ms(h.value_at_percentile(50))) << "  p90 "
      << fixed(ms(h.value_at_percentile(90))) << "  p99 " << fixed(ms(h.value_at_percentile(99)))
      << "  p99.9 " << fixed(ms(h.value_at_percentile(99.9))) << "  max " << fixed(ms(h.max_us()));
}

void print_samples(std::ostream& out, const load_results& r) {
  for (const auto& [status, body] : r.samples)
    out << "  first " << status << " answer: " << body << "\n";
  for (std::size_t k = 0; k < connection_failure_count; ++k)
    if (!r.failure_samples[k].empty())
      out << "  first connection error: " << r.failure_samples[k] << "\n";
}

} // namespace steward::bench
