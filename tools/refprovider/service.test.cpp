// The reference provider's routes served by a real net::server, called over loopback with the real
// HTTP client, verifying attestations against a JWKS served by another real net::server that stands
// in for steward (built with core/jws.hpp `build_jwks`, exactly as steward publishes it).

#include "tools/refprovider/service.hpp"

#include "core/attestation.hpp"
#include "core/hmac_signature.hpp"
#include "core/jws.hpp"
#include "net/server.hpp"
#include "tools/refprovider/catalog.hpp"
#include "tools/refprovider/limits.hpp"
#include "tools/refprovider/query_string.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace steward::refprovider {
namespace {

using namespace std::chrono_literals;

net::server_config loopback_config() {
  net::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.io_threads = 1;
  config.backend = net::io_backend::epoll;
  config.connections_max = 64;
  config.drain_timeout_ms = 2000;
  config.connection.pipeline_depth_max = 8;
  config.connection.header_read_timeout_ms = 5000;
  config.connection.body_read_timeout_ms = 5000;
  config.connection.idle_timeout_ms = 10000;
  config.connection.actor_timeout_ms = 10000;
  return config;
}

/// A fresh Ed25519 signing key.
core::jws_signing_key new_key(std::string kid) {
  std::array<std::uint8_t, 32> seed{};
  core::openssl_random random;
  EXPECT_TRUE(random.fill(seed));
  return *core::jws_signing_key::from_private_key(std::move(kid), seed);
}

std::string field(std::string_view json, std::string_view name) {
  auto key = "\"" + std::string(name) + "\":\"";
  auto at = json.find(key);
  if (at == std::string_view::npos)
    return {};
  at += key.size();
  return std::string(json.substr(at, json.find('"', at) - at));
}

/// One charge as steward received it.
struct received_charge {
  std::string provider;
  std::string signature;
  std::string key;
  std::string body;
};

/// Stands in for steward: serves whatever JWKS document the test sets at
/// `/.well-known/jwks.json`, and answers `POST /v1/provider/charges` as the test says, keeping what
/// it received (the real stewardd is exercised in tests/refprovider.test.cpp).
class jwks_endpoint {
public:
  jwks_endpoint() {
    net::route_table routes;
    routes.add(net::http_method::post, "/v1/provider/charges",
               [this](const net::http_request& request, const net::route_params&,
                      net::responder reply) {
                 net::http_response response;
                 std::lock_guard<std::mutex> guard(mutex_);
                 charges_.push_back({std::string(request.header("Steward-Provider")),
                                     std::string(request.header("Steward-Signature")),
                                     std::string(request.header("Idempotency-Key")),
                                     std::string(request.body)});
                 response.status = charge_status_;
                 response.body = charge_body_;
                 if (!script_.empty()) {
                   response.status = script_.front().first;
                   response.body = script_.front().second;
                   script_.erase(script_.begin());
                 }
                 charged_.notify_all();
                 reply.respond(std::move(response));
               });
    routes.add(net::http_method::get, "/.well-known/jwks.json",
               [this](const net::http_request&, const net::route_params&, net::responder reply) {
                 net::http_response response;
                 std::lock_guard<std::mutex> guard(mutex_);
                 ++hits_;
                 response.status = status_;
                 response.body = document_;
                 reply.respond(std::move(response));
               });
    server_ = std::make_unique<net::server>(loopback_config(), std::move(routes), stats_);
    auto problem = server_->start();
    EXPECT_FALSE(problem) << *problem;
  }
  ~jwks_endpoint() {
    server_->drain();
    server_->wait();
  }

  std::string url() const { return "http://" + server_->bound_address(); }

  void publish(const std::vector<const core::jws_signing_key*>& keys, std::uint16_t status = 200) {
    std::vector<core::public_jwk> jwks;
    for (auto* key : keys)
      jwks.push_back({key->kid(), key->public_key()});
    std::lock_guard<std::mutex> guard(mutex_);
    document_ = core::build_jwks(jwks);
    status_ = status;
  }

  int hits() {
    std::lock_guard<std::mutex> guard(mutex_);
    return hits_;
  }

  void answer_charges(std::uint16_t status, std::string body) {
    std::lock_guard<std::mutex> guard(mutex_);
    charge_status_ = status;
    charge_body_ = std::move(body);
  }

  std::vector<received_charge> charges() {
    std::lock_guard<std::mutex> guard(mutex_);
    return charges_;
  }

  /// Answers the next charges with these, in order, before the `answer_charges` answer.
  void script_charges(std::vector<std::pair<std::uint16_t, std::string>> answers) {
    std::lock_guard<std::mutex> guard(mutex_);
    script_ = std::move(answers);
  }

  /// Waits (up to 10 s) until `count` charges arrived; the charges then.
  std::vector<received_charge> wait_for_charges(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    charged_.wait_for(lock, std::chrono::seconds(10), [&] { return charges_.size() >= count; });
    return charges_;
  }

private:
  net::no_listener_stats stats_;
  std::unique_ptr<net::server> server_;
  std::mutex mutex_;
  std::string document_ = R"({"keys":[]})";
  std::uint16_t status_ = 200;
  int hits_ = 0;
  std::uint16_t charge_status_ = 201;
  std::string charge_body_ = R"({"id":"chg_0000000000000000000042","object":"charge"})";
  std::vector<received_charge> charges_;
  std::vector<std::pair<std::uint16_t, std::string>> script_;
  std::condition_variable charged_;
};

class refprovider_service : public ::testing::Test {
protected:
  static constexpr std::int64_t now = 1'800'000'000;
  static constexpr std::string_view secret = "provider-secret";

  void SetUp() override {
    jwks_.publish({&key_});
    service_config config;
    config.slug = "ref";
    config.steward_url = jwks_.url();
    config.terms_version = "v1";
    config.secret = secret;
    config.existing_accounts = {"linked@example.com"};
    config.clock = [clock = clock_] { return clock->load(); };
    config.oauth_auto_consent = auto_consent_;
    config.meter_interval_ms = meter_interval_ms_;
    config.meter_units = meter_units_;
    config.faults = faults_;
    config.faults_from_header = faults_from_header_;
    service_ = std::make_unique<service>(std::move(config), provider_client_, random_);
    server_ = std::make_unique<net::server>(loopback_config(), service_->routes(), stats_);
    auto problem = server_->start();
    ASSERT_FALSE(problem) << *problem;
    base_ = "http://" + server_->bound_address();
    service_->set_public_url(base_);
  }

