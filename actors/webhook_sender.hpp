#pragma once

// Delivers the journal's webhook outbox to the platform (DESIGN 4.2; docs/spend-core.md,
// "Webhooks"). An event that must reach the platform (`budget.threshold`, `kill.activated`, ...) is
// written to the outbox in the same journal batch as the state change it reports, so a crash loses
// none; this sender reads the outbox, POSTs each entry signed like a provider callback (the event id
// as the idempotency key, core/hmac_signature.hpp), and deletes it from the outbox once the platform
// answered 2xx.
//
// Delivery is at least once and in outbox order: one entry at a time, and a failed attempt (non-2xx,
// connect error, timeout, malformed response) is retried for the SAME entry after a backoff that
// starts at `backoff_initial`, doubles up to `backoff_max` and is jittered by ±20 % so that many
// senders do not retry in lockstep. The receiver deduplicates by event id: an entry can be sent
// again after a crash between the 2xx and the journal's delete, or after `stop()` abandoned it.
//
// Threads: the sender owns one thread, which does all the reading, sending and waiting. `notify`
// and `stop` may be called from any thread. The journal callbacks of `complete_outbox` run on the
// journal's writer thread and never touch the sender itself (they may outlive it).
//
// The HTTP client inside is a small blocking one over POSIX sockets with a deadline on every
// operation; it exists until the outbound client of issue 4 (asio + OpenSSL, pooled, with TLS)
// replaces it. Until then the URL must be plain `http://`.

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
  std::string url;                 ///< http://HOST:PORT/PATH (plain HTTP; https is refused with a clear error from `validate_webhook_url`)
  std::string secret;              ///< HMAC secret
  storage::journal* journal = nullptr;
  std::chrono::milliseconds timeout{5000};        ///< connect + send + response, per attempt
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{60000};
  std::function<std::int64_t()> clock;            ///< unix seconds for signing; system clock when empty
};

/// Empty when `url` is a usable http:// URL (host, optional port default 80, path default "/"), else why not.
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
  /// The parsed URL; defined in the .cpp.
  struct target;

private:
  void run();

  webhook_config config_;
  std::unique_ptr<target> target_;
  std::shared_ptr<completion_state> completions_;
  /// An eventfd that `stop()` makes readable, so that a poll() in the HTTP client returns at once.
  int stop_fd_ = -1;

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
