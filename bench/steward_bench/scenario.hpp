#pragma once

// What the scenarios of steward-bench share (charges.hpp, provision.hpp): the options every load
// phase has, small request and answer helpers, the per-phase counters (`tally`), the base of a load
// thread's handler (`load_worker`: phases, open-loop pacing, samples, progress publishing), the
// driver that runs the load threads and prints the progress line once a second (`run_load`), and
// the pieces of the summary and of the JSON report that read a `tally`.

#include "bench/latency_histogram.hpp"
#include "bench/steward_bench/http_loop.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {
class json_writer;
}

namespace steward::bench {

/// The options of every scenario's load phase.
struct load_options {
  std::string url;                  ///< http://HOST:PORT of stewardd's public listener
  std::string data_dir;             ///< stewardd's data dir: platform.key, providers/<p>.secret
  std::uint32_t users = 10'000;
  std::uint32_t connections = 512;
  double duration_s = 10;           ///< measured window
  double warmup_s = 2;              ///< before it, not counted
  double rate = 0;                  ///< total operations/s over all connections; 0 = closed loop
  std::string report_path;          ///< JSON report written here when not empty
  std::uint32_t threads = 1;        ///< event loops for the load phase
};

/// Connections used by the setup phase (fewer when there are fewer users).
inline constexpr std::uint32_t setup_connections = 64;

/// How often a load thread publishes its counters for the progress line.
inline constexpr std::int64_t publish_interval_ns = 100'000'000;
/// Bytes of an unexpected answer kept to show in the summary.
inline constexpr std::size_t sample_bytes_max = 400;
inline constexpr int status_code_max = 599;

// --- Helpers --------------------------------------------------------------------------------------

std::int64_t to_ns(double seconds);
std::int64_t unix_now();
void append_number(std::string& out, std::int64_t value);
/// A secret file's content without its trailing newline; nullopt when unreadable or empty.
std::optional<std::string> read_secret(const std::filesystem::path& path);
/// The first `"name":"…"` string member of a JSON answer (no escapes in it), or empty.
std::string_view string_member(std::string_view body, std::string_view name);
/// The top-level `"id":"…"` of a Stripe-style answer (it is the first member), or empty.
std::string_view answer_id(std::string_view body);
/// At most `sample_bytes_max` bytes of `text`, with `…` when cut.
std::string clip(std::string_view text);
/// A random hex tag that keeps this run's idempotency keys apart from every earlier run's.
std::string run_nonce();
/// Appends an HTTP/1.1 request with a JSON body; `headers` are whole `Name: value\r\n` lines.
void append_request(std::string& out, std::string_view method, std::string_view target,
                    std::string_view host, std::string_view headers, std::string_view body);
/// `value` with `decimals` decimals.
std::string fixed(double value, int decimals = 3);
/// Microseconds as milliseconds.
double ms(std::uint64_t us);

/// One blocking HTTP/1.1 exchange on `fd` (keep-alive): sends `request`, reads one answer with a
/// Content-Length. The status, or 0 on a failure or after `timeout_ms`; the body into `body` when
/// given.
int exchange(int fd, const std::string& request, int timeout_ms, std::string* body = nullptr);
/// A blocking connection to `server` with TCP_NODELAY, or -1.
int connect_blocking(const endpoint& server);

// --- Counters -------------------------------------------------------------------------------------

/// What a load thread counts, for one phase (warm-up or measured window).
struct tally {
  std::uint64_t responses = 0;
  std::uint64_t approved = 0;       ///< the scenario's success: a 201
  std::array<std::uint64_t, status_code_max + 1> statuses{};
  std::array<std::uint64_t, connection_failure_count> failures{};
  std::uint64_t lost_in_flight = 0; ///< requests that went down with their connection
  latency_histogram latency;        ///< of every answer, any status

