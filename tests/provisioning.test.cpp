// System tests of provisioning (DESIGN 4.1, 4.2): the real stewardd fetches the real
// steward-refprovider's catalog over loopback through its provider actor and serves the catalog,
// the preflight of `POST /v1/resources`, its human gates and the approvals API.
//
// Each needs the other's address: the test reserves a loopback port for the refprovider, starts
// stewardd naming it (its provider actor retries until the refprovider answers), then starts the
// refprovider on that port with stewardd's address. They share an HMAC secret that the test
// writes into stewardd's data dir before stewardd starts.
//
// Environment: `STEWARDD` and `STEWARD_REFPROVIDER`, the two binaries (tests skip when unset).

#include "tests/support/api_client.hpp"
#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace steward::test_support {
namespace {

using namespace std::chrono_literals;

/// How many times `word` occurs in `text`.
std::size_t occurrences(const std::string& text, std::string_view word) {
  std::size_t count = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
    ++count;
  return count;
}

class provisioning_system : public stewardd_test {
protected:
  void SetUp() override {
    stewardd_test::SetUp();
    if (IsSkipped())
      return;
    const char* path = std::getenv("STEWARD_REFPROVIDER");
    if (path == nullptr || *path == '\0')
      GTEST_SKIP() << "STEWARD_REFPROVIDER is not set";
    refprovider_ = path;
  }

  void TearDown() override {
    provider_.reset();
    stewardd_test::TearDown();
  }

  /// A loopback port that was free a moment ago (the kernel does not hand it out again at once).
  static std::uint16_t reserve_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (fd >= 0)
        ::close(fd);
      return 0;
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }

  /// Starts stewardd with provider `ref` on a reserved port, then the refprovider there with
  /// `provider_args` added.
  bool start(const std::vector<std::string>& provider_args = {},
             const std::vector<std::string>& steward_args = {}) {
    run_dir_ = new_run_dir();
    auto data = run_dir_ / "data";
    std::filesystem::create_directories(data / "providers");
    ::chmod(data.c_str(), 0700);
    auto secret = data / "providers" / "ref.secret";
    std::ofstream(secret) << "whsec_catalogtestsecretcatalogtestsecret0123\n";
    ::chmod(secret.c_str(), 0600);

    auto port = reserve_port();
    if (port == 0) {
      ADD_FAILURE() << "no free loopback port";
      return false;
    }
    provider_address_ = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args{"--provider=ref=http://" + provider_address_};
    args.insert(args.end(), steward_args.begin(), steward_args.end());
    steward_ = start_stewardd_in(run_dir_, args);
    if (steward_ == nullptr)
      return false;
    platform_key_ = read_secret(data / "platform.key");
    args = {refprovider_,
            "--listen=" + provider_address_,
            "--steward-url=http://127.0.0.1:" + std::to_string(steward_->public_port()),
            "--secret-file=" + secret.string(),
            "--slug=ref",
            "--terms-version=2026-11"};
    args.insert(args.end(), provider_args.begin(), provider_args.end());
    std::string error;
    provider_ = child_process::spawn(args, new_run_dir(), error);
    if (!provider_) {
      ADD_FAILURE() << error;
      return false;
    }
    auto line = provider_->read_first_line(deadline_in(10s));
    if (!line || line->rfind("listening " + provider_address_, 0) != 0) {
      ADD_FAILURE() << "no listening line; stderr: " << provider_->stderr_text();
      return false;
    }
    return !platform_key_.empty();
  }

  std::optional<http_response> get(std::string_view target, std::string_view headers = {}) {
    api_client c(steward_->public_port());
    return c.send("GET", target,
                  "Authorization: Bearer " + platform_key_ + "\r\n" + std::string(headers));
  }

