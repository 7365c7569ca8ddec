#pragma once

// Helpers for the actor tests (user.test.cpp, directory.test.cpp); not part of the library.
//  - capture_loop: an io loop without a transport, so a test sees exactly the replies an io thread
//    would receive;
//  - inbox: a thread-safe queue of deliveries, so that the journal's writer thread and the loader
//    pool never touch CAF's single-threaded test scheduler (the test drains it on its own thread);
//  - gated_journal: the real journal, with appends that can be held and then released or failed,
//    to observe "no reply before durable" and to inject a journal failure;
//  - a temp directory, ids and request builders.

#include "actors/user.hpp"
#include "core/ids.hpp"
#include "core/idempotency.hpp"
#include "net/io_loop.hpp"
#include "storage/sqlite_journal.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace steward::actors::testing {

class capture_loop final : public net::io_loop {
public:
  capture_loop() : io_loop(settings_, routes_, stats_) {}

  /// Moves the replies received so far into `all` (kept in arrival order) and returns its size.
  std::size_t collect() {
    std::vector<net::reply_queue::entry> batch;
    replies_.take(batch);
    for (auto& entry : batch)
      all.push_back(std::move(entry));
    return all.size();
  }

  /// The reply to request `sequence`, or null.
  const net::http_response* reply(std::uint32_t sequence) {
    collect();
    for (const auto& entry : all)
      if (entry.sequence == sequence)
        return &entry.response;
    return nullptr;
  }

  std::vector<net::reply_queue::entry> all;
  /// Wake-ups the reply queue asked for: one per batch, however many replies it holds.
  std::atomic<int> wakes{0};

protected:
  void wake() noexcept override { wakes.fetch_add(1, std::memory_order_relaxed); }

private:
  static inline net::connection_settings settings_{};
  static inline net::route_table routes_{};
  static inline net::no_listener_stats stats_{};
};

class inbox {
public:
  void post(std::function<void()> delivery) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(delivery));
  }
  /// Runs every queued delivery on the calling thread; false when there was none.
  bool drain() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(queue_);
    }
    for (auto& delivery : batch)
      delivery();
    return !batch.empty();
  }
  delivery as_delivery() {
    return [this](std::function<void()> f) { post(std::move(f)); };
  }

private:
  std::mutex mutex_;
  std::vector<std::function<void()>> queue_;
};

class gated_journal final : public storage::journal {
public:
  explicit gated_journal(storage::journal& inner) : inner_(inner) {}

  /// While closed, appends are held (not stored) until `release` or `fail`.
  void close_gate() { gate_closed_ = true; }
  void open_gate() { gate_closed_ = false; }
  std::size_t held() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.size();
  }
  /// Passes every held append to the real journal.
  void release() {
    for (auto& [batch, callback] : take())
      inner_.append(std::move(batch), std::move(callback));
  }
  /// Answers every held append with `error`; nothing of them is stored.
  void fail(storage::journal_error error) {
    for (auto& [batch, callback] : take())
      callback(storage::append_outcome{error});
  }

  void append(storage::append_batch batch, storage::append_callback callback) override {
    if (!gate_closed_) {
      inner_.append(std::move(batch), std::move(callback));
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    held_.emplace_back(std::move(batch), std::move(callback));
  }
  storage::journal_result<std::vector<storage::event>>
  read_stream(std::string_view stream, std::uint64_t from_seq, std::uint32_t limit) override {
    return inner_.read_stream(stream, from_seq, limit);
  }
  storage::journal_result<std::optional<storage::snapshot>>
  latest_snapshot(std::string_view stream) override {
    return inner_.latest_snapshot(stream);
  }
  storage::journal_result<std::optional<storage::idempotency_record>>
  find_idempotency(std::string_view scope_key) override {
    return inner_.find_idempotency(scope_key);
  }
  storage::journal_result<std::optional<std::string>> find_alias(std::string_view key) override {
    return inner_.find_alias(key);
  }
  storage::journal_result<std::vector<storage::alias>> read_aliases(std::string_view after_key,
                                                                    std::uint32_t limit) override {
    return inner_.read_aliases(after_key, limit);
  }
  storage::journal_result<std::optional<std::string>> read_sealed(std::string_view ref) override {
    return inner_.read_sealed(ref);
  }
  storage::journal_result<std::vector<storage::outbox_entry>> read_outbox(std::uint64_t after_n,
                                                                          std::uint32_t limit) override {
    return inner_.read_outbox(after_n, limit);
  }
  void complete_outbox(std::vector<std::string> ids, storage::append_callback callback) override {
    inner_.complete_outbox(std::move(ids), std::move(callback));
  }
  storage::journal_result<storage::stream_verification>
  verify_stream(std::string_view stream) override {
    return inner_.verify_stream(stream);
  }
  void purge_idempotency(storage::append_callback callback) override {
    inner_.purge_idempotency(std::move(callback));
  }
  void stop() override { inner_.stop(); }

private:
  std::vector<std::pair<storage::append_batch, storage::append_callback>> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto out = std::move(held_);
    held_.clear();
    return out;
  }

  storage::journal& inner_;
  std::atomic<bool> gate_closed_{false};
  std::mutex mutex_;
  std::vector<std::pair<storage::append_batch, storage::append_callback>> held_;
};

