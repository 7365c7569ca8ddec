#include "actors/webhook_sender.hpp"

#include "actors/actor_test_support.hpp"

#include "core/hmac_signature.hpp"
#include "storage/sqlite_journal.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace steward::actors {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::int64_t test_now = 1'780'000'000;
constexpr std::string_view test_secret = "whsec_test_secret";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// --- A tiny platform: a loopback HTTP receiver with a scripted answer per request ---------------

/// One request as the receiver read it.
struct received {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  steady::time_point at;

  std::string header(std::string_view name) const {
    for (const auto& [key, value] : headers)
      if (iequals(key, name))
        return value;
    return {};
  }
  std::size_t header_count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(headers.begin(), headers.end(),
                                                  [&](const auto& field) { return iequals(field.first, name); }));
  }
};

/// Accepts on 127.0.0.1:0, reads one request per connection (headers and a Content-Length body),
/// records it and answers the next entry of the script, then `after_script`. An answer is an HTTP
/// status, `silent` (hold the connection open and never answer) or `garbage` (bytes that are not
/// a response).
class test_receiver {
public:
  static constexpr int silent = 0;
  static constexpr int garbage = -1;

  explicit test_receiver(std::vector<int> script = {}, int after_script = 200)
      : script_(std::move(script)), after_script_(after_script) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listener_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener_, 64), 0);
    socklen_t length = sizeof address;
    EXPECT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this] { serve(); });
  }

  ~test_receiver() {
    const std::uint64_t one = 1;
    EXPECT_EQ(::write(stop_fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
    thread_.join();
    for (int fd : held_)
      ::close(fd);
    ::close(listener_);
    ::close(stop_fd_);
  }

  test_receiver(const test_receiver&) = delete;
  test_receiver& operator=(const test_receiver&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  std::string url(std::string_view path = "/hooks") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  /// Waits until `count` requests arrived or `within` passed; returns all received so far.
  std::vector<received> wait_for(std::size_t count, std::chrono::milliseconds within = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    arrived_.wait_for(lock, within, [&] { return requests_.size() >= count; });
    return requests_;
  }

  std::vector<received> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

private:
  /// Waits for `fd` to be readable; false when the receiver stops or 5 s pass.
  bool readable(int fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    return ::poll(fds, 2, 5000) > 0 && fds[1].revents == 0 && fds[0].revents != 0;
  }

  void serve() {
    for (;;) {
      if (!readable(listener_)) {
        pollfd stop{stop_fd_, POLLIN, 0};
        if (::poll(&stop, 1, 0) > 0)
          return;
        continue;
      }
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      auto request = read_request(fd);
      if (!request) {
        ::close(fd);
        continue;
      }
      int answer = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        answer = requests_.size() < script_.size() ? script_[requests_.size()] : after_script_;
        requests_.push_back(std::move(*request));
      }
      arrived_.notify_all();
      if (answer == silent) {
        held_.push_back(fd);
        continue;
      }
      std::string response;
      if (answer == garbage)
        response = "HELLO THERE\r\n\r\n";
      else
        response = "HTTP/1.1 " + std::to_string(answer) + " Scripted\r\nContent-Type: text/plain\r\n" +
                   "Content-Length: 2\r\nConnection: close\r\n\r\nok";
      EXPECT_EQ(::send(fd, response.data(), response.size(), MSG_NOSIGNAL), static_cast<ssize_t>(response.size()));
      ::close(fd);
    }
  }

  std::optional<received> read_request(int fd) {
    std::string buffer;
    char chunk[4096];
    std::size_t head_end = std::string::npos;
    std::size_t content_length = 0;
    for (;;) {
      if (head_end == std::string::npos) {
        head_end = buffer.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          const auto cl = buffer.find("Content-Length: ");
          if (cl != std::string::npos && cl < head_end) {
            const char* begin = buffer.data() + cl + 16;
            std::from_chars(begin, buffer.data() + head_end, content_length);
          }
        }
      }
      if (head_end != std::string::npos && buffer.size() >= head_end + 4 + content_length)
        break;
      if (!readable(fd))
        return std::nullopt;
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0)
        return std::nullopt;
      buffer.append(chunk, static_cast<std::size_t>(got));
    }
    received out;
    out.at = steady::now();
    std::string_view head(buffer.data(), head_end);
    const auto line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const auto space = request_line.find(' ');
    const auto space2 = request_line.find(' ', space + 1);
    out.method = std::string(request_line.substr(0, space));
    out.target = std::string(request_line.substr(space + 1, space2 - space - 1));
    std::string_view fields = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
    while (!fields.empty()) {
      const auto end = fields.find("\r\n");
      const std::string_view field = fields.substr(0, end);
      fields = end == std::string_view::npos ? std::string_view{} : fields.substr(end + 2);
      const auto colon = field.find(':');
      std::string_view value = field.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      out.headers.emplace_back(std::string(field.substr(0, colon)), std::string(value));
    }
    out.body = buffer.substr(head_end + 4, content_length);
    return out;
  }

  std::vector<int> script_;
  int after_script_;
  int listener_ = -1;
  int stop_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> held_; // silent connections, closed at the end
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<received> requests_;
  std::thread thread_;
};