  /// Waits until the provider actor has published the refprovider's catalog.
  bool catalog_arrived() {
    for (int i = 0; i < 500; ++i) {
      auto r = get("/v1/catalog?provider=ref");
      if (r && r->status == 200 && r->body.find("ref/registrar:domain") != std::string::npos)
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::optional<http_response> platform(std::string_view method, std::string_view target,
                                        std::string_view body = {}) {
    api_client c(steward_->public_port());
    return c.bearer(platform_key_, method, target, body);
  }

  /// A user with a session intending `superseal.club`; sets `user_` and `token_`.
  void open_session(std::int64_t run_budget = 5000) {
    auto user = platform("PUT", "/v1/users/ada", R"({"email":"ada@example.com","email_verified":true})");
    ASSERT_TRUE(user);
    ASSERT_EQ(user->status, 201) << user->body;
    user_ = json_string(user->body, "id");
    auto session = platform("POST", "/v1/users/" + user_ + "/sessions",
                            R"({"run_budget":{"amount":)" + std::to_string(run_budget) +
                              R"(,"currency":"usd"},"intents":{"domains":["superseal.club"]}})");
    ASSERT_TRUE(session);
    ASSERT_EQ(session->status, 201) << session->body;
    token_ = json_string(session->body, "token");
  }

  std::optional<http_response> agent(std::string_view method, std::string_view target,
                                     std::string_view body = {}, std::string_view key = {}) {
    api_client c(steward_->public_port());
    return c.bearer(token_, method, target, body, key);
  }

  static std::string buy_domain(std::string_view name, bool dry_run = false) {
    return std::string(R"({"service":"ref/registrar:domain","config":{"name":")") +
           std::string(name) + "\"}" + (dry_run ? R"(,"dry_run":true})" : "}");
  }

  /// The user's journaled event types, oldest first, joined by spaces.
  std::string audit_types() {
    auto r = platform("GET", "/v1/users/" + user_ + "/audit?limit=100");
    EXPECT_TRUE(r && r->status == 200);
    std::string types;
    std::size_t at = 0;
    while (r && (at = r->body.find(R"("object":"event","seq":)", at)) != std::string::npos) {
      types += json_string(std::string_view(r->body).substr(at), "type") + " ";
      ++at;
    }
    return types;
  }

  /// Terms accepted and a payment method on file: the gates a purchase needs before its own.
  void ready_to_buy() {
    auto terms = platform("POST", "/v1/users/" + user_ + "/terms/ref",
                          R"({"version":"2026-11","accepted_by":"ada"})");
    ASSERT_TRUE(terms);
    ASSERT_EQ(terms->status, 200) << terms->body;
    auto method = platform("PUT", "/v1/users/" + user_ + "/payment_method",
                           R"({"psp":"stripe","reference":"pm_card_ok"})");
    ASSERT_TRUE(method);
    ASSERT_EQ(method->status, 200) << method->body;
  }

  /// The pending approval a 202 names, approved by the human.
  void approve(const http_response& gate) {
    ASSERT_EQ(gate.status, 202) << gate.body;
    auto id = json_string(gate.body, "id");
    auto approved = platform("POST", "/v1/approvals/" + id + "/approve", R"({"decided_by":"ada"})");
    ASSERT_TRUE(approved);
    ASSERT_EQ(approved->status, 200) << approved->body;
  }

  /// `start`, the provider's catalog, a session and the gates a purchase needs: where the
  /// purchase tests begin. Use under ASSERT_NO_FATAL_FAILURE.
  void start_ready(const std::vector<std::string>& provider_args = {},
                   const std::vector<std::string>& steward_args = {}) {
    ASSERT_TRUE(start(provider_args, steward_args));
    ASSERT_TRUE(catalog_arrived()) << provider_->stderr_text();
    open_session();
    ready_to_buy();
  }

  /// One purchase requested and one charge of `amount` in the whole audit; the session spent it
  /// and holds nothing.
  void expect_bought_once(std::int64_t amount) {
    auto types = audit_types();
    EXPECT_EQ(occurrences(types, "charge.created"), 1u) << types;
    EXPECT_EQ(occurrences(types, "resource.requested"), 1u) << types;
    auto session = agent("GET", "/v1/session");
    ASSERT_TRUE(session);
    EXPECT_NE(session->body.find(R"("spent":{"amount":)" + std::to_string(amount) +
                                 R"(,"currency":"usd"})"),
              std::string::npos)
      << session->body;
    EXPECT_NE(session->body.find(R"("held":{"amount":0,"currency":"usd"})"), std::string::npos)
      << session->body;
  }

  /// Two purchases of `body`, the second sent while the first is on its way (the provider must be
  /// slow enough: 300 ms after the first left): their answers, first then second.
  std::pair<std::optional<http_response>, std::optional<http_response>>
  overlapping(std::string_view body, std::string_view first_key, std::string_view second_key) {
    std::optional<http_response> first;
    std::thread buyer([&] { first = agent("POST", "/v1/resources", body, first_key); });
    std::this_thread::sleep_for(300ms);
    auto second = agent("POST", "/v1/resources", body, second_key);
    buyer.join();
    return {std::move(first), std::move(second)};
  }

  std::string refprovider_;
  std::string provider_address_;
  std::string user_;
  std::string token_;
  std::filesystem::path run_dir_;
  std::unique_ptr<child_process> provider_;
  stewardd_process* steward_ = nullptr;
  std::string platform_key_;
};

TEST_F(provisioning_system, lists_searches_and_details_the_providers_services) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived()) << provider_->stderr_text();

  auto all = get("/v1/catalog");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  for (std::string_view id :
       {"ref/compute:metered", "ref/hosting:pro", "ref/kv:free", "ref/registrar:domain"})
    EXPECT_NE(all->body.find(std::string(R"("id":")") + std::string(id) + "\""),
              std::string::npos)
      << id << " in " << all->body;
  EXPECT_NE(all->body.find(R"("version":"2026-11")"), std::string::npos);
  EXPECT_NE(all->body.find(R"("has_more":false)"), std::string::npos);

  auto domains = get("/v1/catalog?category=domains");
  ASSERT_TRUE(domains);
  ASSERT_EQ(domains->status, 200);
  EXPECT_NE(domains->body.find("ref/registrar:domain"), std::string::npos);
  EXPECT_EQ(domains->body.find("ref/hosting:pro"), std::string::npos);

  auto search = get("/v1/catalog?q=HOSTING");
  ASSERT_TRUE(search);
  EXPECT_NE(search->body.find("ref/hosting:pro"), std::string::npos);
  EXPECT_EQ(search->body.find("ref/kv:free"), std::string::npos);

  auto page = get("/v1/catalog?limit=1&starting_after=ref%2Fhosting%3Apro");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("ref/kv:free"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find(R"("has_more":true)"), std::string::npos);