/// A fresh directory under the system temp dir, removed with the object.
class temp_dir {
public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "steward-actors-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      std::abort();
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

inline std::unique_ptr<storage::sqlite_journal> open_journal(const temp_dir& dir) {
  storage::sqlite_journal_options options;
  options.path = dir.path() / "journal.db";
  std::string error;
  auto journal = storage::sqlite_journal::open(options, error);
  if (!journal)
    std::abort();
  return journal;
}

/// A well-formed id of `kind` whose random part is `n`: deterministic and distinct per n.
inline std::string test_id(core::id_kind kind, std::uint64_t n) {
  core::id_bits bits{};
  for (int i = 0; i < 8; ++i)
    bits[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  return core::format_id(kind, bits);
}

inline constexpr std::int64_t test_now = 1'780'000'000; // 2026-05-28 UTC

inline idempotency_key test_key(std::string_view key, std::string_view body) {
  idempotency_key out;
  out.scope_key = core::idempotency_scope("provider:acme", "POST", "/v1/charges", key);
  out.fingerprint = core::fingerprint_body(body).value;
  return out;
}

inline create_token_request token_request(const std::string& user, const std::string& token,
                                          std::int64_t max_amount, net::responder reply) {
  create_token_request request;
  request.user = user;
  request.command.id = token;
  request.command.provider = "acme";
  request.command.max_amount = core::money{max_amount, core::currency::usd};
  request.command.expires_at = test_now + 86'400;
  request.idempotency = test_key("token-" + token, "{\"token\":\"" + token + "\"}");
  request.reply = reply;
  return request;
}

/// A charge of `amount` cents with idempotency key `key`; the body fingerprinted is built from
/// the amount, so the same key with another amount is a different body.
inline charge_request charge(const std::string& user, const std::string& token, std::uint64_t n,
                             std::int64_t amount, std::string_view key, net::responder reply) {
  charge_request request;
  request.user = user;
  request.command.id = test_id(core::id_kind::charge, n);
  request.command.token = token;
  request.command.provider = "acme";
  request.command.amount = core::money{amount, core::currency::usd};
  request.command.description = "plan";
  request.idempotency = test_key(key, "{\"amount\":" + std::to_string(amount) + "}");
  request.reply = reply;
  return request;
}

inline bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

inline std::string_view header(const net::http_response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers)
    if (key == name)
      return value;
  return {};
}

/// Polls `done` until it holds or `seconds` of wall time pass, calling `step` in between.
template <class Done, class Step>
bool wait_until(Done done, Step step, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    if (!step())
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

} // namespace steward::actors::testing