  void TearDown() override {
    server_->drain();
    service_->stop();
    provider_client_.stop();
    EXPECT_EQ(service_->meters_running(), 0) << "every meter ended";
    server_->wait();
    test_client_.stop();
  }

  /// One request to the provider; fails the test when it gets no response within 10 s.
  net::client_response call(net::http_method method, std::string_view target,
                            std::string body = {},
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto result = send(method, target, std::move(body), std::move(headers));
    auto* response = std::get_if<net::client_response>(&result);
    EXPECT_TRUE(response) << net::to_string(std::get<net::client_error>(result));
    return response ? *response : net::client_response{};
  }

  /// One request with its own deadline (0: the client's); the response or the client's error.
  net::client_result send(net::http_method method, std::string_view target, std::string body,
                          std::vector<std::pair<std::string, std::string>> headers,
                          std::uint32_t timeout_ms = 0) {
    net::client_request request;
    request.timeout_ms = timeout_ms;
    request.method = method;
    request.url = base_ + std::string(target);
    request.body = std::move(body);
    for (auto& [name, value] : headers) {
      if (name == "Idempotency-Key")
        request.idempotency_key = value; // the client writes that field itself
      else
        request.headers.emplace_back(name, value);
    }
    auto promise = std::make_shared<std::promise<net::client_result>>();
    auto future = promise->get_future();
    test_client_.request(std::move(request),
                         [promise](net::client_result result) { promise->set_value(result); });
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
  }

  std::string attestation(std::string_view email, const core::jws_signing_key& key,
                          std::int64_t at = now, std::string_view audience = "ref",
                          std::string issuer = {}, bool verified = true) {
    if (issuer.empty())
      issuer = jwks_.url();
    core::attestation_request request;
    request.issuer = issuer;
    request.user_id = "usr_0000000000000000000001";
    request.audience = audience;
    request.email = email;
    request.email_verified = verified;
    request.name = "Ada";
    core::minted_attestation minted;
    EXPECT_EQ(core::make_attestation(request, key, at, random_, minted),
              core::attestation_error::none);
    return minted.token;
  }

  net::client_response open_account(const std::string& token) {
    return call(net::http_method::post, "/accounts", R"({"attestation":")" + token + "\"}");
  }

  static void expect_refused(const net::client_response& r, std::uint16_t status,
                             std::string_view reason) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(field(r.body, "reason"), reason) << r.body;
  }

  std::shared_ptr<std::atomic<std::int64_t>> clock_ =
    std::make_shared<std::atomic<std::int64_t>>(now);
  bool auto_consent_ = false;
  std::uint32_t meter_interval_ms_ = 0;
  std::int64_t meter_units_ = 1;
  std::vector<fault> faults_;
  bool faults_from_header_ = false;
  core::openssl_random random_;
  core::jws_signing_key key_ = new_key("key-one");
  jwks_endpoint jwks_;
  net::http_client provider_client_;
  /// Never retries: each call is one request, so the tests count exactly what happened.
  net::http_client test_client_{[] {
    net::client_options options;
    options.retries_max = 0;
    return options;
  }()};
  net::no_listener_stats stats_;
  std::unique_ptr<service> service_;
  std::unique_ptr<net::server> server_;
  std::string base_;
};