// --- A journal with only an outbox --------------------------------------------------------------

/// An in-memory outbox, to script read and delete failures; every other operation is refused.
class fake_journal final : public storage::journal {
public:
  /// Adds an entry of `type` with id `id`, numbered `n_step` after the previous one.
  void add(std::string id, std::string payload = R"({"budget":"bud_1","threshold_percent":80})",
           std::string type = "budget.threshold", std::uint64_t n_step = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_n_ += n_step;
    outbox_.push_back(storage::outbox_entry{last_n_, std::move(id), "usr_1", std::move(type), std::move(payload),
                                            test_now - 10});
  }
  std::vector<std::string> pending_ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> ids;
    for (const auto& entry : outbox_)
      ids.push_back(entry.id);
    return ids;
  }
  std::vector<std::vector<std::string>> completions() {
    std::lock_guard<std::mutex> lock(mutex_);
    return completions_;
  }
  void fail_next_reads(int count) { fail_reads_ = count; }
  void fail_next_completions(int count) { fail_completions_ = count; }
  int reads() const { return reads_.load(); }

  storage::journal_result<std::vector<storage::outbox_entry>> read_outbox(std::uint64_t after_n,
                                                                          std::uint32_t limit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++reads_;
    if (fail_reads_ > 0) {
      --fail_reads_;
      return storage::journal_error::io_error;
    }
    std::vector<storage::outbox_entry> page;
    for (const auto& entry : outbox_)
      if (entry.n > after_n && page.size() < limit)
        page.push_back(entry);
    return page;
  }
  void complete_outbox(std::vector<std::string> ids, storage::append_callback done) override {
    std::optional<storage::journal_error> error;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completions_.push_back(ids);
      if (fail_completions_ > 0) {
        --fail_completions_;
        error = storage::journal_error::io_error;
      } else {
        std::erase_if(outbox_, [&](const storage::outbox_entry& entry) {
          return std::find(ids.begin(), ids.end(), entry.id) != ids.end();
        });
      }
    }
    done(storage::append_outcome{error});
  }

  void append(storage::append_batch, storage::append_callback done) override {
    done(storage::append_outcome{storage::journal_error::invalid_request});
  }
  storage::journal_result<std::vector<storage::event>> read_stream(std::string_view, std::uint64_t,
                                                                   std::uint32_t) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<std::optional<storage::snapshot>> latest_snapshot(std::string_view) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<std::optional<storage::idempotency_record>> find_idempotency(std::string_view) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<std::optional<std::string>> find_alias(std::string_view) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<std::vector<storage::alias>> read_aliases(std::string_view, std::uint32_t) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<std::optional<std::string>> read_sealed(std::string_view) override {
    return storage::journal_error::invalid_request;
  }
  storage::journal_result<storage::stream_verification> verify_stream(std::string_view) override {
    return storage::journal_error::invalid_request;
  }
  void purge_idempotency(storage::append_callback done) override {
    done(storage::append_outcome{storage::journal_error::invalid_request});
  }
  void stop() override {}

