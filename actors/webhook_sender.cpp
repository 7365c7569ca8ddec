#include "actors/webhook_sender.hpp"

#include "core/assert.hpp"
#include "core/hmac_signature.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"
#include "core/thread_identity.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <random>
#include <utility>
#include <variant>
#include <vector>

namespace steward::actors {

namespace {

using steady = std::chrono::steady_clock;

// Bounds of the sender (STYLE.md, "Limits on everything"). They live here rather than in
// core/limits.hpp because nothing else uses them and none is configurable.

/// Outbox entries read per `read_outbox` call; the next page is read once these are delivered.
constexpr std::uint32_t outbox_page_entries_max = 100;
/// A response's status line and headers; more is a malformed response (a webhook acknowledgement
/// has no reason to be large).
constexpr std::size_t response_header_bytes_max = 16 * 1024;
/// A response's body, which is read (to let the receiver finish its answer) and discarded.
constexpr std::size_t response_body_bytes_max = 1u << 20;
/// Delivered ids whose deletion from the outbox failed, kept to try the delete again with the next
/// one. Past it the oldest is forgotten: it stays in the outbox and is sent again after a restart,
/// which the receiver deduplicates.
constexpr std::size_t completion_retry_ids_max = 512;

static_assert(outbox_page_entries_max <= core::limits::journal_read_outbox_max);
static_assert(completion_retry_ids_max + 1 <= core::limits::journal_read_outbox_max,
              "one complete_outbox carries the delivered id and every id kept for retry");

/// Printable ASCII without space: what may go into a header value built from an outbox entry.
bool is_token_text(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// --- Requests ----------------------------------------------------------------------------------

/// Why `entry` cannot be sent as a request, or nullptr. Entries are written by steward itself, so a
/// bad one is a programmer error; but it must not inject header lines or stall the whole outbox.
const char* entry_problem(const storage::outbox_entry& entry) {
  if (entry.id.empty() || entry.id.size() > storage::outbox_id_bytes_max || !is_token_text(entry.id))
    return "id is not a valid Idempotency-Key";
  if (entry.type.empty() || entry.type.size() > storage::outbox_type_bytes_max || !is_token_text(entry.type))
    return "type is not a valid header value";
  if (entry.payload.empty())
    return "payload is empty";
  return nullptr;
}

/// `{"id","object":"event","type","created","data"}`; `data` is the entry's payload as stored.
std::string event_body(const storage::outbox_entry& entry) {
  std::string body;
  core::json_writer w(body);
  w.begin_object()
      .member("id", std::string_view(entry.id))
      .member("object", std::string_view("event"))
      .member("type", std::string_view(entry.type))
      .member("created", entry.created_at)
      .key("data")
      .raw(entry.payload)
      .end_object();
  return body;
}

net::client_request make_request(const webhook_config& config, std::string_view request_target,
                                 const storage::outbox_entry& entry, std::int64_t now) {
  net::client_request request;
  request.method = net::http_method::post;
  request.url = config.url;
  request.body = event_body(entry);
  request.idempotency_key = entry.id;
  request.timeout_ms = static_cast<std::uint32_t>(config.timeout.count());
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Steward-Event", entry.type);
  request.headers.emplace_back(
    std::string(core::signature_header_name),
    core::sign(config.secret, now,
               core::signed_request{"POST", request_target, entry.id, request.body}));
  return request;
}

/// The client's settings for webhooks: the sender retries (with its own backoff, entry by entry)
/// and a platform that is down is not a provider to shed, so neither the client's retries nor its
/// breaker take part.
net::client_options client_options_for(const webhook_config& config) {
  net::client_options options;
  options.connections_per_origin_max = 1; // one entry at a time, in order
  options.queued_requests_per_origin_max = 1;
  options.retries_max = 0;
  options.breaker.consecutive_failures_max = 0;
  options.breaker.window_outcomes_min = 0;
  options.response.header_bytes_max = response_header_bytes_max;
  options.response.body_bytes_max = response_body_bytes_max;
  options.ca_file = config.ca_file;
  options.metrics = config.metrics;
  options.metrics_name = "webhook";
  return options;
}

// --- Backoff -----------------------------------------------------------------------------------

/// Backoff that doubles from `initial` up to `max`; each wait is jittered by ±20 % and never
/// exceeds `max`.
class backoff {
public:
  backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial), random_(std::random_device{}()) {}

  /// The wait before the next retry; the one after it is twice as long (up to the cap).
  std::chrono::milliseconds next() {
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto base = next_;
    next_ = next_ >= max_ / 2 ? max_ : next_ * 2;
    const auto jittered =
        std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * jitter(random_)));
    return std::clamp(jittered, std::chrono::milliseconds(1), max_);
  }
  void reset() noexcept { next_ = initial_; }

private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::mt19937_64 random_;
};

} // namespace

std::optional<std::string> validate_webhook_url(std::string_view url) {
  auto parsed = net::parse_client_url(url);
  if (auto* error = std::get_if<net::client_error>(&parsed)) {
    if (*error == net::client_error::insecure_url)
      return "webhook url: plain http:// is only for a loopback host (127.0.0.1, ::1, localhost); "
             "use https://";
    return "webhook url: must look like https://HOST[:PORT]/PATH (or http:// to a loopback host), "
           "without user information or a fragment";
  }
  return std::nullopt;
}

// --- The sender --------------------------------------------------------------------------------

