#pragma once

// Delivers the journal's webhook outbox to the platform (DESIGN 4.2; docs/spend-core.md,
// "Webhooks"). An event that must reach the platform (`budget.threshold`, `kill.activated`, ...) is
// written to the outbox in the same journal batch as the state change it reports, so a crash loses
// none; this sender reads the outbox, POSTs each entry signed like a provider callback (the event id
// as the idempotency key, core/hmac_signature.hpp), and deletes it from the outbox once the platform
// answered 2xx.
//
// Delivery is at least once and in outbox order: one entry at a time, and a failed attempt (non-2xx,
// connect error, TLS failure, timeout, malformed response) is retried for the SAME entry after a backoff that
// starts at `backoff_initial`, doubles up to `backoff_max` and is jittered by ±20 % so that many
// senders do not retry in lockstep. The receiver deduplicates by event id: an entry can be sent
// again after a crash between the 2xx and the journal's delete, or after `stop()` abandoned it.
//
// Threads: the sender owns one thread, which does all the reading, sending and waiting. `notify`
// and `stop` may be called from any thread. The journal callbacks of `complete_outbox` run on the
// journal's writer thread and never touch the sender itself (they may outlive it).
//
// Requests go through the outbound client (net/http_client.hpp): https with the platform's
// certificate verified, plain http only to a loopback host; its retries and circuit breaker are off,
// because this sender retries entry by entry with its own backoff. Its series carry
// `client="webhook"`.

#include "core/metrics.hpp"
#include "net/http_client.hpp"
#include "storage/journal.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace steward::actors {

/// Where and how the webhook sender delivers.
struct webhook_config {
  std::string url;                 ///< https://HOST[:PORT]/PATH, or http:// to a loopback host (`validate_webhook_url`)
  std::string secret;              ///< HMAC secret
  storage::journal* journal = nullptr;
  std::chrono::milliseconds timeout{5000};        ///< connect + send + response, per attempt
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{60000};
  std::function<std::int64_t()> clock;            ///< unix seconds for signing; system clock when empty
  std::string ca_file;                     ///< CA certificates to trust instead of the system's (PEM)
  core::metrics::registry* metrics = nullptr; ///< where the client's series go (optional)
};

/// Empty when `url` is a usable https:// URL, or http:// to a loopback host; else why not.
std::optional<std::string> validate_webhook_url(std::string_view url);

/// Owns the thread that delivers the outbox. The journal must outlive the sender (or at least its
/// `stop()`); a config that fails `validate_webhook_url`, has no journal or secret, or has a
/// non-positive timeout or backoff is a programmer error (options are validated at start-up) and
/// aborts.
class webhook_sender {
public:
  /// Starts one thread, which reads the outbox at once (what a restart left).
  explicit webhook_sender(webhook_config config);
  /// `stop()`.
  ~webhook_sender();

  webhook_sender(const webhook_sender&) = delete;
  webhook_sender& operator=(const webhook_sender&) = delete;

  /// New entries may be in the outbox (call it after a batch with outbox entries is durable).
  /// Thread-safe and cheap: it sets a flag and wakes the thread. During a backoff it does not cut
  /// the wait short: the entry at the head is retried first anyway.
  void notify();

  /// Idempotent; joins the thread. An attempt in flight is abandoned (its entry stays in the outbox
  /// and is not counted as a failed attempt); a backoff wait ends at once.
  void stop();

  /// Entries the platform answered 2xx.
  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }
  /// Attempts that failed (non-2xx, connect error, timeout, malformed response).
  std::uint64_t failed_attempts() const noexcept { return failed_attempts_.load(std::memory_order_relaxed); }
  /// Entries read from the outbox and not delivered yet (entries not read yet are not counted).
  std::uint64_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

  /// What the completion callbacks share with the sender; defined in the .cpp.
  struct completion_state;

private:
  enum class attempt : std::uint8_t { delivered, failed, abandoned };

  void run();
  /// Sends one entry and waits for the answer.
  attempt post(const storage::outbox_entry& entry);

  webhook_config config_;
  std::string request_target_; ///< the URL's path and query, as signed
  std::shared_ptr<completion_state> completions_;
  std::unique_ptr<net::http_client> client_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool notified_ = true; // the first round reads the outbox without waiting for a notify
  bool stopping_ = false;

  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_attempts_{0};
  std::atomic<std::uint64_t> pending_{0};

  std::thread thread_; // last: started once everything above is initialised
};

} // namespace steward::actors