  auto detail = get("/v1/catalog/ref/registrar:domain");
  ASSERT_TRUE(detail);
  ASSERT_EQ(detail->status, 200) << detail->body;
  EXPECT_NE(detail->body.find(R"("durable":true)"), std::string::npos);
  EXPECT_NE(detail->body.find(R"("configuration_schema":{)"), std::string::npos);
  EXPECT_NE(detail->body.find(R"("interval":"one_time")"), std::string::npos);
  // A client that escapes the colon reaches the same service.
  auto escaped = get("/v1/catalog/ref/registrar%3Adomain");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->status, 200);
  EXPECT_EQ(escaped->body, detail->body);

  for (std::string_view missing : {"/v1/catalog/ref/registrar:nope", "/v1/catalog/nobody/kv:free"}) {
    auto r = get(missing);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << missing;
    EXPECT_EQ(json_string(r->body, "code"), "not_found");
  }
}

TEST_F(provisioning_system, revalidates_with_etags_and_refuses_bad_queries_and_strangers) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived()) << provider_->stderr_text();

  auto first = get("/v1/catalog");
  ASSERT_TRUE(first);
  auto etag = first->header("ETag");
  ASSERT_TRUE(etag);
  auto again = get("/v1/catalog", "If-None-Match: " + *etag + "\r\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  // Another query is another body, hence another tag.
  auto other = get("/v1/catalog?q=domain", "If-None-Match: " + *etag + "\r\n");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);

  auto typo = get("/v1/catalog?categroy=domains");
  ASSERT_TRUE(typo);
  EXPECT_EQ(typo->status, 400);
  EXPECT_EQ(json_string(typo->body, "code"), "unknown_field");
  auto bad_limit = get("/v1/catalog?limit=1000");
  ASSERT_TRUE(bad_limit);
  EXPECT_EQ(bad_limit->status, 400);
  EXPECT_EQ(json_string(bad_limit->body, "code"), "invalid_field");

  api_client anonymous(steward_->public_port());
  auto stranger = anonymous.send("GET", "/v1/catalog");
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->status, 401);
  auto wrong = anonymous.bearer("sst_notarealtoken", "GET", "/v1/catalog");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);

  // An agent's session token reads the catalog too.
  auto user = anonymous.bearer(platform_key_, "PUT", "/v1/users/ada", R"({"email":"ada@example.com"})");
  ASSERT_TRUE(user);
  ASSERT_EQ(user->status, 201) << user->body;
  auto session = anonymous.bearer(platform_key_, "POST",
                                  "/v1/users/" + json_string(user->body, "id") + "/sessions",
                                  R"({"run_budget":{"amount":500,"currency":"usd"}})");
  ASSERT_TRUE(session);
  ASSERT_EQ(session->status, 201) << session->body;
  auto agent = anonymous.bearer(json_string(session->body, "token"), "GET", "/v1/catalog?provider=ref");
  ASSERT_TRUE(agent);
  EXPECT_EQ(agent->status, 200);
  EXPECT_NE(agent->body.find("ref/kv:free"), std::string::npos);

  // The provider actor's figures are on the admin listener.
  api_client admin(steward_->admin_port());
  auto metrics = admin.send("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find(R"(steward_catalog_services{provider="ref"} 4)"), std::string::npos)
    << metrics->body.substr(0, 2000);
  EXPECT_NE(metrics->body.find(R"(steward_catalog_fetches_total{provider="ref"} 1)"),
            std::string::npos);
}