struct webhook_sender::completion_state {
  std::mutex mutex;
  /// Delivered ids whose delete failed, oldest first; sent again with the next delete.
  std::deque<std::string> retry_ids;

  void keep_for_retry(std::vector<std::string> ids) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& id : ids)
      retry_ids.push_back(std::move(id));
    while (retry_ids.size() > completion_retry_ids_max)
      retry_ids.pop_front();
  }
  void take(std::vector<std::string>& into) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& id : retry_ids)
      into.push_back(std::move(id));
    retry_ids.clear();
  }
};

webhook_sender::webhook_sender(webhook_config config)
    : config_(std::move(config)), completions_(std::make_shared<completion_state>()) {
  STEWARD_ASSERT(!validate_webhook_url(config_.url).has_value());
  request_target_ = std::get<net::client_url>(net::parse_client_url(config_.url)).target;
  STEWARD_ASSERT(config_.journal != nullptr);
  STEWARD_ASSERT(!config_.secret.empty());
  STEWARD_ASSERT(config_.timeout.count() > 0);
  STEWARD_ASSERT(config_.backoff_initial.count() > 0 && config_.backoff_initial <= config_.backoff_max);
  if (!config_.clock)
    config_.clock = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  client_ = std::make_unique<net::http_client>(client_options_for(config_));
  thread_ = std::thread([this] {
    core::name_this_thread("webhooks");
    run();
  });
}

webhook_sender::~webhook_sender() {
  stop();
}

void webhook_sender::notify() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    notified_ = true;
  }
  wake_.notify_one();
}

void webhook_sender::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  // Completes an attempt in flight with `stopped` (the thread then returns) and refuses the next.
  client_->stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

webhook_sender::attempt webhook_sender::post(const storage::outbox_entry& entry) {
  std::mutex mutex;
  std::condition_variable answered;
  std::optional<net::client_result> result;
  // The client calls back exactly once, even when stopped, so waiting for it cannot hang and the
  // callback never outlives these locals.
  client_->request(make_request(config_, request_target_, entry, config_.clock()),
                   [&](net::client_result outcome) {
                     std::lock_guard<std::mutex> lock(mutex);
                     result = std::move(outcome);
                     answered.notify_one();
                   });
  std::unique_lock<std::mutex> lock(mutex);
  answered.wait(lock, [&] { return result.has_value(); });
  if (const auto* error = std::get_if<net::client_error>(&*result))
    return *error == net::client_error::stopped ? attempt::abandoned : attempt::failed;
  const auto status = std::get<net::client_response>(*result).status;
  return status >= 200 && status < 300 ? attempt::delivered : attempt::failed;
}

void webhook_sender::run() {
  std::deque<storage::outbox_entry> queue; // read, not yet delivered, ascending n
  std::uint64_t after_n = 0;               // the highest n read so far
  bool read_more = false;                  // the last page was full: read the next before waiting
  bool backing_off = false;                // after a failure: wait until `retry_at`
  steady::time_point retry_at{};
  backoff delays(config_.backoff_initial, config_.backoff_max);

  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (backing_off) {
        // A notify does not end a backoff: the head of the queue is retried first anyway.
        wake_.wait_until(lock, retry_at, [this] { return stopping_; });
      } else {
        wake_.wait(lock, [&] { return stopping_ || notified_ || read_more || !queue.empty(); });
      }
      if (stopping_)
        return;
      if (notified_) {
        notified_ = false;
        read_more = true;
      }
    }
    backing_off = false;

    if (queue.empty() && read_more) {
      auto page = config_.journal->read_outbox(after_n, outbox_page_entries_max);
      if (!page) {
        backing_off = true;
        retry_at = steady::now() + delays.next();
        continue;
      }
      read_more = page.value().size() >= outbox_page_entries_max;
      for (auto& entry : page.value()) {
        if (!STEWARD_SURVIVABLE(entry.n > after_n))
          continue; // not ascending: already read (or a journal bug); never loop on it
        after_n = entry.n;
        queue.push_back(std::move(entry));
        pending_.fetch_add(1, std::memory_order_relaxed);
      }
      delays.reset();
    }
    if (queue.empty())
      continue;

    const storage::outbox_entry& entry = queue.front();
    if (!STEWARD_SURVIVABLE(entry_problem(entry) == nullptr)) {
      // Left in the outbox for an operator to see; retrying it would stall every entry behind it.
      queue.pop_front();
      pending_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }

    switch (post(entry)) {
      case attempt::abandoned:
        return; // stop(): the entry stays in the outbox
      case attempt::failed:
        failed_attempts_.fetch_add(1, std::memory_order_relaxed);
        backing_off = true;
        retry_at = steady::now() + delays.next();
        break;
      case attempt::delivered: {
        std::vector<std::string> ids{entry.id};
        queue.pop_front();
        pending_.fetch_sub(1, std::memory_order_relaxed);
        delivered_.fetch_add(1, std::memory_order_relaxed);
        delays.reset();
        completions_->take(ids);
        // The callback runs on the journal's writer thread, possibly after this sender is gone:
        // it holds the shared state, never `this`.
        config_.journal->complete_outbox(ids, [state = completions_, ids](storage::append_outcome done) mutable {
          if (!done.durable())
            state->keep_for_retry(std::move(ids));
        });
        break;
      }
    }
  }
}

} // namespace steward::actors
