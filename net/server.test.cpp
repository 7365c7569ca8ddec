// In-process tests of the server core over real loopback sockets, on both transports: the reply
// path from other threads, pipelining order across synchronous and asynchronous handlers, the actor
// timeout, late replies, and drain with a request in flight.

#include "net/server.hpp"

#include "tests/support/raw_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace steward::net {
namespace {

using test_support::deadline_in;
using test_support::raw_client;
using namespace std::chrono_literals;

class counting_stats final : public listener_stats {
public:
  void connection_opened() noexcept override { ++opened; }
  void connection_closed() noexcept override { ++closed; }
  void connection_rejected() noexcept override { ++rejected; }
  void request_done(std::uint32_t, std::uint16_t status, std::uint64_t) noexcept override {
    ++requests;
    if (status == 503)
      ++status_503;
  }
  void timed_out(timeout_kind kind) noexcept override {
    if (kind == timeout_kind::actor)
      ++actor_timeouts;
  }
  void late_reply() noexcept override { ++late; }

  std::atomic<int> opened{0}, closed{0}, rejected{0}, requests{0}, status_503{0},
    actor_timeouts{0}, late{0};
};

/// Stands in for an actor: another thread that answers what it is handed, when told to.
class worker {
public:
  worker() : thread_([this] { loop(); }) {}
  ~worker() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void hand(responder reply, std::string body) {
    std::lock_guard<std::mutex> guard(mutex_);
    pending_.emplace_back(reply, std::move(body));
  }

  /// Answers everything handed so far, from the worker's thread.
  void release() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      release_ = true;
    }
    wake_.notify_all();
  }

  std::size_t pending() {
    std::lock_guard<std::mutex> guard(mutex_);
    return pending_.size();
  }

private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stop_ || release_; });
      if (stop_)
        return;
      release_ = false;
      auto batch = std::move(pending_);
      pending_.clear();
      lock.unlock();
      for (auto& [reply, body] : batch) {
        http_response response;
        response.body = body;
        reply.respond(std::move(response));
      }
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<responder, std::string>> pending_;
  bool stop_ = false;
  bool release_ = false;
  std::thread thread_;
};

class ServerTest : public ::testing::TestWithParam<io_backend> {
protected:
  void start(std::uint32_t actor_timeout_ms = 5000) {
    route_table routes;
    routes.add(http_method::get, "/sync", [](const http_request&, const route_params&, responder r) {
      http_response response;
      response.body = "sync";
      r.respond(std::move(response));
    });
    routes.add(http_method::get, "/async/{name}",
               [this](const http_request&, const route_params& params, responder r) {
                 workers_.hand(r, std::string(params.get("name")));
               });
    routes.add(http_method::get, "/never", [this](const http_request&, const route_params&, responder r) {
      dropped_ = r; // kept, answered only by the test (late) or never
    });
    routes.add(http_method::get, "/drop", [](const http_request&, const route_params&, responder r) {
      r.abort();
    });
    // A long-poll: its answer may take 1 s longer than other routes'.
    routes.add(
      http_method::get, "/poll/{name}",
      [this](const http_request&, const route_params& params, responder r) {
        workers_.hand(r, std::string(params.get("name")));
      },
      1000);
    server_config config;
    config.io_threads = 1;
    config.backend = GetParam();
    config.connections_max = 64;
    config.drain_timeout_ms = 3000;
    config.connection.parse = parse_limits{};
    config.connection.pipeline_depth_max = 16;
    config.connection.header_read_timeout_ms = 2000;
    config.connection.body_read_timeout_ms = 2000;
    config.connection.idle_timeout_ms = 5000;
    config.connection.actor_timeout_ms = actor_timeout_ms;
    server_ = std::make_unique<server>(config, std::move(routes), stats_);
    auto problem = server_->start();
    ASSERT_FALSE(problem) << *problem;
    ASSERT_EQ(server_->backend(), GetParam());
  }

  raw_client connect() {
    auto client = raw_client::connect(server_->port(), deadline_in(2s));
    EXPECT_TRUE(client.has_value());
    return std::move(*client);
  }