TEST_F(provisioning_system, a_dry_run_reports_every_check_and_changes_nothing) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived());
  open_session();
  auto before = audit_types();
  auto dry = agent("POST", "/v1/resources", buy_domain("superseal.club", true), "dry-1");
  ASSERT_TRUE(dry);
  ASSERT_EQ(dry->status, 200) << dry->body;
  EXPECT_NE(dry->body.find(R"("object":"preflight")"), std::string::npos);
  EXPECT_NE(dry->body.find(R"("pass":false)"), std::string::npos);
  EXPECT_NE(dry->body.find(R"({"check":"terms","pass":false,"code":"tos_acceptance")"),
            std::string::npos)
    << dry->body;
  EXPECT_NE(dry->body.find(R"({"check":"billing","pass":false,"code":"billing_setup")"),
            std::string::npos);
  EXPECT_NE(dry->body.find(R"({"check":"confirmation","pass":false,"code":"purchase_confirmation")"),
            std::string::npos);
  EXPECT_EQ(audit_types(), before); // nothing journaled
  auto approvals = platform("GET", "/v1/users/" + user_ + "/approvals");
  ASSERT_TRUE(approvals);
  EXPECT_EQ(approvals->body, R"({"object":"list","data":[],"has_more":false})");
  // Without a key, or for a service the catalog does not have, nothing runs.
  auto keyless = agent("POST", "/v1/resources", buy_domain("superseal.club", true));
  ASSERT_TRUE(keyless);
  EXPECT_EQ(keyless->status, 400);
  EXPECT_EQ(json_string(keyless->body, "code"), "idempotency_key_required");
  auto unknown = agent("POST", "/v1/resources", R"({"service":"ref/nothing:here"})", "dry-2");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(provisioning_system, gates_open_one_at_a_time_and_approvals_close_them) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived());
  open_session();

  // 1. Terms: a tos_acceptance approval with the terms URL; a retry reuses it.
  auto first = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 202) << first->body;
  EXPECT_EQ(json_string(first->body, "status"), "requires_human");
  EXPECT_EQ(json_string(first->body, "kind"), "tos_acceptance");
  auto tos = json_string(first->body, "id");
  auto again = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 202);
  EXPECT_EQ(json_string(again->body, "id"), tos);
  auto pending = platform("GET", "/v1/users/" + user_ + "/approvals?status=pending");
  ASSERT_TRUE(pending);
  EXPECT_NE(pending->body.find(tos), std::string::npos);
  // Approving it is the human accepting the terms.
  auto approved = platform("POST", "/v1/approvals/" + tos + "/approve", R"({"decided_by":"ada"})");
  ASSERT_TRUE(approved);
  ASSERT_EQ(approved->status, 200) << approved->body;
  EXPECT_EQ(json_string(approved->body, "status"), "approved");
  auto twice = platform("POST", "/v1/approvals/" + tos + "/deny", R"({"decided_by":"ada"})");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 409);
  EXPECT_EQ(json_string(twice->body, "code"), "approval_not_pending");

  // 2. Billing: no payment method yet.
  auto second = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 202) << second->body;
  EXPECT_EQ(json_string(second->body, "kind"), "billing_setup");
  auto method = platform("PUT", "/v1/users/" + user_ + "/payment_method",
                         R"({"psp":"stripe","reference":"pm_card_ok","last4":"4242"})");
  ASSERT_TRUE(method);
  ASSERT_EQ(method->status, 200) << method->body;

  // 3. The durable purchase needs the human to confirm its exact value and price.
  auto third = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(third);
  ASSERT_EQ(third->status, 202) << third->body;
  EXPECT_EQ(json_string(third->body, "kind"), "purchase_confirmation");
  EXPECT_EQ(json_string(third->body, "value"), "superseal.club");
  auto confirmation = json_string(third->body, "id");

  // The agent long-polls while the human decides.
  std::optional<http_response> waited;
  std::thread poll([&] {
    waited = agent("GET", "/v1/approvals/" + confirmation + "?wait=8");
  });
  std::this_thread::sleep_for(300ms);
  auto confirm = platform("POST", "/v1/approvals/" + confirmation + "/approve",
                          R"({"decided_by":"ada","note":"yes, that one"})");
  poll.join();
  ASSERT_TRUE(confirm);
  ASSERT_EQ(confirm->status, 200) << confirm->body;
  ASSERT_TRUE(waited);
  ASSERT_EQ(waited->status, 200) << waited->body;
  EXPECT_EQ(json_string(waited->body, "status"), "approved");

  // Every gate is closed now.
  auto ready = agent("POST", "/v1/resources", buy_domain("superseal.club", true), "dry-3");
  ASSERT_TRUE(ready);
  ASSERT_EQ(ready->status, 200);
  EXPECT_NE(ready->body.find(R"("dry_run":true,"pass":true)"), std::string::npos) << ready->body;
  auto types = audit_types();
  EXPECT_NE(types.find("approval.opened approval.decided terms.accepted"), std::string::npos)
    << types;
}

TEST_F(provisioning_system, a_lookalike_of_the_intent_is_refused_and_nothing_is_asked) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived());
  open_session();
  ASSERT_EQ(platform("POST", "/v1/users/" + user_ + "/terms/ref",
                     R"({"version":"2026-11","accepted_by":"ada"})")
              ->status,
            200);
  ASSERT_EQ(platform("PUT", "/v1/users/" + user_ + "/payment_method",
                     R"({"psp":"stripe","reference":"pm_card_ok"})")
              ->status,
            200);
  auto lookalike = agent("POST", "/v1/resources", buy_domain("superseal.cc"), "cc-1");
  ASSERT_TRUE(lookalike);
  ASSERT_EQ(lookalike->status, 422) << lookalike->body;
  EXPECT_EQ(json_string(lookalike->body, "code"), "intent_mismatch");
  EXPECT_EQ(json_string(lookalike->body, "expected"), "superseal.club");
  auto replay = agent("POST", "/v1/resources", buy_domain("superseal.cc"), "cc-1");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 422);
  EXPECT_EQ(replay->header("Idempotent-Replayed"), std::optional<std::string>("true"));
  auto approvals = platform("GET", "/v1/users/" + user_ + "/approvals");
  ASSERT_TRUE(approvals);
  EXPECT_EQ(approvals->body, R"({"object":"list","data":[],"has_more":false})");
  // A config the service's schema refuses is config_invalid.
  auto bad = agent("POST", "/v1/resources",
                   R"({"service":"ref/registrar:domain","config":{"name":"UPPER.club"}})", "bad-1");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 422);
  EXPECT_EQ(json_string(bad->body, "code"), "config_invalid");
}