private:
  std::mutex mutex_;
  std::uint64_t last_n_ = 0;
  std::vector<storage::outbox_entry> outbox_;
  std::vector<std::vector<std::string>> completions_;
  int fail_reads_ = 0;
  int fail_completions_ = 0;
  std::atomic<int> reads_{0};
};

webhook_config config_for(const std::string& url, storage::journal& journal) {
  webhook_config config;
  config.url = url;
  config.secret = std::string(test_secret);
  config.journal = &journal;
  config.timeout = 2s;
  config.backoff_initial = 20ms;
  config.backoff_max = 1s;
  config.clock = [] { return test_now; };
  return config;
}

/// Polls `condition` until it holds or `within` passes (for the sender's counters, which have no
/// notification of their own).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = 10s) {
  const auto until = steady::now() + within;
  while (!condition()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::int64_t ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// --- Delivery -----------------------------------------------------------------------------------

TEST(WebhookSender, DeliversSignedEventWithHeadersAndBody) {
  fake_journal journal;
  journal.add("evt_1", R"({"budget":"bud_1","threshold_percent":80})", "budget.threshold");
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url("/hooks/steward?tenant=a"), journal));

  const auto requests = receiver.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hooks/steward?tenant=a");
  EXPECT_EQ(r.header("Host"), "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("Idempotency-Key"), "evt_1");
  EXPECT_EQ(r.header("Steward-Event"), "budget.threshold");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header_count("Steward-Signature"), 1u);
  EXPECT_EQ(r.body, R"({"id":"evt_1","object":"event","type":"budget.threshold","created":)" +
                        std::to_string(test_now - 10) + R"(,"data":{"budget":"bud_1","threshold_percent":80}})");

  // The signature covers method, path with query, the event id as key, and the body.
  const std::string signature = r.header("Steward-Signature");
  EXPECT_EQ(signature.rfind("t=" + std::to_string(test_now) + ",v1=", 0), 0u) << signature;
  EXPECT_EQ(core::verify(test_secret, signature, test_now, {"POST", r.target, "evt_1", r.body}),
            core::signature_error::none);
  EXPECT_EQ(core::verify("another secret", signature, test_now, {"POST", r.target, "evt_1", r.body}),
            core::signature_error::mismatch);
  EXPECT_EQ(core::verify(test_secret, signature, test_now, {"POST", "/hooks/steward", "evt_1", r.body}),
            core::signature_error::mismatch);

  // Counted as delivered first, then deleted from the outbox.
  ASSERT_TRUE(eventually([&] { return journal.completions().size() == 1; }));
  EXPECT_EQ(journal.completions(), (std::vector<std::vector<std::string>>{{"evt_1"}}));
  EXPECT_EQ(sender.delivered(), 1u);
  EXPECT_EQ(sender.failed_attempts(), 0u);
  EXPECT_EQ(sender.pending(), 0u);
  EXPECT_TRUE(journal.pending_ids().empty());
}