  counting_stats stats_;
  worker workers_;
  responder dropped_;
  std::unique_ptr<server> server_;
};

TEST_P(ServerTest, AnswersFromAnotherThreadThroughTheReplyQueue) {
  start();
  auto client = connect();
  ASSERT_TRUE(client.send_all("GET /async/one HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  // Nothing may arrive before the worker answers.
  EXPECT_FALSE(client.wait_readable(deadline_in(100ms)));
  workers_.release();
  auto response = client.read_response(deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "one");
}

TEST_P(ServerTest, PipelinedResponsesKeepRequestOrderAcrossAsyncAndSyncHandlers) {
  start();
  auto client = connect();
  std::string burst = "GET /async/first HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /sync HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /async/last HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(client.send_all(burst, deadline_in(2s)));
  // The synchronous answers are ready but must wait behind the first, unanswered request.
  EXPECT_FALSE(client.wait_readable(deadline_in(150ms)));
  auto until = deadline_in(2s);
  while (workers_.pending() < 2 && test_support::clock::now() < until)
    std::this_thread::yield();
  workers_.release();
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i) {
    auto response = client.read_response(deadline_in(2s));
    ASSERT_TRUE(response) << "response " << i;
    bodies.push_back(response->status == 404 ? "404" : response->body);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"first", "sync", "404", "last"}));
}