TEST_F(provisioning_system, approvals_are_found_only_by_their_owners) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(catalog_arrived());
  open_session();
  auto gate = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "kv-1");
  ASSERT_TRUE(gate);
  ASSERT_EQ(gate->status, 202) << gate->body;
  auto id = json_string(gate->body, "id");
  auto mine = agent("GET", "/v1/approvals/" + id);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->status, 200);
  EXPECT_EQ(json_string(mine->body, "status"), "pending");
  // Another session of the same user does not see it.
  auto other = platform("POST", "/v1/users/" + user_ + "/sessions",
                        R"({"run_budget":{"amount":100,"currency":"usd"}})");
  ASSERT_TRUE(other);
  api_client c(steward_->public_port());
  auto foreign = c.bearer(json_string(other->body, "token"), "GET", "/v1/approvals/" + id);
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404);
  auto made_up = platform("GET", "/v1/approvals/apr_0000000000000000000000001");
  ASSERT_TRUE(made_up);
  EXPECT_EQ(made_up->status, 404);
  auto bad_status = platform("GET", "/v1/users/" + user_ + "/approvals?status=maybe");
  ASSERT_TRUE(bad_status);
  EXPECT_EQ(bad_status->status, 400);
  // Only the platform decides.
  auto self_approve = agent("POST", "/v1/approvals/" + id + "/approve", R"({"decided_by":"agent"})");
  ASSERT_TRUE(self_approve);
  EXPECT_EQ(self_approve->status, 401);
}

TEST_F(provisioning_system, a_domain_is_bought_once_on_a_new_account_and_its_credentials_shown_once) {
  ASSERT_NO_FATAL_FAILURE(start_ready());
  auto gate = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(gate);
  EXPECT_EQ(json_string(gate->body, "kind"), "purchase_confirmation");
  approve(*gate);

  auto bought = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(bought);
  ASSERT_EQ(bought->status, 201) << bought->body << provider_->stderr_text();
  EXPECT_EQ(json_string(bought->body, "status"), "ready");
  EXPECT_EQ(json_string(bought->body, "service"), "ref/registrar:domain");
  EXPECT_EQ(json_string(bought->body, "name"), "superseal.club");
  EXPECT_NE(bought->body.find(R"("price":{"amount":1200,"currency":"usd"})"), std::string::npos);
  auto api_key = json_string(bought->body, "api_key");
  EXPECT_EQ(api_key.rfind("rpk_", 0), 0u) << bought->body;
  auto resource = json_string(bought->body, "id");
  EXPECT_EQ(resource.rfind("res_", 0), 0u);

  // The credentials were shown once. The key's outcome, stored before the provider was called,
  // names the resource it bought, without them.
  auto replay = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-1");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 202);
  EXPECT_EQ(replay->header("Idempotent-Replayed"), std::optional<std::string>("true"));
  EXPECT_EQ(json_string(replay->body, "status"), "pending");
  EXPECT_EQ(json_string(replay->body, "id"), resource);
  EXPECT_EQ(replay->body.find(api_key), std::string::npos);

  // The resource is listed and read without its credentials.
  auto listed = agent("GET", "/v1/resources");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;
  EXPECT_NE(listed->body.find(resource), std::string::npos);
  EXPECT_EQ(listed->body.find(api_key), std::string::npos);
  auto one = agent("GET", "/v1/resources/" + resource);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(json_string(one->body, "status"), "ready");
  EXPECT_EQ(one->body.find(api_key), std::string::npos);
  auto none = agent("GET", "/v1/resources/res_0000000000000000000000");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);

  // Reveal (audited), rotation (a new key, replayed without it), export, deletion.
  auto revealed = agent("POST", "/v1/resources/" + resource + "/credentials/reveal");
  ASSERT_TRUE(revealed);
  ASSERT_EQ(revealed->status, 200) << revealed->body;
  EXPECT_EQ(json_string(revealed->body, "api_key"), api_key);
  auto rotated = agent("POST", "/v1/resources/" + resource + "/rotate", "", "rot-1");
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  auto new_key = json_string(rotated->body, "api_key");
  EXPECT_EQ(new_key.rfind("rpk_", 0), 0u);
  EXPECT_NE(new_key, api_key);
  auto rotated_again = agent("POST", "/v1/resources/" + resource + "/rotate", "", "rot-1");
  ASSERT_TRUE(rotated_again);
  EXPECT_EQ(rotated_again->status, 200);
  EXPECT_EQ(rotated_again->header("Idempotent-Replayed"), std::optional<std::string>("true"));
  EXPECT_EQ(rotated_again->body.find(new_key), std::string::npos);
  auto revealed_new = agent("POST", "/v1/resources/" + resource + "/credentials/reveal");
  ASSERT_TRUE(revealed_new);
  EXPECT_EQ(json_string(revealed_new->body, "api_key"), new_key);
  auto exported = platform("GET", "/v1/users/" + user_ + "/resources/" + resource + "/export");
  ASSERT_TRUE(exported);
  ASSERT_EQ(exported->status, 200) << exported->body;
  EXPECT_EQ(json_string(exported->body, "object"), "resource_export");
  EXPECT_EQ(json_string(exported->body, "api_key"), new_key);
  EXPECT_EQ(json_string(exported->body, "outcome"), "created");
  EXPECT_FALSE(json_string(exported->body, "account_token").empty()) << exported->body;
  auto stranger = agent("GET", "/v1/users/" + user_ + "/resources/" + resource + "/export");
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->status, 401) << "the export is the platform's";
  auto keyless = agent("DELETE", "/v1/resources/" + resource);
  ASSERT_TRUE(keyless);
  EXPECT_EQ(keyless->status, 400);
  auto deleted = agent("DELETE", "/v1/resources/" + resource, "", "del-1");
  ASSERT_TRUE(deleted);
  ASSERT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_EQ(json_string(deleted->body, "status"), "removed");
  auto gone = agent("POST", "/v1/resources/" + resource + "/credentials/reveal");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 409) << gone->body;

  // The approval was used: buying the name again needs a human again.
  auto again = agent("POST", "/v1/resources", buy_domain("superseal.club"), "buy-2");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 202) << again->body;

  // One charge of the price, settled against the hold: nothing is held any more.
  auto session = agent("GET", "/v1/session");
  ASSERT_TRUE(session);
  EXPECT_NE(session->body.find(R"("spent":{"amount":1200,"currency":"usd"})"), std::string::npos)
    << session->body;
  EXPECT_NE(session->body.find(R"("held":{"amount":0,"currency":"usd"})"), std::string::npos);
  auto types = audit_types();
  EXPECT_NE(types.find("link.created token.created hold.placed resource.requested approval.used "
                       "charge.created resource.updated"),
            std::string::npos)
    << types;
  EXPECT_EQ(occurrences(types, "charge.created"), 1u);
  EXPECT_EQ(occurrences(types, "resource.revealed"), 3u) << types; // two reveals, one export
  // The secrets never reach the audit.
  auto audit = platform("GET", "/v1/users/" + user_ + "/audit?limit=100");
  ASSERT_TRUE(audit);
  EXPECT_EQ(audit->body.find(api_key), std::string::npos);
  EXPECT_EQ(audit->body.find(new_key), std::string::npos);
  EXPECT_EQ(audit->body.find("rpk_"), std::string::npos);
}

