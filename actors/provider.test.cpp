// The provider actor against a real HTTP server on loopback that plays the provider's catalog
// endpoint, and the real outbound client: first fetch, revalidation, failures and retries.

#include "actors/provider.hpp"

#include "net/listener_stats.hpp"
#include "net/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

namespace steward::actors {
namespace {

std::string catalog_document(std::string_view service_id) {
  return std::string(R"({"services":[{"id":")") + std::string(service_id) +
         R"(","name":"KV","description":"","kind":"plan","durable":false,"categories":["database"],)"
         R"("configuration_schema":{"type":"object"},"pricing":{"type":"free"}},)"
         R"({"id":"bad","name":"Bad","kind":"plan","durable":false,)"
         R"("configuration_schema":{"$dynamicRef":"#x"},"pricing":{"type":"free"}}],)"
         R"("terms":{"url":"https://provider.example/terms","version":"7"}})";
}

/// The provider's side: answers GET /catalog from a script of responses (the last one repeats)
/// and records the If-None-Match of every request.
class fake_catalog_endpoint {
public:
  fake_catalog_endpoint() {
    net::route_table routes;
    routes.add(net::http_method::get, "/catalog",
               [this](const net::http_request& request, const net::route_params&,
                      net::responder reply) {
                 std::lock_guard lock(mutex_);
                 seen_if_none_match_.emplace_back(request.header("If-None-Match"));
                 net::http_response response = script_.front();
                 if (script_.size() > 1)
                   script_.pop_front();
                 reply.respond(std::move(response));
               });
    net::server_config config;
    config.name = "provider";
    config.connections_max = 64;
    config.connection.pipeline_depth_max = core::limits::pipeline_depth_default;
    config.connection.header_read_timeout_ms = core::limits::header_read_timeout_ms_default;
    config.connection.body_read_timeout_ms = core::limits::body_read_timeout_ms_default;
    config.connection.idle_timeout_ms = core::limits::idle_timeout_ms_default;
    config.connection.actor_timeout_ms = core::limits::actor_timeout_ms_default;
    server_ = std::make_unique<net::server>(config, std::move(routes), stats_);
    auto problem = server_->start();
    EXPECT_FALSE(problem) << *problem;
  }
  ~fake_catalog_endpoint() {
    server_->drain();
    server_->wait();
  }

  std::string base_url() const { return "http://" + server_->bound_address(); }

  void script(std::vector<net::http_response> responses) {
    std::lock_guard lock(mutex_);
    script_.assign(responses.begin(), responses.end());
  }

  std::vector<std::string> if_none_match_seen() {
    std::lock_guard lock(mutex_);
    return seen_if_none_match_;
  }

private:
  std::mutex mutex_;
  std::deque<net::http_response> script_;
  std::vector<std::string> seen_if_none_match_;
  net::no_listener_stats stats_;
  std::unique_ptr<net::server> server_;
};

net::http_response ok(std::string body, std::string etag) {
  net::http_response response;
  response.body = std::move(body);
  if (!etag.empty())
    response.headers.emplace_back("ETag", std::move(etag));
  return response;
}

net::http_response status(std::uint16_t code) {
  net::http_response response;
  response.status = code;
  return response;
}

/// Waits (bounded) until `done()`; the bound only keeps a broken build from hanging.
template <class Done>
bool eventually(Done done) {
  for (int i = 0; i < 1000; ++i) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class ProviderActor : public ::testing::Test {
protected:
  ProviderActor() : board({"cloud", "other"}), system(config()) {}

  ~ProviderActor() override {
    {
      std::lock_guard lock(log_mutex);
      for (const auto& line : log)
        std::cout << "provider log: " << line << "\n";
    }
    client.stop();
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg;
    static bool once = [] {
      cfg.set("scheduler.max-threads", std::size_t(2));
      cfg.set("logger.console", caf::atom("none"));
      return true;
    }();
    (void)once;
    return cfg;
  }

  void spawn(std::chrono::milliseconds refresh = std::chrono::hours(1)) {
    provider_config config;
    config.slug = "cloud";
    config.base_url = endpoint.base_url();
    config.client = &client;
    config.board = &board;
    config.refresh_interval = refresh;
    config.retry_min = std::chrono::milliseconds(5);
    config.retry_max = std::chrono::milliseconds(20);
    config.counters = &counters;
    config.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex);
      log.emplace_back(line);
    };
    actor = spawn_provider(system, std::move(config));
  }