  std::uint64_t errors() const;
  void add(const tally& other);
  /// Counts one answer of `status` that took `latency_ns`.
  void record(int status, std::int64_t latency_ns);
};

/// What the progress line reads while a thread runs.
struct progress {
  std::uint64_t responses_all = 0; ///< both phases
  bool measuring = false;
  tally current; ///< the phase in progress
};

/// The time line of a load phase, shared and read-only while it runs.
struct load_window {
  std::int64_t start_ns = 0;
  std::int64_t measure_ns = 0; ///< end of the warm-up
  std::int64_t end_ns = 0;
  std::int64_t interval_ns = 0; ///< between two operations of one connection (open loop), else 0
  std::uint32_t connections = 0; ///< over every thread
};

/// The start of a load phase: warm-up from now, then the measured window; the open-loop interval.
load_window make_window(const load_options& options);

/// The base of one load thread's handler. It owns the counters of both phases — `main` (the
/// scenario's operation) and `side` (auxiliary requests, such as the catalog reads of `provision`)
/// —, the samples of unexpected answers and failures, open-loop pacing and progress publishing; a
/// scenario implements `on_idle` and `on_response`.
class load_worker : public loop_handler {
public:
  load_worker(const load_window& window, std::size_t first_connection, std::size_t connections);

  void on_failure(http_loop& loop, std::size_t c, connection_failure failure, int error,
                  bool in_flight, std::int64_t now_ns) override;
  bool on_tick(http_loop& loop, std::int64_t now_ns) override;

  void publish(std::int64_t now_ns);
  /// A copy of what was last published; safe from any thread.
  void read_progress(progress& out);

  // Read after the thread has finished.
  const tally& measured() const { return measured_; }
  const tally& side_measured() const { return side_measured_; }
  const std::map<int, std::string>& samples() const { return samples_; }
  const std::array<std::string, connection_failure_count>& failure_samples() const {
    return failure_samples_;
  }

protected:
  /// Whether connection `c` may start an operation now: false when the window is over, or (open
  /// loop) when its next one is not due yet, in which case it is woken then. On true, `intended`
  /// is when the operation was due (open loop) or now (closed loop).
  bool take_turn(http_loop& loop, std::size_t c, std::int64_t now_ns, std::int64_t& intended);
  /// The main counters of the phase `now_ns` is in; nullptr after the end.
  tally* phase(std::int64_t now_ns);
  tally* side_phase(std::int64_t now_ns);
  /// Keeps the first body of `status` for the summary (up to 16 statuses).
  void keep_sample(int status, std::string_view body);

  const load_window& window_;
  std::uint64_t responses_all_ = 0;

private:
  std::vector<std::int64_t> next_due_ns_;
  tally warmup_;
  tally measured_;
  tally side_warmup_;
  tally side_measured_;
  std::map<int, std::string> samples_; ///< first body seen per unexpected status
  std::array<std::string, connection_failure_count> failure_samples_;
  std::int64_t last_publish_ns_ = 0;
  std::mutex mutex_;
  progress published_;
};

/// What the load threads measured, merged.
struct load_results {
  tally measured;
  tally side;
  std::map<int, std::string> samples;
  std::array<std::string, connection_failure_count> failure_samples;
  std::size_t in_flight_at_end = 0;
  std::string error; ///< an event loop failed (epoll)
};

/// Makes thread `t`'s worker for its `count` connections, the first of which is `first`.
using worker_factory =
  std::function<std::unique_ptr<load_worker>(std::uint32_t t, std::size_t first, std::size_t count)>;

/// Runs `threads` event loops over `connections` connections split evenly, each with the worker
/// `make` gives, until the window ends; prints the progress line once a second on stderr
/// (`success` names the main tally's `approved` count in it).
load_results run_load(const endpoint& server, const load_window& window, std::uint32_t threads,
                      const worker_factory& make, std::string_view success);

// --- Report pieces --------------------------------------------------------------------------------

/// `"status_counts":{…}`, `"errors":N,"error_kinds":{…}`, `"latency_ms":{p50,…}` members.
void write_status_counts(core::json_writer& w, const tally& t);
void write_errors(core::json_writer& w, const tally& t);
void write_latency_ms(core::json_writer& w, std::string_view key, const latency_histogram& h);
void write_samples(core::json_writer& w, const load_results& r);

/// `  statuses    201: 9 …` line.
void print_statuses(std::ostream& out, const tally& t);
/// `  errors …` line with the lost and in-flight requests.
void print_errors(std::ostream& out, const tally& t, std::size_t in_flight_at_end);
/// `p50 …  p90 …  p99 …  p99.9 …  max …` of `h`, without a newline.
void print_percentiles(std::ostream& out, const latency_histogram& h);
void print_samples(std::ostream& out, const load_results& r);

} // namespace steward::bench