TEST_F(provisioning_system, an_existing_account_is_linked_through_oauth_with_pkce) {
  ASSERT_TRUE(start({"--existing-accounts=ada@example.com,mallory@example.com",
                     "--oauth-auto-consent"}));
  ASSERT_TRUE(catalog_arrived()) << provider_->stderr_text();
  open_session();
  ready_to_buy();
  auto gate = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "kv-1");
  ASSERT_TRUE(gate);
  ASSERT_EQ(gate->status, 202) << gate->body << provider_->stderr_text();
  EXPECT_EQ(json_string(gate->body, "kind"), "account_link");
  auto approval = json_string(gate->body, "id");
  auto url = json_string(gate->body, "url");
  EXPECT_NE(url.find("&state=" + approval + "&code_challenge="), std::string::npos) << url;
  EXPECT_NE(url.find("code_challenge_method=S256"), std::string::npos) << url;

  auto at = url.find(provider_address_);
  ASSERT_NE(at, std::string::npos) << url;
  api_client browser(static_cast<std::uint16_t>(std::stoi(provider_address_.substr(10))));
  api_client to_steward(steward_->public_port());

  // Someone else's consent on this URL (another account's login): steward links nothing.
  auto hint = url.find("login_hint=ada%40example.com");
  ASSERT_NE(hint, std::string::npos) << url;
  auto foreign_url = url;
  foreign_url.replace(hint, std::string("login_hint=ada%40example.com").size(),
                      "login_hint=mallory%40example.com");
  auto foreign = browser.send("GET", foreign_url.substr(at + provider_address_.size()));
  ASSERT_TRUE(foreign);
  ASSERT_EQ(foreign->status, 302) << foreign->body;
  auto foreign_location = foreign->header("Location").value_or("");
  auto foreign_back = to_steward.send(
    "GET", foreign_location.substr(foreign_location.find("/oauth/callback?")));
  ASSERT_TRUE(foreign_back);
  EXPECT_EQ(foreign_back->status, 403) << foreign_back->body;
  auto still = agent("GET", "/v1/approvals/" + approval);
  ASSERT_TRUE(still);
  EXPECT_EQ(json_string(still->body, "status"), "pending");

  // The human's browser: the provider consents at once and sends it back to steward.
  auto consent = browser.send("GET", url.substr(at + provider_address_.size()));
  ASSERT_TRUE(consent);
  ASSERT_EQ(consent->status, 302) << consent->body;
  auto location = consent->header("Location").value_or("");
  auto path = location.find("/oauth/callback?");
  ASSERT_NE(path, std::string::npos) << location;
  auto back = to_steward.send("GET", location.substr(path));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->status, 200) << back->body << provider_->stderr_text();
  EXPECT_NE(back->body.find("linked"), std::string::npos);
  // The code was single use and the approval is decided: the same redirect again links nothing.
  auto twice = to_steward.send("GET", location.substr(path));
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 409) << twice->body;
  auto decided = agent("GET", "/v1/approvals/" + approval);
  ASSERT_TRUE(decided);
  EXPECT_EQ(json_string(decided->body, "status"), "approved");

  // The request goes through on the linked account.
  auto made = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "kv-1");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->body << provider_->stderr_text();
  EXPECT_EQ(json_string(made->body, "status"), "ready");
  auto types = audit_types();
  EXPECT_NE(types.find("approval.decided link.created"), std::string::npos) << types;
  EXPECT_EQ(types.find("token.created"), std::string::npos) << "a free service needs no token";
}

TEST_F(provisioning_system, a_callback_for_no_pending_link_is_refused) {
  ASSERT_TRUE(start());
  api_client to_steward(steward_->public_port());
  for (std::string_view target :
       {"/oauth/callback?code=abc&state=apr_0000000000000000000000", "/oauth/callback?code=abc",
        "/oauth/callback?state=nothing&code=x&code=y"}) {
    auto r = to_steward.send("GET", target);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << target;
  }
}