TEST_F(refprovider_service, catalog_has_a_strong_etag_and_revalidates_to_304) {
  auto first = call(net::http_method::get, "/catalog");
  ASSERT_EQ(first.status, 200);
  auto etag = std::string(first.header("ETag"));
  EXPECT_EQ(etag, strong_etag(first.body));
  EXPECT_NE(first.body.find(R"("url":")" + base_ + R"(/terms")"), std::string::npos) << first.body;
  auto same = call(net::http_method::get, "/catalog", {}, {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(same.header("ETag"), etag);
  auto other = call(net::http_method::get, "/catalog", {}, {{"If-None-Match", "\"stale\""}});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, first.body);
  auto terms = call(net::http_method::get, "/terms");
  EXPECT_EQ(terms.status, 200);
}

TEST_F(refprovider_service, domain_availability) {
  auto taken = call(net::http_method::get, "/domains/availability?name=example.com");
  EXPECT_EQ(taken.status, 200);
  EXPECT_NE(taken.body.find(R"("available":false)"), std::string::npos) << taken.body;
  std::string free_name;
  for (int i = 0; free_name.empty(); ++i)
    if (!is_domain_taken("free" + std::to_string(i) + ".dev"))
      free_name = "free" + std::to_string(i) + ".dev";
  auto available = call(net::http_method::get, "/domains/availability?name=" + free_name);
  EXPECT_EQ(available.status, 200);
  EXPECT_NE(available.body.find(R"("available":true)"), std::string::npos) << available.body;

  for (std::string_view bad : {"/domains/availability", "/domains/availability?name=",
                               "/domains/availability?name=Example.com",
                               "/domains/availability?name=a.example.com",
                               "/domains/availability?name=example.xyz",
                               "/domains/availability?name=%zz"}) {
    auto r = call(net::http_method::get, bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(field(r.body, "code"), "invalid_field") << bad;
  }
}

TEST_F(refprovider_service, an_attested_email_gets_one_account) {
  auto created = open_account(attestation("ada@example.com", key_));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(field(created.body, "outcome"), "created");
  auto id = field(created.body, "account_id");
  auto token = field(created.body, "account_token");
  EXPECT_EQ(id.substr(0, 5), "acct_");
  EXPECT_EQ(token.substr(0, 4), "rpt_");

  // A new attestation of the same email (any case) finds the same account.
  auto again = open_account(attestation("Ada@Example.com", key_));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(field(again.body, "account_id"), id);
  EXPECT_EQ(field(again.body, "account_token"), token);
  EXPECT_EQ(service_->accounts().size(), 1u);
  EXPECT_EQ(jwks_.hits(), 1) << "the keys are fetched once and kept";
}

TEST_F(refprovider_service, an_existing_account_needs_oauth) {
  auto r = open_account(attestation("linked@example.com", key_));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field(r.body, "outcome"), "oauth_required");
  EXPECT_EQ(field(r.body, "authorize_url"),
            base_ + "/oauth/authorize?response_type=code&client_id=steward&redirect_uri=" +
              percent_encode(jwks_.url() + "/oauth/callback") + "&login_hint=linked%40example.com");
  // The existing account is named, so that the caller can check the account a human links.
  EXPECT_EQ(field(r.body, "account_id").substr(0, 5), "acct_");
  EXPECT_EQ(service_->accounts().size(), 0u) << "named, not linked";
}

TEST_F(refprovider_service, a_replayed_attestation_is_refused) {
  auto token = attestation("ada@example.com", key_);
  ASSERT_EQ(open_account(token).status, 201);
  expect_refused(open_account(token), 401, "attestation_replayed");
}

TEST_F(refprovider_service, forged_expired_and_misaddressed_attestations_are_refused) {
  // Signed by a key that claims the published kid but is not the published key.
  auto impostor = new_key("key-one");
  expect_refused(open_account(attestation("ada@example.com", impostor)), 401,
                 "attestation_bad_signature");
  // A token with its payload changed after signing.
  auto token = attestation("ada@example.com", key_);
  auto dot = token.find('.');
  auto tampered = token;
  tampered[dot + 5] = tampered[dot + 5] == 'A' ? 'B' : 'A';
  auto r = open_account(tampered);
  EXPECT_EQ(r.status, 401) << r.body;
  expect_refused(open_account(attestation("ada@example.com", key_, now - 301)), 401,
                 "attestation_expired");
  expect_refused(open_account(attestation("ada@example.com", key_, now + 120)), 401,
                 "attestation_not_yet_valid");
  expect_refused(open_account(attestation("ada@example.com", key_, now, "other")), 401,
                 "attestation_wrong_audience");
  expect_refused(open_account(attestation("ada@example.com", key_, now, "ref",
                                          "http://127.0.0.1:1")),
                 401, "attestation_wrong_issuer");
  expect_refused(open_account("not.a.jws"), 401, "attestation_malformed");
  expect_refused(open_account(attestation("ada@example.com", key_, now, "ref", {}, false)), 403,
                 "email_not_verified");
  EXPECT_EQ(service_->accounts().size(), 0u) << "no refused attestation created an account";
  EXPECT_EQ(field(open_account(attestation("ada@example.com", key_)).body, "outcome"), "created");
}

TEST_F(refprovider_service, bad_bodies_are_400) {
  auto not_json = call(net::http_method::post, "/accounts", "{");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(field(not_json.body, "code"), "invalid_json");
  auto unknown = call(net::http_method::post, "/accounts", R"({"attestation":"a","x":1})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(field(unknown.body, "code"), "unknown_field");
  auto missing = call(net::http_method::post, "/accounts", R"({})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(field(missing.body, "code"), "invalid_field");
  EXPECT_EQ(jwks_.hits(), 0) << "nothing was verified";
}

TEST_F(refprovider_service, an_unknown_kid_refetches_the_keys_once) {
  ASSERT_EQ(open_account(attestation("ada@example.com", key_)).status, 201);
  ASSERT_EQ(jwks_.hits(), 1);
  // steward rotates: the new key signs, both are published.
  auto rotated = new_key("key-two");
  jwks_.publish({&rotated, &key_});
  auto r = open_account(attestation("bob@example.com", rotated));
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(jwks_.hits(), 2);
  // A kid steward never published: one refetch, then refused.
  auto stranger = new_key("key-three");
  expect_refused(open_account(attestation("eve@example.com", stranger)), 401,
                 "attestation_unknown_key");
  EXPECT_EQ(jwks_.hits(), 3);
  EXPECT_EQ(service_->verifier().fetches(), 3u);
}

TEST_F(refprovider_service, unavailable_keys_are_a_503_not_a_forgery) {
  jwks_.publish({&key_}, 404);
  auto r = open_account(attestation("ada@example.com", key_));
  expect_refused(r, 503, "jwks_unavailable");
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_EQ(field(r.body, "code"), "provider_unavailable");
  // Once steward serves its keys again, the same human gets in.
  jwks_.publish({&key_});
  EXPECT_EQ(open_account(attestation("ada@example.com", key_)).status, 201);
}

// --- POST /resources --------------------------------------------------------------------------

class refprovider_resources : public refprovider_service {
protected:
  void SetUp() override {
    refprovider_service::SetUp();
    auto created = open_account(attestation("ada@example.com", key_));
    ASSERT_EQ(created.status, 201);
    token_ = field(created.body, "account_token");
  }

  net::client_response provision(std::string body, std::string key,
                                 std::string bearer = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("Authorization", "Bearer " + (bearer.empty() ? token_ : bearer));
    if (!key.empty())
      headers.emplace_back("Idempotency-Key", key);
    return call(net::http_method::post, "/resources", std::move(body), std::move(headers));
  }

  /// `method` on `target` as the account of `bearer` (this fixture's account when empty).
  net::client_response as_account(net::http_method method, std::string target, std::string key,
                                  std::string bearer = {},
                                  std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> headers = std::move(extra);
    headers.emplace_back("Authorization", "Bearer " + (bearer.empty() ? token_ : bearer));
    if (!key.empty())
      headers.emplace_back("Idempotency-Key", key);
    return call(method, target, {}, std::move(headers));
  }
  net::client_response rotate(const std::string& id, std::string key, std::string bearer = {}) {
    return as_account(net::http_method::post, "/resources/" + id + "/rotate", std::move(key),
                      std::move(bearer));
  }
  net::client_response remove(const std::string& id, std::string key, std::string bearer = {}) {
    return as_account(net::http_method::delete_, "/resources/" + id, std::move(key),
                      std::move(bearer));
  }
  net::client_response get(const std::string& id, std::string bearer = {}) {
    return as_account(net::http_method::get, "/resources/" + id, {}, std::move(bearer));
  }
  /// Another account's token.
  std::string other_account() {
    auto created = open_account(attestation("bob@example.com", key_));
    EXPECT_EQ(created.status, 201);
    return field(created.body, "account_token");
  }

  /// Polls `done` until it holds or 10 s passed; whether it held. For state that a background
  /// thread (the meter) changes: the assertion is on the state, the deadline only ends a hang.
  static bool eventually(const std::function<bool()>& done) {
    auto const deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

  static std::string paid(std::string_view service, std::string config = "{}",
                          std::int64_t max_amount = 5000, std::int64_t expires_at = now + 3600) {
    return R"({"service":")" + std::string(service) + R"(","config":)" + config +
           R"(,"payment_token":{"id":"ptk_0000000000000000000007","max_amount":)" +
           std::to_string(max_amount) + R"(,"currency":"usd","expires_at":)" +
           std::to_string(expires_at) + "}}";
  }

  std::string token_;
};

TEST_F(refprovider_resources, a_paid_plan_is_charged_once_through_a_signed_call) {
  auto r = provision(paid("hosting:pro"), "k1");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(field(r.body, "status"), "ready");
  auto id = field(r.body, "id");
  EXPECT_EQ(id.substr(0, 4), "rsc_");
  EXPECT_EQ(field(r.body, "api_key").substr(0, 4), "rpk_");
  EXPECT_EQ(field(r.body, "charge"), "chg_0000000000000000000042");
  EXPECT_NE(r.body.find(R"("price":{"amount":2000,"currency":"usd","interval":"month"})"),
            std::string::npos) << r.body;

  auto charges = jwks_.charges();
  ASSERT_EQ(charges.size(), 1u);
  EXPECT_EQ(charges[0].provider, "ref");
  EXPECT_EQ(charges[0].key, id) << "the charge is keyed by the resource";
  EXPECT_EQ(charges[0].body,
            R"({"payment_token":"ptk_0000000000000000000007","amount":2000,"currency":"usd","description":"hosting:pro"})");
  EXPECT_EQ(core::verify(std::string(secret), charges[0].signature, now,
                         core::signed_request{"POST", "/v1/provider/charges", charges[0].key,
                                              charges[0].body}),
            core::signature_error::none);

  // The same key and body: the same answer, nothing charged again.
  auto replay = provision(paid("hosting:pro"), "k1");
  EXPECT_EQ(replay.status, 201);
  EXPECT_EQ(replay.body, r.body);
  EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(jwks_.charges().size(), 1u);
  // The same key with another body is a conflict.
  auto conflict = provision(paid("hosting:pro", R"({"region":"eu-west"})"), "k1");
  EXPECT_EQ(conflict.status, 422);
  EXPECT_EQ(field(conflict.body, "code"), "idempotency_conflict");
}

TEST_F(refprovider_resources, free_services_charge_nothing) {
  auto r = provision(R"({"service":"kv:free"})", "free-1");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.body.find(R"("price":{"amount":0,"currency":"usd"})"), std::string::npos) << r.body;
  EXPECT_TRUE(jwks_.charges().empty());
}

TEST_F(refprovider_resources, a_domain_is_sold_once) {
  std::string name;
  for (int i = 0; name.empty(); ++i)
    if (!is_domain_taken("mine" + std::to_string(i) + ".dev"))
      name = "mine" + std::to_string(i) + ".dev";
  auto config = R"({"name":")" + name + "\"}";
  auto before = call(net::http_method::get, "/domains/availability?name=" + name);
  EXPECT_NE(before.body.find(R"("available":true)"), std::string::npos) << before.body;
  auto bought = provision(paid("registrar:domain", config), "d1");
  ASSERT_EQ(bought.status, 201) << bought.body;
  EXPECT_EQ(field(bought.body, "domain"), name);
  auto after = call(net::http_method::get, "/domains/availability?name=" + name);
  EXPECT_NE(after.body.find(R"("available":false)"), std::string::npos) << after.body;
  auto again = provision(paid("registrar:domain", config), "d2");
  EXPECT_EQ(again.status, 422);
  EXPECT_EQ(field(again.body, "reason"), "domain_unavailable");
  auto taken = provision(paid("registrar:domain", R"({"name":"example.com"})"), "d3");
  EXPECT_EQ(field(taken.body, "reason"), "domain_unavailable");
  auto invalid = provision(paid("registrar:domain", R"({"name":"sub.example.com"})"), "d4");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(field(invalid.body, "code"), "config_invalid");
  EXPECT_EQ(jwks_.charges().size(), 1u);
}

TEST_F(refprovider_resources, a_declined_charge_is_the_keys_outcome_and_frees_the_domain) {
  jwks_.answer_charges(402, R"({"type":"urn:steward:problem:budget_exceeded","title":"Budget exceeded","status":402,"detail":"no","code":"budget_exceeded","scope":"session"})");
  std::string name;
  for (int i = 0; name.empty(); ++i)
    if (!is_domain_taken("nope" + std::to_string(i) + ".io"))
      name = "nope" + std::to_string(i) + ".io";
  auto config = R"({"name":")" + name + "\"}";
  auto r = provision(paid("registrar:domain", config), "x1");
  EXPECT_EQ(r.status, 402) << r.body;
  EXPECT_EQ(field(r.body, "scope"), "session");
  auto replay = provision(paid("registrar:domain", config), "x1");
  EXPECT_EQ(replay.status, 402);
  EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(jwks_.charges().size(), 1u);
  jwks_.answer_charges(201, R"({"id":"chg_0000000000000000000043"})");
  EXPECT_EQ(provision(paid("registrar:domain", config), "x2").status, 201)
    << "the declined purchase did not keep the domain";
}

TEST_F(refprovider_resources, steward_failing_is_a_502_and_the_retry_reuses_the_charge_key) {
  jwks_.answer_charges(500, "{}");
  auto r = provision(paid("hosting:pro"), "f1");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(field(r.body, "code"), "provider_error");
  auto first = jwks_.charges();
  ASSERT_FALSE(first.empty());
  jwks_.answer_charges(201, R"({"id":"chg_0000000000000000000044"})");
  auto retry = provision(paid("hosting:pro"), "f1");
  ASSERT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(field(retry.body, "id"), first.front().key);
  EXPECT_EQ(jwks_.charges().back().key, first.front().key);
}

TEST_F(refprovider_resources, requests_that_cannot_be_served_change_nothing) {
  struct bad {
    std::string body, key, bearer;
    std::uint16_t status;
    std::string code;
  };
  for (auto& [body, key, bearer, status, code] : std::vector<bad>{
         {paid("hosting:pro"), "b1", "rpt_unknown", 401, "unauthorized"},
         {paid("hosting:pro"), "", "", 400, "idempotency_key_required"},
         {R"({"service":"nope:x"})", "b2", "", 400, "invalid_field"},
         {R"({"service":"kv:free","surprise":1})", "b3", "", 400, "unknown_field"},
         {R"({"service":"kv:free","config":{"region":"mars"}})", "b4", "", 422, "config_invalid"},
         {R"({"service":"hosting:pro"})", "b5", "", 400, "invalid_field"},
         {paid("hosting:pro", "{}", 1999), "b6", "", 402, "budget_exceeded"},
         {paid("hosting:pro", "{}", 5000, now), "b7", "", 402, "token_expired"},
       }) {
    auto r = provision(body, key, bearer);
    EXPECT_EQ(r.status, status) << body;
    EXPECT_EQ(field(r.body, "code"), code) << body << " -> " << r.body;
  }
  std::vector<std::pair<std::string, std::string>> no_auth = {{"Idempotency-Key", "b8"}};
  auto anonymous = call(net::http_method::post, "/resources", R"({"service":"kv:free"})", no_auth);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(field(anonymous.body, "reason"), "account_token_missing");
  EXPECT_TRUE(jwks_.charges().empty());
  EXPECT_EQ(service_->resources().records(), 0u);
}

// --- Rotation and deletion ---------------------------------------------------------------------

TEST_F(refprovider_resources, rotation_replaces_the_credential_once_per_key) {
  auto made = provision(R"({"service":"kv:free"})", "r-make");
  ASSERT_EQ(made.status, 201) << made.body;
  auto const id = field(made.body, "id");
  auto const original = field(made.body, "api_key");

  auto rotated = rotate(id, "rot-1");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_EQ(field(rotated.body, "id"), id);
  auto const fresh = field(rotated.body, "api_key");
  EXPECT_EQ(fresh.substr(0, 4), "rpk_");
  EXPECT_NE(fresh, original);
  EXPECT_EQ(service_->resources().find(service_->accounts().find_by_token(token_)->id, id)->api_key,
            fresh)
    << "the old credential is no longer the resource's";

  auto replay = rotate(id, "rot-1");
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.body, rotated.body) << "a retry gets the same new credential";
  EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");

  auto again = rotate(id, "rot-2");
  ASSERT_EQ(again.status, 200);
  EXPECT_NE(field(again.body, "api_key"), fresh);

  EXPECT_EQ(field(rotate(id, "").body, "code"), "idempotency_key_required");
  auto foreign = rotate(id, "rot-3", other_account());
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(field(foreign.body, "code"), "not_found");
  EXPECT_EQ(rotate("rsc_nothing", "rot-4").status, 404);
  EXPECT_EQ(rotate(id, "rot-5", "rpt_unknown").status, 401);
  // The credential is shown at creation and rotation, never by GET.
  auto shown = get(id);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find("api_key"), std::string::npos) << shown.body;
}