TEST(WebhookSender, RetriesTheSameEntryWithGrowingBackoff) {
  fake_journal journal;
  journal.add("evt_1");
  journal.add("evt_2");
  test_receiver receiver({500, 500});
  auto config = config_for(receiver.url(), journal);
  config.backoff_initial = 50ms;
  webhook_sender sender(config);

  const auto requests = receiver.wait_for(4);
  ASSERT_EQ(requests.size(), 4u);
  // In order: evt_1 is retried until it is delivered, and only then evt_2 is sent.
  EXPECT_EQ(requests[0].header("Idempotency-Key"), "evt_1");
  EXPECT_EQ(requests[1].header("Idempotency-Key"), "evt_1");
  EXPECT_EQ(requests[2].header("Idempotency-Key"), "evt_1");
  EXPECT_EQ(requests[3].header("Idempotency-Key"), "evt_2");
  EXPECT_EQ(requests[0].body, requests[2].body);
  // The first wait is 50 ms ±20 %, the second twice that: a gap below these bounds means the
  // backoff was skipped or did not grow.
  EXPECT_GE(ms_between(requests[0].at, requests[1].at), 40);
  EXPECT_GE(ms_between(requests[1].at, requests[2].at), 80);
  // After a delivery the backoff starts over (and evt_2 is not delayed by it at all).
  EXPECT_LT(ms_between(requests[2].at, requests[3].at), 1000);

  ASSERT_TRUE(eventually([&] { return journal.completions().size() == 2; }));
  EXPECT_EQ(sender.delivered(), 2u);
  EXPECT_EQ(sender.failed_attempts(), 2u);
  EXPECT_EQ(sender.pending(), 0u);
  EXPECT_EQ(journal.completions(), (std::vector<std::vector<std::string>>{{"evt_1"}, {"evt_2"}}));
}

TEST(WebhookSender, DeliversInOutboxOrderAcrossPages) {
  fake_journal journal;
  constexpr int entries = 230; // more than one read page
  std::vector<std::string> expected;
  for (int i = 0; i < entries; ++i) {
    std::string id = "evt_";
    id += std::to_string(i);
    expected.push_back(id);
    std::string payload = "[";
    payload += std::to_string(i);
    payload += ']';
    journal.add(id, payload, "budget.threshold", 1 + i % 3);
  }
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url(), journal));

  const auto requests = receiver.wait_for(entries, 60s);
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(entries));
  std::vector<std::string> sent;
  for (const auto& r : requests)
    sent.push_back(r.header("Idempotency-Key"));
  EXPECT_EQ(sent, expected);
  ASSERT_TRUE(eventually([&] { return journal.pending_ids().empty(); }));
  EXPECT_EQ(sender.delivered(), static_cast<std::uint64_t>(entries));
  std::vector<std::string> completed;
  for (const auto& ids : journal.completions())
    completed.insert(completed.end(), ids.begin(), ids.end());
  EXPECT_EQ(completed, expected);
  EXPECT_TRUE(journal.pending_ids().empty());
  EXPECT_GE(journal.reads(), 3);
  EXPECT_EQ(sender.pending(), 0u);
}

TEST(WebhookSender, NotifyWakesItForNewEntries) {
  fake_journal journal;
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url(), journal));
  ASSERT_TRUE(eventually([&] { return journal.reads() >= 1; })); // the start-up read found nothing

  journal.add("evt_late");
  sender.notify();
  const auto requests = receiver.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("Idempotency-Key"), "evt_late");
  ASSERT_TRUE(eventually([&] { return sender.delivered() == 1; }));
}

TEST(WebhookSender, RetriesAJournalReadErrorAfterBackoff) {
  fake_journal journal;
  journal.fail_next_reads(2);
  journal.add("evt_1");
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url(), journal));

  ASSERT_TRUE(eventually([&] { return sender.delivered() == 1; }));
  EXPECT_EQ(journal.reads(), 3);
  EXPECT_EQ(sender.failed_attempts(), 0u); // read errors are not delivery attempts
}

TEST(WebhookSender, RetriesAFailedOutboxDeleteWithTheNextOne) {
  fake_journal journal;
  journal.fail_next_completions(1);
  journal.add("evt_1");
  journal.add("evt_2");
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url(), journal));

  ASSERT_TRUE(eventually([&] { return journal.completions().size() == 2; }));
  EXPECT_EQ(journal.completions(), (std::vector<std::vector<std::string>>{{"evt_1"}, {"evt_2", "evt_1"}}));
  EXPECT_TRUE(journal.pending_ids().empty());
  EXPECT_EQ(receiver.requests().size(), 2u); // evt_1 is not sent again
}