TEST_F(provisioning_system, an_answer_lost_after_the_charge_is_reconciled_with_the_same_key) {
  // The provider charges, stores its answer, and answers after steward's deadline: steward sends
  // the same order with the same key and gets the stored resource. One charge.
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=after-charge-timeout:6000"}));
  auto made = agent("POST", "/v1/resources", R"({"service":"ref/hosting:pro","config":{}})", "h-1");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->body << provider_->stderr_text();
  EXPECT_EQ(json_string(made->body, "status"), "ready");
  EXPECT_EQ(json_string(made->body, "api_key").rfind("rpk_", 0), 0u);
  expect_bought_once(2000);
}

TEST_F(provisioning_system, a_connection_dropped_after_the_charge_is_reconciled_with_the_same_key) {
  // The provider charges, stores its answer and closes the connection without sending it: steward
  // cannot tell whether anything was bought, sends the same order with the same key and gets the
  // stored resource. One charge.
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=drop"}));
  auto made = agent("POST", "/v1/resources", R"({"service":"ref/hosting:pro","config":{}})", "d-1");
  ASSERT_TRUE(made);
  ASSERT_TRUE(made->status == 201 || made->status == 202) << made->body;
  auto const resource = json_string(made->body, "id"); // the first id: the resource's
  ASSERT_EQ(resource.rfind("res_", 0), 0u) << made->body;
  std::string status = json_string(made->body, "status");
  std::string shown = made->body;
  if (made->status == 202) {
    // Still in doubt after the client's own retries: the actor reconciles it.
    for (int i = 0; i < 100 && status != "ready"; ++i) {
      std::this_thread::sleep_for(100ms);
      auto got = agent("GET", "/v1/resources/" + resource);
      ASSERT_TRUE(got);
      shown = got->body;
      status = json_string(got->body, "status");
    }
  }
  EXPECT_EQ(status, "ready") << shown << provider_->stderr_text();
  expect_bought_once(2000);
}

TEST_F(provisioning_system, a_provider_with_its_purchases_in_flight_gets_no_new_one) {
  // One purchase in flight at most. The provider answers 0.7 s late, so the first purchase (its
  // account, then its order: 1.4 s at least) holds the only place while the second arrives.
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=latency:700"}, {"--provider-purchases-max=1"}));
  auto [first, second] = overlapping(R"({"service":"ref/kv:free"})", "a-1", "b-1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503) << second->body;
  EXPECT_EQ(json_string(second->body, "code"), "provider_unavailable") << second->body;
  EXPECT_EQ(json_string(second->body, "reason"), "provider_busy") << second->body;
  EXPECT_EQ(second->header("Retry-After").value_or(""), "1");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 201) << first->body << provider_->stderr_text();
  auto types = audit_types();
  EXPECT_EQ(occurrences(types, "resource.requested"), 1u) << "the refused one wrote nothing: " << types;

  // The place is given back with the answer: the same key now buys, once (not a replay).
  auto retried = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "b-1");
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 201) << retried->body;
  EXPECT_FALSE(retried->header("Idempotent-Replayed").has_value());
  EXPECT_EQ(occurrences(audit_types(), "resource.requested"), 2u);
}

TEST_F(provisioning_system, two_first_purchases_at_once_open_one_account) {
  // The provider answers 0.7 s late: while the first purchase is opening the user's account, a
  // second one is told to retry rather than attesting the human again (which the provider would
  // answer with oauth_required for the account being made).
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=latency:700"}));
  auto [first, second] = overlapping(R"({"service":"ref/kv:free"})", "o-1", "o-2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503) << second->body;
  EXPECT_EQ(json_string(second->body, "reason"), "account_opening") << second->body;
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 201) << first->body << provider_->stderr_text();
  auto retried = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "o-2");
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 201) << retried->body;
  auto types = audit_types();
  EXPECT_EQ(occurrences(types, "link.created"), 1u) << types;
  EXPECT_EQ(types.find("approval.opened"), std::string::npos) << "no OAuth gate: " << types;
}

TEST_F(provisioning_system, a_provider_failing_to_open_the_account_is_worth_a_retry) {
  // Every provisioning call of the provider answers 503, POST /accounts included: nothing is
  // bought or linked, and the agent is told to retry (503), not that the purchase failed (502).
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=status:503"}));
  auto made = agent("POST", "/v1/resources", R"({"service":"ref/kv:free"})", "acct-1");
  ASSERT_TRUE(made);
  EXPECT_EQ(made->status, 503) << made->body;
  EXPECT_EQ(json_string(made->body, "code"), "provider_unavailable") << made->body;
  EXPECT_EQ(made->header("Retry-After").value_or(""), "1");
  auto types = audit_types();
  EXPECT_EQ(types.find("link.created"), std::string::npos) << types;
  EXPECT_EQ(types.find("resource.requested"), std::string::npos) << types;
}