TEST_F(refprovider_resources, deletion_is_idempotent_and_ends_rotation) {
  auto made = provision(paid("hosting:pro"), "d-make");
  ASSERT_EQ(made.status, 201) << made.body;
  auto const id = field(made.body, "id");

  auto foreign = remove(id, "del-0", other_account());
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(field(get(id).body, "status"), "ready") << "another account cannot remove it";

  auto removed = remove(id, "del-1");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(field(removed.body, "id"), id);
  EXPECT_EQ(field(removed.body, "status"), "removed");
  auto replay = remove(id, "del-1");
  EXPECT_EQ(replay.body, removed.body);
  EXPECT_EQ(replay.header("Idempotent-Replayed"), "true");
  auto again = remove(id, "del-2");
  EXPECT_EQ(again.status, 200) << "removing a removed resource answers the same";
  EXPECT_EQ(field(again.body, "status"), "removed");
  EXPECT_EQ(field(remove(id, "").body, "code"), "idempotency_key_required");
  EXPECT_EQ(remove("rsc_nothing", "del-3").status, 404);

  auto rotated = rotate(id, "rot-after");
  EXPECT_EQ(rotated.status, 404);
  EXPECT_EQ(field(rotated.body, "reason"), "resource_removed");
  EXPECT_EQ(field(get(id).body, "status"), "removed");
  EXPECT_EQ(jwks_.charges().size(), 1u) << "removal neither charges nor refunds";
}