// --- Failed attempts ----------------------------------------------------------------------------

TEST(WebhookSender, SilentReceiverTimesOutAndTheEntryStaysPending) {
  fake_journal journal;
  journal.add("evt_1");
  test_receiver receiver({}, test_receiver::silent);
  auto config = config_for(receiver.url(), journal);
  config.timeout = 100ms;
  const auto started = steady::now();
  webhook_sender sender(config);

  ASSERT_TRUE(eventually([&] { return sender.failed_attempts() >= 2; }));
  EXPECT_GE(ms_between(started, steady::now()), 200); // each attempt waited its whole timeout
  EXPECT_EQ(sender.delivered(), 0u);
  EXPECT_EQ(sender.pending(), 1u);
  sender.stop();
  EXPECT_EQ(journal.pending_ids(), std::vector<std::string>{"evt_1"});
  EXPECT_TRUE(journal.completions().empty());
  EXPECT_GE(receiver.requests().size(), 2u); // every attempt reached the receiver
}

TEST(WebhookSender, MalformedResponseIsAFailedAttempt) {
  fake_journal journal;
  journal.add("evt_1");
  test_receiver receiver({test_receiver::garbage});
  webhook_sender sender(config_for(receiver.url(), journal));

  ASSERT_TRUE(eventually([&] { return sender.delivered() == 1; }));
  EXPECT_EQ(sender.failed_attempts(), 1u);
  EXPECT_EQ(receiver.requests().size(), 2u);
}

TEST(WebhookSender, RefusedConnectionIsAFailedAttempt) {
  // A port that was free a moment ago; nothing listens on it.
  std::string url;
  {
    test_receiver closed;
    url = closed.url();
  }
  fake_journal journal;
  journal.add("evt_1");
  webhook_sender sender(config_for(url, journal));

  ASSERT_TRUE(eventually([&] { return sender.failed_attempts() >= 2; }));
  EXPECT_EQ(sender.delivered(), 0u);
  EXPECT_EQ(sender.pending(), 1u);
}

// --- Stopping -----------------------------------------------------------------------------------

TEST(WebhookSender, StopDuringBackoffReturnsPromptly) {
  fake_journal journal;
  journal.add("evt_1");
  test_receiver receiver({}, 503);
  auto config = config_for(receiver.url(), journal);
  config.backoff_initial = 30s;
  config.backoff_max = 60s;
  webhook_sender sender(config);
  ASSERT_TRUE(eventually([&] { return sender.failed_attempts() == 1; }));

  const auto before = steady::now();
  sender.stop();
  EXPECT_LT(ms_between(before, steady::now()), 1000);
  sender.stop(); // idempotent
  EXPECT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(journal.pending_ids(), std::vector<std::string>{"evt_1"});
}

TEST(WebhookSender, StopAbandonsAnAttemptInFlight) {
  fake_journal journal;
  journal.add("evt_1");
  test_receiver receiver({}, test_receiver::silent);
  auto config = config_for(receiver.url(), journal);
  config.timeout = 30s;
  webhook_sender sender(config);
  ASSERT_EQ(receiver.wait_for(1).size(), 1u); // the attempt is waiting for the answer

  const auto before = steady::now();
  sender.stop();
  EXPECT_LT(ms_between(before, steady::now()), 1000);
  EXPECT_EQ(sender.failed_attempts(), 0u); // abandoned, not failed
  EXPECT_EQ(sender.delivered(), 0u);
  EXPECT_EQ(journal.pending_ids(), std::vector<std::string>{"evt_1"});
}

// --- With the real journal ------------------------------------------------------------------------

using testing::temp_dir; // actors/actor_test_support.hpp