TEST_F(provisioning_system, a_metered_service_bought_by_the_agent_stops_exactly_at_the_run_budget) {
  // 5 cents a tick against a 23-cent run: four ticks are charged, the fifth is declined, and the
  // provider's meter stops there.
  ASSERT_TRUE(start({"--meter-interval-ms=50"}));
  ASSERT_TRUE(catalog_arrived()) << provider_->stderr_text();
  open_session(23);
  ready_to_buy();
  auto made = agent("POST", "/v1/resources", R"({"service":"ref/compute:metered"})", "m-1");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->body << provider_->stderr_text();
  std::string last;
  for (int i = 0; i < 100; ++i) { // until the spend stops moving
    std::this_thread::sleep_for(100ms);
    auto session = agent("GET", "/v1/session");
    ASSERT_TRUE(session);
    if (session->body == last && session->body.find(R"("spent":{"amount":20,)") != std::string::npos)
      break;
    last = session->body;
  }
  EXPECT_NE(last.find(R"("spent":{"amount":20,"currency":"usd"})"), std::string::npos) << last;
  EXPECT_NE(last.find(R"("held":{"amount":0,"currency":"usd"})"), std::string::npos) << last;
  EXPECT_EQ(occurrences(audit_types(), "charge.created"), 4u);
}

TEST_F(provisioning_system, a_kill_during_provisioning_buys_nothing) {
  // Every answer of the provider is 1.5 s late: the human stops the session while the purchase is
  // on its way (the account, or the order). Whatever stage it reached, nothing is charged.
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=latency:1500"}));
  auto session = json_string(agent("GET", "/v1/session")->body, "id");
  std::optional<http_response> made;
  std::thread buy([&] {
    made = agent("POST", "/v1/resources", R"({"service":"ref/hosting:pro"})", "k-1");
  });
  std::this_thread::sleep_for(500ms);
  auto kill = platform("POST", "/v1/kill", R"({"scope":"session","id":")" + session + "\"}");
  buy.join();
  ASSERT_TRUE(kill);
  ASSERT_EQ(kill->status, 200) << kill->body;
  ASSERT_TRUE(made);
  EXPECT_TRUE(made->status == 403 || made->status == 502) << made->status << " " << made->body;
  auto types = audit_types();
  EXPECT_EQ(types.find("charge.created"), std::string::npos) << types;
  auto after = agent("GET", "/v1/session");
  ASSERT_TRUE(after);
  EXPECT_NE(after->body.find(R"("spent":{"amount":0,"currency":"usd"})"), std::string::npos)
    << after->body;
  EXPECT_NE(after->body.find(R"("held":{"amount":0,"currency":"usd"})"), std::string::npos);
  auto again = agent("POST", "/v1/resources", R"({"service":"ref/hosting:pro"})", "k-2");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403);
}

TEST_F(provisioning_system, a_purchase_cut_by_a_crash_is_settled_after_the_restart_with_one_charge) {
  // The provider charges, keeps its answer and sends it 6 s late; stewardd is killed meanwhile.
  // The restarted stewardd asks again with the same key; the agent's retry buys nothing new.
  const auto steward_port = reserve_port();
  ASSERT_NE(steward_port, 0);
  const std::string listen = "--listen=127.0.0.1:" + std::to_string(steward_port);
  ASSERT_NO_FATAL_FAILURE(start_ready({"--fault=after-charge-timeout:6000"}, {listen}));
  const std::string body = R"({"service":"ref/hosting:pro"})";
  std::thread buy([&] { agent("POST", "/v1/resources", body, "c-1"); });
  bool charged = false;
  for (int i = 0; i < 100 && !charged; ++i) {
    std::this_thread::sleep_for(50ms);
    auto session = agent("GET", "/v1/session");
    charged = session && session->body.find(R"("spent":{"amount":2000,)") != std::string::npos;
  }
  ASSERT_TRUE(charged) << "the provider never charged";
  ASSERT_TRUE(steward_->process().signal(SIGKILL));
  buy.join();

  steward_ = start_stewardd_in(run_dir_, {"--provider=ref=http://" + provider_address_, listen});
  ASSERT_NE(steward_, nullptr);
  ASSERT_TRUE(catalog_arrived()); // a request for a service waits for its catalog
  auto replay = agent("POST", "/v1/resources", body, "c-1");
  ASSERT_TRUE(replay);
  ASSERT_EQ(replay->status, 202) << replay->body;
  EXPECT_EQ(replay->header("Idempotent-Replayed"), std::optional<std::string>("true"));
  auto resource = json_string(replay->body, "id");
  std::string status;
  for (int i = 0; i < 100 && status != "ready"; ++i) {
    std::this_thread::sleep_for(100ms);
    auto r = agent("GET", "/v1/resources/" + resource);
    ASSERT_TRUE(r);
    status = json_string(r->body, "status");
  }
  EXPECT_EQ(status, "ready") << provider_->stderr_text();
  auto revealed = agent("POST", "/v1/resources/" + resource + "/credentials/reveal");
  ASSERT_TRUE(revealed);
  EXPECT_EQ(json_string(revealed->body, "api_key").rfind("rpk_", 0), 0u) << revealed->body;
  auto types = audit_types();
  EXPECT_EQ(occurrences(types, "charge.created"), 1u) << types;
  EXPECT_EQ(occurrences(types, "resource.requested"), 1u) << types;
  auto session = agent("GET", "/v1/session");
  ASSERT_TRUE(session);
  EXPECT_NE(session->body.find(R"("spent":{"amount":2000,"currency":"usd"})"), std::string::npos);
  EXPECT_NE(session->body.find(R"("held":{"amount":0,"currency":"usd"})"), std::string::npos)
    << session->body;
}

} // namespace
} // namespace steward::test_support