TEST_F(refprovider_resources, a_resource_is_read_by_its_owner_only) {
  auto made = provision(R"({"service":"kv:free","name":"cache"})", "g-make");
  ASSERT_EQ(made.status, 201);
  auto const id = field(made.body, "id");
  auto shown = get(id);
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(field(shown.body, "name"), "cache");
  EXPECT_EQ(field(shown.body, "status"), "ready");
  EXPECT_EQ(get(id, other_account()).status, 404);
  auto anonymous = call(net::http_method::get, "/resources/" + id);
  EXPECT_EQ(anonymous.status, 401);
}

// --- The meter ----------------------------------------------------------------------------------

class refprovider_meter : public refprovider_resources {
protected:
  refprovider_meter() { meter_interval_ms_ = 5; meter_units_ = 2; }

  static std::string declined(std::string_view code, std::uint16_t status) {
    return R"({"type":"urn:steward:problem:)" + std::string(code) + R"(","title":"T","status":)" +
           std::to_string(status) + R"(,"detail":"d","code":")" + std::string(code) + "\"}";
  }

  std::string metered() {
    auto made = provision(paid("compute:metered", "{}", 1000), "m-make");
    EXPECT_EQ(made.status, 201) << made.body;
    EXPECT_EQ(field(made.body, "status"), "ready");
    return field(made.body, "id");
  }

  /// Waits until no meter can charge any more.
  void wait_for_meters_to_end() {
    EXPECT_TRUE(eventually([&] { return service_->meters_running() == 0; }));
  }
};