TEST_P(ServerTest, AnAbortClosesTheConnectionWithoutAnAnswer) {
  start();
  auto client = connect();
  ASSERT_TRUE(client.send_all("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  auto first = client.read_response(deadline_in(2s));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "sync");
  ASSERT_TRUE(client.send_all("GET /drop HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  ASSERT_TRUE(client.read_until_eof(deadline_in(2s)));
  EXPECT_EQ(client.pending(), "") << "an aborted request gets no answer at all";
}

TEST_P(ServerTest, AnAbortFromAnotherThreadClosesTheConnectionAndALaterAnswerIsDropped) {
  start();
  auto client = connect();
  ASSERT_TRUE(client.send_all("GET /never HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  auto until = deadline_in(2s);
  while (!dropped_.valid() && test_support::clock::now() < until)
    std::this_thread::yield();
  ASSERT_TRUE(dropped_.valid());
  std::thread([reply = dropped_] { reply.abort(); }).join();
  ASSERT_TRUE(client.read_until_eof(deadline_in(2s)));
  EXPECT_EQ(client.pending(), "");
  dropped_.respond(http_response{}); // the connection is gone: counted late, never sent
  until = deadline_in(2s);
  while (stats_.late.load() == 0 && test_support::clock::now() < until)
    std::this_thread::yield();
  EXPECT_EQ(stats_.late.load(), 1);
}

TEST_P(ServerTest, ALongPollRouteWaitsItsExtraTimeBeforeTheActorTimeout) {
  start(/*actor_timeout_ms=*/300);
  auto client = connect();
  ASSERT_TRUE(client.send_all("GET /poll/patient HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  // Past the actor timeout, within the route's extra wait: still waiting for its handler.
  EXPECT_FALSE(client.wait_readable(deadline_in(700ms)));
  workers_.release();
  auto response = client.read_response(deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "patient");
  EXPECT_EQ(stats_.actor_timeouts.load(), 0);
}

TEST_P(ServerTest, UnansweredRequestGets503AfterTheActorTimeoutAndALateReplyIsDropped) {
  start(/*actor_timeout_ms=*/300);
  auto client = connect();
  auto started = test_support::clock::now();
  ASSERT_TRUE(client.send_all("GET /never HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  auto response = client.read_response(deadline_in(3s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_NE(response->body.find("\"code\":\"overloaded\""), std::string::npos);
  // The server's clock has millisecond granularity: a deadline may fire up to 1 ms early in
  // nanosecond terms.
  EXPECT_GE(test_support::clock::now() - started, 299ms);
  EXPECT_EQ(stats_.actor_timeouts.load(), 1);
  // The connection stays usable, and the late answer goes nowhere.
  http_response late;
  late.body = "late";
  dropped_.respond(std::move(late));
  ASSERT_TRUE(client.send_all("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  response = client.read_response(deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "sync");
  EXPECT_EQ(stats_.late.load(), 1);
}

TEST_P(ServerTest, DrainFinishesTheRequestInFlightThenClosesAndStops) {
  start();
  auto busy = connect();
  auto idle = connect();
  ASSERT_TRUE(idle.send_all("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  ASSERT_TRUE(idle.read_response(deadline_in(2s)));
  ASSERT_TRUE(busy.send_all("GET /async/inflight HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  auto until = deadline_in(2s);
  while (workers_.pending() < 1 && test_support::clock::now() < until)
    std::this_thread::yield();

  server_->drain();
  // The idle keep-alive connection is closed at once.
  EXPECT_TRUE(idle.read_until_eof(deadline_in(2s)));
  // New connections are refused.
  EXPECT_FALSE(raw_client::connect(server_->port(), deadline_in(500ms)).has_value());
  // The request in flight still gets its answer, marked as the last on the connection.
  workers_.release();
  auto response = busy.read_response(deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "inflight");
  EXPECT_TRUE(response->connection_close());
  EXPECT_TRUE(busy.read_until_eof(deadline_in(2s)));
  server_->wait();
  EXPECT_EQ(server_->open_connections(), 0u);
  EXPECT_EQ(stats_.opened.load(), stats_.closed.load());
}

TEST_P(ServerTest, HalfClosedClientStillGetsEveryBufferedRequestAnsweredThenEof) {
  start();
  auto client = connect();
  // A slow first request fills the pipeline (depth 16) with answered-but-held responses; the rest
  // wait in the input buffer when the client half-closes.
  std::string burst = "GET /async/head HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 24; ++i)
    burst += "GET /sync HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(client.send_all(burst, deadline_in(2s)));
  client.shutdown_write();
  auto until = deadline_in(2s);
  while (workers_.pending() < 1 && test_support::clock::now() < until)
    std::this_thread::yield();
  EXPECT_FALSE(client.wait_readable(deadline_in(100ms)));
  workers_.release();
  auto first = client.read_response(deadline_in(2s));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "head");
  for (int i = 0; i < 24; ++i) {
    auto response = client.read_response(deadline_in(2s));
    ASSERT_TRUE(response) << "response " << i + 1;
    EXPECT_EQ(response->body, "sync");
  }
  EXPECT_TRUE(client.read_until_eof(deadline_in(2s)));
  EXPECT_EQ(stats_.requests.load(), 25);
}

TEST_P(ServerTest, ConnectionsPastTheLimitGet503AndTheOthersKeepWorking) {
  route_table routes;
  routes.add(http_method::get, "/sync", [](const http_request&, const route_params&, responder r) {
    r.respond(http_response{});
  });
  server_config config;
  config.backend = GetParam();
  config.connections_max = 2;
  config.drain_timeout_ms = 1000;
  config.connection.pipeline_depth_max = 4;
  config.connection.header_read_timeout_ms = 2000;
  config.connection.body_read_timeout_ms = 2000;
  config.connection.idle_timeout_ms = 5000;
  config.connection.actor_timeout_ms = 1000;
  server_ = std::make_unique<server>(config, std::move(routes), stats_);
  ASSERT_FALSE(server_->start());
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(a.send_all("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  ASSERT_TRUE(a.read_response(deadline_in(2s)));
  auto c = connect();
  auto rejected = c.read_response(deadline_in(2s));
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 503);
  EXPECT_TRUE(c.read_until_eof(deadline_in(2s)));
  ASSERT_TRUE(b.send_all("GET /sync HTTP/1.1\r\nHost: x\r\n\r\n", deadline_in(2s)));
  auto response = b.read_response(deadline_in(2s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(stats_.rejected.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Transports, ServerTest,
                         ::testing::Values(io_backend::io_uring, io_backend::epoll),
                         [](const auto& info) { return std::string(to_string(info.param)); });

} // namespace
} // namespace steward::net