TEST(WebhookSender, DeliversWhatTheSqliteJournalOutboxHoldsAcrossARestart) {
  temp_dir dir;
  storage::sqlite_journal_options options;
  options.path = dir.path() / "journal.db";
  options.clock = [] { return test_now; }; // the entries are not old enough to expire
  std::string error;
  auto journal = storage::sqlite_journal::open(options, error);
  ASSERT_TRUE(journal) << error;

  storage::append_batch batch;
  batch.stream = "usr_1";
  for (const char* id : {"evt_a", "evt_b"})
    batch.outbox.push_back(storage::outbox_entry{0, id, "usr_1", "kill.activated", R"({"scope":"user"})", test_now});
  std::promise<storage::append_outcome> appended;
  journal->append(std::move(batch), [&](storage::append_outcome outcome) { appended.set_value(outcome); });
  ASSERT_TRUE(appended.get_future().get().durable());

  {
    // The platform is down: nothing is delivered, and stopping leaves the outbox as it was.
    test_receiver down({}, 503);
    webhook_sender sender(config_for(down.url(), *journal));
    ASSERT_TRUE(eventually([&] { return sender.failed_attempts() >= 1; }));
    sender.stop();
    EXPECT_EQ(journal->read_outbox(0, 10).value().size(), 2u);
  }

  // A new sender (as after a restart) delivers what was left, in order, and deletes it.
  test_receiver receiver;
  webhook_sender sender(config_for(receiver.url(), *journal));
  const auto requests = receiver.wait_for(2);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("Idempotency-Key"), "evt_a");
  EXPECT_EQ(requests[1].header("Idempotency-Key"), "evt_b");
  EXPECT_EQ(requests[1].header("Steward-Event"), "kill.activated");
  EXPECT_EQ(requests[1].body,
            R"({"id":"evt_b","object":"event","type":"kill.activated","created":)" + std::to_string(test_now) +
                R"(,"data":{"scope":"user"}})");
  // The delete is asynchronous: the journal counts it once its transaction committed.
  ASSERT_TRUE(eventually([&] { return journal->outbox_completed() == 2; }));
  EXPECT_TRUE(journal->read_outbox(0, 10).value().empty());
  EXPECT_EQ(sender.delivered(), 2u);
  EXPECT_EQ(sender.pending(), 0u);
}

// --- URLs ---------------------------------------------------------------------------------------

TEST(WebhookUrl, AcceptsHttpsAndLoopbackHttp) {
  for (const char* url : {"https://platform.example/hooks", "https://platform.example:8443/a/b?c=d&e=f",
                          "https://[2001:db8::1]/hooks", "http://127.0.0.1:8080/hooks", "http://127.0.0.1:8080",
                          "http://[::1]:8080/hooks", "http://localhost/hooks", "https://host?x=1"})
    EXPECT_EQ(validate_webhook_url(url), std::nullopt) << url;
}

TEST(WebhookUrl, RefusesWhatItCannotSendSafely) {
  // Plain http leaves the machine only over TLS (DESIGN 5's rule for outbound calls).
  for (const char* url : {"http://platform.example/hooks", "http://10.0.0.1/hooks", "http://platform.internal:80/"}) {
    const auto insecure = validate_webhook_url(url);
    ASSERT_TRUE(insecure.has_value()) << url;
    EXPECT_NE(insecure->find("loopback"), std::string::npos) << *insecure;
  }
  for (const char* url : {"", "ftp://platform.example/hooks", "platform.example/hooks", "https://", "https:///hooks",
                          "https://:8080/hooks", "https://host:0/hooks", "https://host:65536/hooks",
                          "https://host:99999/hooks", "https://host:80a/hooks", "https://host:-1/hooks",
                          "https://host:8080:9/hooks", "https://user:pw@host/hooks", "https://host/a b",
                          "https://host/hooks#frag", "https://[::1/hooks", "https://host/\r\nX-Injected: 1"}) {
    const auto refused = validate_webhook_url(url);
    ASSERT_TRUE(refused.has_value()) << url;
    EXPECT_NE(refused->find("must look like"), std::string::npos) << *refused;
  }
}

} // namespace
} // namespace steward::actors