TEST_F(refprovider_meter, charges_each_tick_under_its_own_key_until_steward_declines) {
  jwks_.script_charges({{201, R"({"id":"chg_0000000000000000000051"})"},
                        {201, R"({"id":"chg_0000000000000000000052"})"},
                        {201, R"({"id":"chg_0000000000000000000053"})"}});
  jwks_.answer_charges(402, declined("budget_exceeded", 402));
  auto const id = metered();
  wait_for_meters_to_end();

  auto charges = jwks_.charges();
  ASSERT_EQ(charges.size(), 4u) << "three taken, the fourth declined, then nothing";
  for (std::size_t i = 0; i < charges.size(); ++i) {
    EXPECT_EQ(charges[i].key, id + ".tick." + std::to_string(i + 1));
    EXPECT_EQ(charges[i].provider, "ref");
    EXPECT_EQ(charges[i].body,
              R"({"payment_token":"ptk_0000000000000000000007","amount":10,"currency":"usd","description":"compute:metered )" +
                id + R"(","usage":{"quantity":2,"unit":"vcpu_hour"}})");
    EXPECT_EQ(core::verify(std::string(secret), charges[i].signature, now,
                           core::signed_request{"POST", "/v1/provider/charges", charges[i].key,
                                                charges[i].body}),
              core::signature_error::none);
  }
  auto shown = get(id);
  EXPECT_EQ(field(shown.body, "status"), "suspended") << shown.body;
  EXPECT_EQ(field(shown.body, "reason"), "budget_exceeded");
  EXPECT_NE(shown.body.find(R"("ticks":3,"charged_total":30)"), std::string::npos) << shown.body;
}

TEST_F(refprovider_meter, each_refusal_stops_it_with_its_code) {
  for (auto [code, status] : std::vector<std::pair<std::string, std::uint16_t>>{
         {"killed", 403}, {"token_revoked", 403}, {"token_expired", 402}, {"not_found", 404}}) {
    jwks_.answer_charges(status, declined(code, status));
    auto made = provision(paid("compute:metered", "{}", 1000), "m-" + code);
    ASSERT_EQ(made.status, 201);
    wait_for_meters_to_end();
    auto shown = get(field(made.body, "id"));
    EXPECT_EQ(field(shown.body, "status"), "suspended") << code;
    EXPECT_EQ(field(shown.body, "reason"), code);
    EXPECT_NE(shown.body.find(R"("ticks":0,"charged_total":0)"), std::string::npos) << shown.body;
  }
}

TEST_F(refprovider_meter, a_failed_tick_is_sent_again_with_the_same_key) {
  jwks_.script_charges({{500, "{}"}, {201, R"({"id":"chg_0000000000000000000061"})"}});
  jwks_.answer_charges(402, declined("budget_exceeded", 402));
  auto const id = metered();
  wait_for_meters_to_end();
  auto charges = jwks_.charges();
  ASSERT_EQ(charges.size(), 3u);
  EXPECT_EQ(charges[0].key, id + ".tick.1");
  EXPECT_EQ(charges[1].key, id + ".tick.1") << "the retry of an open tick";
  EXPECT_EQ(charges[1].body, charges[0].body);
  EXPECT_EQ(charges[2].key, id + ".tick.2");
  EXPECT_NE(get(id).body.find(R"("ticks":1,"charged_total":10)"), std::string::npos);
}

TEST_F(refprovider_meter, deletion_stops_it) {
  auto const id = metered();
  jwks_.wait_for_charges(2);
  auto removed = remove(id, "m-del");
  ASSERT_EQ(removed.status, 200);
  wait_for_meters_to_end();
  // No meter runs: nothing can be charged any more, and what was charged is counted.
  auto const charged = jwks_.charges().size();
  auto shown = get(id);
  EXPECT_EQ(field(shown.body, "status"), "removed");
  EXPECT_NE(shown.body.find(R"("ticks":)" + std::to_string(charged) + R"(,"charged_total":)" +
                            std::to_string(charged * 10)),
            std::string::npos)
    << shown.body;
}

TEST_F(refprovider_meter, a_metered_service_needs_a_payment_token) {
  auto r = provision(R"({"service":"compute:metered"})", "m-none");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(field(r.body, "field"), "/payment_token");
  EXPECT_EQ(service_->meters_running(), 0);
}

// --- Faults -------------------------------------------------------------------------------------

class refprovider_faults : public refprovider_resources {
protected:
  refprovider_faults() {
    fault every_second;
    EXPECT_FALSE(parse_fault("status:503@2", true, every_second));
    faults_ = {every_second};
    faults_from_header_ = true;
  }

  /// A client result's status, or 0 for a client error.
  static std::uint16_t status_of(const net::client_result& r) {
    auto* response = std::get_if<net::client_response>(&r);
    return response ? response->status : 0;
  }
};

TEST_F(refprovider_faults, a_status_fault_answers_before_any_work) {
  // SetUp's POST /accounts was the first provisioning call; this is the second.
  auto failed = provision(R"({"service":"kv:free"})", "f-1");
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(field(failed.body, "code"), "provider_unavailable");
  EXPECT_EQ(field(failed.body, "reason"), "injected_fault");
  EXPECT_EQ(failed.header("Retry-After"), "1");
  EXPECT_EQ(service_->resources().records(), 0u) << "nothing was started";
  auto retried = provision(R"({"service":"kv:free"})", "f-1");
  EXPECT_EQ(retried.status, 201) << "the third passes";
  EXPECT_TRUE(retried.header("Idempotent-Replayed").empty()) << "the failure was not stored";
  EXPECT_EQ(provision(R"({"service":"kv:free"})", "f-2").status, 503);
  // Reads do not count and are not failed.
  EXPECT_EQ(call(net::http_method::get, "/catalog").status, 200);
  EXPECT_EQ(provision(R"({"service":"kv:free"})", "f-2").status, 201);
}

TEST_F(refprovider_faults, the_header_injects_one_fault_into_its_request) {
  auto bad_gateway = call(net::http_method::get, "/catalog", {}, {{"Refprovider-Fault", "status:502"}});
  EXPECT_EQ(bad_gateway.status, 200) << "status faults hit provisioning calls only";
  auto made = provision(R"({"service":"kv:free"})", "h-0"); // the configured 503 takes this one
  ASSERT_EQ(made.status, 503);
  auto failed = as_account(net::http_method::post, "/resources/rsc_x/rotate", "h-1", {},
                           {{"Refprovider-Fault", "status:502"}});
  EXPECT_EQ(failed.status, 502);
  EXPECT_EQ(field(failed.body, "code"), "provider_error");
  for (std::string_view bad : {"drop:1", "status:404", "latency:1@2", "latency:99999"}) {
    auto refused = call(net::http_method::get, "/catalog", {}, {{"Refprovider-Fault", std::string(bad)}});
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_EQ(field(refused.body, "field"), "Refprovider-Fault") << bad;
  }
}