  const core::provider_catalog* published() { return board.current()->find("cloud"); }

  fake_catalog_endpoint endpoint;
  net::http_client client;
  catalog_board board;
  provider_counters counters;
  std::mutex log_mutex;
  std::vector<std::string> log;
  caf::actor_system system;
  provider_actor actor;
};

TEST_F(ProviderActor, PublishesTheCatalogAndHidesWhatItCannotSell) {
  endpoint.script({ok(catalog_document("kv:free"), "\"v1\"")});
  spawn();
  ASSERT_TRUE(eventually([&] { return counters.catalog_fetches.load() == 1; }));
  auto view = board.current();
  const auto* catalog = view->find("cloud");
  ASSERT_NE(catalog, nullptr);
  ASSERT_EQ(catalog->services.size(), 1u);
  EXPECT_EQ(catalog->services[0].id, "kv:free");
  EXPECT_EQ(catalog->terms.version, "7");
  EXPECT_EQ(counters.catalog_services.load(), 1);
  EXPECT_EQ(counters.catalog_hidden.load(), 1);
  EXPECT_EQ(view->find("other"), nullptr); // its own actor has not fetched
  EXPECT_EQ(view->find("unknown"), nullptr);
  std::lock_guard lock(log_mutex);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("service hidden: bad:"), std::string::npos);
}

TEST_F(ProviderActor, RevalidatesWithIfNoneMatchAndKeepsTheCatalogOn304) {
  endpoint.script({ok(catalog_document("kv:free"), "\"v1\""), status(304)});
  spawn();
  ASSERT_TRUE(eventually([&] { return counters.catalog_fetches.load() == 1; }));
  auto before = board.current();
  caf::anon_send(actor, refresh_atom::value);
  ASSERT_TRUE(eventually([&] { return counters.catalog_revalidations.load() == 1; }));
  EXPECT_EQ(board.current(), before); // nothing republished
  auto seen = endpoint.if_none_match_seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "");
  EXPECT_EQ(seen[1], "\"v1\"");
}

TEST_F(ProviderActor, AFailedRefreshKeepsThePreviousCatalog) {
  endpoint.script({ok(catalog_document("kv:free"), "\"v1\""),
                   ok(R"({"services":[],"terms":{},"surprise":true})", "\"v2\"")});
  spawn();
  ASSERT_TRUE(eventually([&] { return counters.catalog_fetches.load() == 1; }));
  caf::anon_send(actor, refresh_atom::value);
  // The broken document fails, then its retries (every 5-20 ms) fail again.
  ASSERT_TRUE(eventually([&] { return counters.catalog_failures.load() >= 2; }));
  const auto* catalog = published();
  ASSERT_NE(catalog, nullptr);
  ASSERT_EQ(catalog->services.size(), 1u);
  EXPECT_EQ(catalog->services[0].id, "kv:free");
  EXPECT_EQ(counters.catalog_fetches.load(), 1u);
}

TEST_F(ProviderActor, RetriesAfterFailuresUntilTheProviderAnswers) {
  endpoint.script({status(500), status(404), ok(catalog_document("compute:metered"), "")});
  spawn();
  ASSERT_TRUE(eventually([&] { return counters.catalog_fetches.load() == 1; }));
  EXPECT_EQ(counters.catalog_failures.load(), 2u);
  ASSERT_NE(published(), nullptr);
  EXPECT_EQ(published()->services[0].id, "compute:metered");
  // Without an ETag the next refresh downloads again rather than sending an empty validator.
  caf::anon_send(actor, refresh_atom::value);
  ASSERT_TRUE(eventually([&] { return counters.catalog_fetches.load() == 2; }));
  auto seen = endpoint.if_none_match_seen();
  EXPECT_EQ(seen.back(), "");
}

TEST(CatalogBoard, IgnoresProvidersItWasNotGivenAndCopiesOnWrite) {
  catalog_board board({"b", "a"});
  auto empty = board.current();
  ASSERT_EQ(empty->slugs, (std::vector<std::string>{"a", "b"}));
  auto stranger = std::make_shared<core::provider_catalog>();
  stranger->provider = "zzz";
  board.publish(stranger);
  EXPECT_EQ(board.current(), empty);
  auto a = std::make_shared<core::provider_catalog>();
  a->provider = "a";
  board.publish(a);
  EXPECT_EQ(board.current()->find("a"), a.get());
  EXPECT_EQ(empty->find("a"), nullptr); // an old view never changes
}

} // namespace
} // namespace steward::actors