TEST_F(refprovider_faults, latency_delays_the_answer_without_blocking_the_server) {
  auto slow = send(net::http_method::get, "/catalog", {}, {{"Refprovider-Fault", "latency:5000"}},
                   /*timeout_ms=*/200);
  ASSERT_TRUE(std::holds_alternative<net::client_error>(slow));
  EXPECT_EQ(std::get<net::client_error>(slow), net::client_error::timeout);
  // While that answer waits on the timer thread, the io thread serves others.
  EXPECT_EQ(status_of(send(net::http_method::get, "/catalog", {}, {}, 2000)), 200);
  EXPECT_EQ(service_->timers().pending(), 1u) << "the delayed answer is still waiting";
}

TEST_F(refprovider_faults, after_charge_timeout_charges_once_and_the_retry_gets_the_resource) {
  std::vector<std::pair<std::string, std::string>> headers = {
    {"Authorization", "Bearer " + token_}, {"Idempotency-Key", "late-1"},
    {"Refprovider-Fault", "after-charge-timeout:5000"}};
  // The configured status fault takes the next provisioning call; let it.
  ASSERT_EQ(provision(R"({"service":"kv:free"})", "burn").status, 503);
  auto first = send(net::http_method::post, "/resources", paid("hosting:pro"), headers, 300);
  ASSERT_TRUE(std::holds_alternative<net::client_error>(first)) << "the caller gave up";
  ASSERT_EQ(jwks_.wait_for_charges(1).size(), 1u) << "but the provider charged";

  // The retry (without the fault; and past the configured 503, every second call) replays the
  // stored resource once the original attempt stored it.
  net::client_response retried;
  ASSERT_TRUE(eventually([&] {
    retried = provision(paid("hosting:pro"), "late-1");
    return retried.status != 503 && retried.status != 409;
  }));
  EXPECT_EQ(retried.status, 201) << retried.body;
  EXPECT_EQ(retried.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(field(retried.body, "charge"), "chg_0000000000000000000042");
  EXPECT_EQ(jwks_.charges().size(), 1u) << "charged exactly once";
}

TEST_F(refprovider_faults, drop_charges_once_closes_without_an_answer_and_the_retry_gets_it) {
  std::vector<std::pair<std::string, std::string>> headers = {
    {"Authorization", "Bearer " + token_}, {"Idempotency-Key", "drop-1"},
    {"Refprovider-Fault", "drop"}};
  ASSERT_EQ(provision(R"({"service":"kv:free"})", "burn").status, 503); // the configured fault
  auto first = send(net::http_method::post, "/resources", paid("hosting:pro"), headers, 5000);
  ASSERT_TRUE(std::holds_alternative<net::client_error>(first)) << "no answer came back";
  EXPECT_EQ(std::get<net::client_error>(first), net::client_error::connection_lost)
    << "the connection closed, well before the 5 s deadline";
  ASSERT_EQ(jwks_.charges().size(), 1u) << "the work was done: charged before the drop";
  EXPECT_EQ(service_->resources().records(), 1u);

  net::client_response retried;
  ASSERT_TRUE(eventually([&] {
    retried = provision(paid("hosting:pro"), "drop-1");
    return retried.status != 503 && retried.status != 409;
  }));
  EXPECT_EQ(retried.status, 201) << retried.body;
  EXPECT_EQ(retried.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(jwks_.charges().size(), 1u) << "charged exactly once";
}

TEST_F(refprovider_resources, the_fault_header_is_ignored_unless_enabled) {
  auto r = as_account(net::http_method::get, "/resources/rsc_x", {}, {},
                      {{"Refprovider-Fault", "status:502"}});
  EXPECT_EQ(r.status, 404);
  auto made = call(net::http_method::post, "/resources", R"({"service":"kv:free"})",
                   {{"Authorization", "Bearer " + token_}, {"Idempotency-Key", "ignored"},
                    {"Refprovider-Fault", "status:502"}});
  EXPECT_EQ(made.status, 201);
}

// --- OAuth for existing accounts -------------------------------------------------------------

// RFC 7636 appendix B.
constexpr std::string_view verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The decoded value of `name` in the query of a URL.
std::string query_of(std::string_view url, std::string_view name) {
  auto mark = url.find('?');
  if (mark == std::string_view::npos)
    return {};
  return query_parameter(url.substr(mark + 1), name).value_or("");
}

class refprovider_oauth : public refprovider_service {
protected:
  void SetUp() override {
    refprovider_service::SetUp();
    redirect_ = jwks_.url() + "/oauth/callback";
    auto r = open_account(attestation("linked@example.com", key_));
    ASSERT_EQ(field(r.body, "outcome"), "oauth_required") << r.body;
    authorize_url_ = field(r.body, "authorize_url");
  }

  /// The authorize URL steward was given, with the client's own state and PKCE challenge.
  std::string authorize_target(std::string_view state = "st-1") const {
    return authorize_url_.substr(base_.size()) + "&state=" + percent_encode(state) +
           "&code_challenge=" + std::string(challenge) + "&code_challenge_method=S256";
  }

  net::client_response form(std::string_view path, std::string body,
                            std::string content_type = "application/x-www-form-urlencoded") {
    return call(net::http_method::post, path, std::move(body), {{"Content-Type", content_type}});
  }

  std::string token_body(std::string_view code, std::string_view code_verifier = verifier) const {
    return "grant_type=authorization_code&code=" + percent_encode(code) +
           "&code_verifier=" + std::string(code_verifier) + "&redirect_uri=" +
           percent_encode(redirect_) + "&client_id=steward";
  }

  static void expect_oauth_error(const net::client_response& r, std::string_view error) {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(field(r.body, "error"), error) << r.body;
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
  }

  std::string redirect_;
  std::string authorize_url_;
};

class refprovider_oauth_auto : public refprovider_oauth {
protected:
  refprovider_oauth_auto() { auto_consent_ = true; }

  /// A fresh code through the auto-consented authorize URL.
  std::string code() {
    auto r = call(net::http_method::get, authorize_target());
    EXPECT_EQ(r.status, 302) << r.body;
    return query_of(r.header("Location"), "code");
  }
};

TEST_F(refprovider_oauth_auto, the_code_buys_the_existing_accounts_token) {
  auto r = call(net::http_method::get, authorize_target("a b&c"));
  ASSERT_EQ(r.status, 302) << r.body;
  std::string location(r.header("Location"));
  EXPECT_EQ(location.substr(0, redirect_.size() + 10), redirect_ + "?code=rpa_") << location;
  EXPECT_EQ(query_of(location, "state"), "a b&c") << location;
  auto code = query_of(location, "code");
  EXPECT_EQ(service_->codes().size(), 1u);

  auto exchanged = form("/oauth/token", token_body(code));
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  EXPECT_EQ(exchanged.header("Cache-Control"), "no-store");
  EXPECT_EQ(field(exchanged.body, "token_type"), "Bearer");
  EXPECT_NE(exchanged.body.find(R"("expires_in":)"), std::string::npos) << exchanged.body;
  auto access = field(exchanged.body, "access_token");
  auto account = service_->accounts().find_by_token(access);
  ASSERT_TRUE(account);
  EXPECT_EQ(account->email, "linked@example.com");
  EXPECT_EQ(field(exchanged.body, "account_id"), account->id);

  auto bought = call(net::http_method::post, "/resources", R"({"service":"kv:free"})",
                     {{"Authorization", "Bearer " + access}, {"Idempotency-Key", "o1"}});
  EXPECT_EQ(bought.status, 201) << bought.body;

  // The code was single-use; a second link of the same account gives the same token.
  expect_oauth_error(form("/oauth/token", token_body(code)), "invalid_grant");
  auto again = form("/oauth/token", token_body(this->code()));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(field(again.body, "access_token"), access);
}

TEST_F(refprovider_oauth_auto, every_token_error_is_an_rfc_6749_error) {
  auto good = [&] { return token_body(code()); };
  expect_oauth_error(form("/oauth/token", good(), "application/json"), "invalid_request");
  expect_oauth_error(form("/oauth/token", "grant_type=password&code=x"), "invalid_request");
  auto replace = [](std::string body, std::string_view from, std::string_view to) {
    auto at = body.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return body.replace(at, from.size(), to);
  };
  expect_oauth_error(
    form("/oauth/token", replace(good(), "grant_type=authorization_code", "grant_type=password")),
    "unsupported_grant_type");
  expect_oauth_error(form("/oauth/token", replace(good(), "client_id=steward", "client_id=other")),
                     "invalid_client");
  expect_oauth_error(form("/oauth/token", replace(good(), "&client_id=steward", "")),
                     "invalid_request");
  expect_oauth_error(form("/oauth/token", good() + "&code=again"), "invalid_request");
  expect_oauth_error(form("/oauth/token", token_body(code(), "short")), "invalid_request");
  expect_oauth_error(form("/oauth/token", token_body(code(), std::string(43, 'a'))),
                     "invalid_grant");
  expect_oauth_error(form("/oauth/token", token_body("rpa_unknown")), "invalid_grant");
  expect_oauth_error(form("/oauth/token",
                          replace(good(), percent_encode(redirect_),
                                  percent_encode(redirect_ + "2"))),
                     "invalid_grant");
  // Expiry, on the injected clock.
  auto old = code();
  clock_->store(now + limits::oauth_code_lifetime_s);
  expect_oauth_error(form("/oauth/token", token_body(old)), "invalid_grant");
  EXPECT_EQ(service_->accounts().size(), 0u) << "no refused exchange linked the account";
}

TEST_F(refprovider_oauth_auto, a_bad_authorization_request_is_refused_not_redirected) {
  struct bad {
    std::string target;
    std::string_view error;
  };
  auto target = authorize_target();
  auto replace = [&](std::string_view from, std::string_view to) {
    auto copy = target;
    auto at = copy.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return copy.replace(at, from.size(), to);
  };
  for (auto& [bad_target, error] : std::vector<bad>{
         {replace("code_challenge_method=S256", "code_challenge_method=plain"), "invalid_request"},
         {replace("&code_challenge_method=S256", ""), "invalid_request"},
         {replace("client_id=steward", "client_id=intruder"), "unauthorized_client"},
         {replace("response_type=code", "response_type=token"), "unsupported_response_type"},
         {replace("linked%40example.com", "ada%40example.com"), "invalid_request"},
         {replace("&state=st-1", ""), "invalid_request"},
         {replace(percent_encode(redirect_), "https%3A%2F%2Fevil.example%2Fcb"), "invalid_request"},
         {"/oauth/authorize", "invalid_request"},
       }) {
    auto r = call(net::http_method::get, bad_target);
    expect_oauth_error(r, error);
    EXPECT_TRUE(r.header("Location").empty()) << bad_target;
  }
  EXPECT_EQ(service_->codes().size(), 0u);
}

TEST_F(refprovider_oauth, the_consent_page_escapes_and_its_form_decides) {
  auto page = call(net::http_method::get, authorize_target("<b>\"x\"</b>"));
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.body.find("<b>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("value=\"&lt;b&gt;&quot;x&quot;&lt;/b&gt;\""), std::string::npos)
    << page.body;
  EXPECT_NE(page.body.find("linked@example.com"), std::string::npos);
  EXPECT_EQ(service_->codes().size(), 0u) << "showing the page issues nothing";

  // The form posts the same parameters back with the decision.
  auto const params = authorize_target("<b>").substr(std::string_view("/oauth/authorize?").size());
  auto denied = form("/oauth/authorize", params + "&decision=deny");
  ASSERT_EQ(denied.status, 302) << denied.body;
  EXPECT_EQ(denied.header("Location"), redirect_ + "?error=access_denied&state=%3Cb%3E");
  EXPECT_EQ(service_->codes().size(), 0u);

  expect_oauth_error(form("/oauth/authorize", params), "invalid_request");
  expect_oauth_error(form("/oauth/authorize", params + "&decision=maybe"), "invalid_request");
  expect_oauth_error(form("/oauth/authorize", params + "&decision=allow", "text/plain"),
                     "invalid_request");

  auto allowed = form("/oauth/authorize", params + "&decision=allow");
  ASSERT_EQ(allowed.status, 302) << allowed.body;
  std::string location(allowed.header("Location"));
  EXPECT_EQ(query_of(location, "state"), "<b>");
  auto exchanged = form("/oauth/token", token_body(query_of(location, "code")));
  EXPECT_EQ(exchanged.status, 200) << exchanged.body;
}

} // namespace
} // namespace steward::refprovider
