// System tests of steward-refprovider: the real binary on loopback, next to the real stewardd
// (`--demo`, a temporary data dir). Attestations are signed with stewardd's own signing key from
// its data dir, and the refprovider verifies them against the JWKS that stewardd publishes at
// `/.well-known/jwks.json`, exactly as a provider in production would.
//
// Environment: `STEWARDD` and `STEWARD_REFPROVIDER`, the two binaries (tests skip when unset).

#include "core/attestation.hpp"
#include "core/ids.hpp"
#include "core/jws.hpp"
#include "storage/data_dir.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/process.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace steward::test_support {
namespace {

using namespace std::chrono_literals;

std::optional<std::string> refprovider_path() {
  const char* path = std::getenv("STEWARD_REFPROVIDER");
  if (path == nullptr || *path == '\0')
    return std::nullopt;
  return std::string(path);
}

class refprovider_system : public stewardd_test {
protected:
  void SetUp() override {
    stewardd_test::SetUp();
    if (IsSkipped())
      return;
    auto path = refprovider_path();
    if (!path)
      GTEST_SKIP() << "STEWARD_REFPROVIDER is not set";
    binary_ = *path;
  }

  void TearDown() override {
    provider_.reset(); // kills and reaps it if it is still running
    stewardd_test::TearDown();
  }

  /// Starts stewardd with provider `ref`. stewardd does not call providers yet, and the provider's
  /// port is only known after it starts (port 0), so the URL given to stewardd is a placeholder.
  bool start_steward() {
    steward_ = start_stewardd({"--provider=ref=http://127.0.0.1:9"});
    if (steward_ == nullptr)
      return false;
    data_ = steward_->run_dir() / "data";
    steward_url_ = "http://127.0.0.1:" + std::to_string(steward_->public_port());
    if (auto error = storage::load_signing_keys(data_, keys_)) {
      ADD_FAILURE() << storage::to_string(*error);
      return false;
    }
    return !keys_.empty();
  }

  std::unique_ptr<child_process> spawn(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {binary_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto log_dir = new_run_dir();
    std::string error;
    auto child = child_process::spawn(argv, log_dir, error);
    EXPECT_TRUE(child) << error;
    return child;
  }

  /// Starts the refprovider and reads its listening line; 0 on failure.
  std::uint16_t start_provider(const std::string& issuer, std::vector<std::string> extra = {}) {
    issuer_ = issuer;
    std::vector<std::string> args = {"--listen=127.0.0.1:0", "--steward-url=" + issuer,
                                     "--secret-file=" + (data_ / "providers" / "ref.secret").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    provider_ = spawn(args);
    if (!provider_)
      return 0;
    auto line = provider_->read_first_line(deadline_in(10s));
    if (!line || line->rfind("listening 127.0.0.1:", 0) != 0) {
      ADD_FAILURE() << "no listening line; stderr: " << provider_->stderr_text();
      return 0;
    }
    return static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  }

  /// An attestation signed with stewardd's newest signing key, as stewardd would mint it, or with
  /// `forger` (a key stewardd does not hold) under the same kid.
  std::string attest(std::string_view email, std::int64_t at = 0,
                     const core::jws_signing_key* forger = nullptr) {
    auto key = core::jws_signing_key::from_private_key(keys_.front().kid, keys_.front().private_key);
    EXPECT_TRUE(key);
    if (forger != nullptr)
      key = *forger;
    core::attestation_request request;
    request.issuer = issuer_;
    request.user_id = "usr_0000000000000000000001";
    request.audience = "ref";
    request.email = email;
    request.email_verified = true;
    core::minted_attestation minted;
    EXPECT_EQ(core::make_attestation(request, *key, at ? at : unix_now(), random_, minted),
              core::attestation_error::none);
    return minted.token;
  }

  std::optional<http_response> open_account(api_client& c, const std::string& token) {
    return c.send("POST", "/accounts", {}, R"({"attestation":")" + token + "\"}");
  }

  /// A user `ada` at stewardd; its id.
  std::string steward_user(api_client& steward) {
    auto user = steward.bearer(platform_key(), "PUT", "/v1/users/ada",
                               R"({"email":"ada@example.com","name":"Ada"})");
    EXPECT_TRUE(user && user->status == 201) << (user ? user->body : "no response");
    return user ? json_string(user->body, "id") : std::string();
  }

  /// A payment token for provider `ref`; `extra` is added to the request body (`,"session":...`).
  std::string mint_payment_token(api_client& steward, const std::string& user_id,
                                 std::int64_t max_amount, std::int64_t expires_at,
                                 const std::string& key, const std::string& extra = {}) {
    auto minted = steward.bearer(platform_key(), "POST", "/v1/users/" + user_id + "/payment_tokens",
                                 R"({"provider":"ref","max_amount":{"amount":)" +
                                   std::to_string(max_amount) +
                                   R"(,"currency":"usd"},"expires_at":)" +
                                   std::to_string(expires_at) + extra + "}",
                                 key);
    EXPECT_TRUE(minted && minted->status == 201) << (minted ? minted->body : "no response");
    return minted ? json_string(minted->body, "id") : std::string();
  }

  /// The user's month-to-date spend with provider `ref` at stewardd.
  std::int64_t spend_with_ref(api_client& steward, const std::string& user_id) {
    auto r = steward.bearer(platform_key(), "GET", "/v1/users/" + user_id + "/spend");
    EXPECT_TRUE(r && r->status == 200);
    if (!r)
      return -1;
    auto at = r->body.find(R"("provider":"ref")");
    if (at == std::string::npos)
      return 0;
    return json_integer(std::string_view(r->body).substr(at), "amount").value_or(-1);
  }

  std::string platform_key() { return read_secret(data_ / "platform.key"); }

  /// A `POST /resources` body buying `service` with `payment_token`.
  static std::string resource_body(std::string_view service, const std::string& payment_token,
                                   std::int64_t max_amount, std::int64_t expires_at) {
    return R"({"service":")" + std::string(service) +
           R"(","config":{"region":"eu-west"},"payment_token":{"id":")" + payment_token +
           R"(","max_amount":)" + std::to_string(max_amount) +
           R"(,"currency":"usd","expires_at":)" + std::to_string(expires_at) + "}}";
  }

  std::string binary_;
  stewardd_process* steward_ = nullptr;
  std::filesystem::path data_;
  std::string steward_url_;
  std::string issuer_;
  std::vector<storage::signing_key> keys_;
  std::unique_ptr<child_process> provider_;
  core::openssl_random random_;
};

TEST_F(refprovider_system, bad_options_exit_2_and_name_the_option) {
  auto dir = new_run_dir();
  auto secret = (dir / "ref.secret").string();
  std::ofstream(secret) << "s3cret\n";
  struct bad {
    std::vector<std::string> args;
    std::string option;
  };
  for (auto& [args, option] : std::vector<bad>{
         {{"--listen=127.0.0.1:0", "--secret-file=" + secret}, "--steward-url"},
         {{"--listen=nowhere", "--steward-url=http://127.0.0.1:1", "--secret-file=" + secret},
          "--listen"},
         {{"--listen=127.0.0.1:0", "--steward-url=http://steward.example.com",
           "--secret-file=" + secret},
          "--steward-url"},
         {{"--listen=127.0.0.1:0", "--steward-url=http://127.0.0.1:1",
           "--secret-file=" + secret + ".absent"},
          "--secret-file"},
         {{"--listen=127.0.0.1:0", "--steward-url=http://127.0.0.1:1", "--secret-file=" + secret,
           "--existing-accounts=nobody"},
          "--existing-accounts"},
       }) {
    auto child = spawn(args);
    ASSERT_TRUE(child);
    auto status = child->wait_exit(deadline_in(10s));
    ASSERT_TRUE(status) << option << ": still running";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << option;
    EXPECT_NE(child->stderr_text().find(option), std::string::npos)
      << option << ": " << child->stderr_text();
  }
}

TEST_F(refprovider_system, serves_its_catalog_and_stops_cleanly_on_sigterm) {
  ASSERT_TRUE(start_steward());
  auto port = start_provider(steward_url_, {"--terms-version=2026-11"});
  ASSERT_NE(port, 0);
  api_client c(port);
  auto catalog = c.send("GET", "/catalog");
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->status, 200);
  EXPECT_NE(catalog->body.find(R"("version":"2026-11")"), std::string::npos) << catalog->body;
  EXPECT_NE(catalog->body.find(R"("id":"registrar:domain")"), std::string::npos);
  auto etag = catalog->header("ETag");
  ASSERT_TRUE(etag);
  auto cached = c.send("GET", "/catalog", "If-None-Match: " + *etag + "\r\n");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 304);
  auto taken = c.send("GET", "/domains/availability?name=example.com");
  ASSERT_TRUE(taken);
  EXPECT_NE(taken->body.find(R"("available":false)"), std::string::npos) << taken->body;

  ASSERT_TRUE(provider_->signal(SIGTERM));
  auto status = provider_->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << provider_->stderr_text();
}

TEST_F(refprovider_system, accounts_from_attestations_signed_by_stewards_key) {
  ASSERT_TRUE(start_steward());
  // stewardd publishes the keys the refprovider fetches.
  api_client steward(steward_->public_port());
  auto jwks = steward.send("GET", "/.well-known/jwks.json");
  ASSERT_TRUE(jwks);
  ASSERT_EQ(jwks->status, 200);
  ASSERT_NE(jwks->body.find(keys_.front().kid), std::string::npos) << jwks->body;
  auto port = start_provider(steward_url_,
                             {"--existing-accounts=linked@example.com", "--oauth-auto-consent"});
  ASSERT_NE(port, 0);
  api_client c(port);

  auto token = attest("ada@example.com");
  auto created = open_account(c, token);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(json_string(created->body, "outcome"), "created");
  auto account = json_string(created->body, "account_id");
  EXPECT_EQ(account.substr(0, 5), "acct_");
  EXPECT_EQ(json_string(created->body, "account_token").substr(0, 4), "rpt_");

  auto replayed = open_account(c, token);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 401);
  EXPECT_EQ(json_string(replayed->body, "reason"), "attestation_replayed");

  auto again = open_account(c, attest("ada@example.com"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(json_string(again->body, "account_id"), account);

  auto expired = open_account(c, attest("bob@example.com", unix_now() - 400));
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 401);
  EXPECT_EQ(json_string(expired->body, "reason"), "attestation_expired");

  // Forged: signed under stewardd's kid with a key stewardd does not hold, or altered after
  // signing. Neither opens an account.
  std::array<std::uint8_t, 32> other{};
  other.fill(7);
  auto forger = core::jws_signing_key::from_private_key(keys_.front().kid, other);
  ASSERT_TRUE(forger);
  auto forged = open_account(c, attest("mallory@example.com", 0, &*forger));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401) << forged->body;
  EXPECT_FALSE(json_string(forged->body, "reason").empty()) << forged->body;
  auto genuine = attest("mallory@example.com");
  auto signature_at = genuine.rfind('.') + 1;
  genuine[signature_at] = genuine[signature_at] == 'A' ? 'B' : 'A';
  auto altered = open_account(c, genuine);
  ASSERT_TRUE(altered);
  EXPECT_EQ(altered->status, 401) << altered->body;

  auto linked = open_account(c, attest("linked@example.com"));
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->status, 200) << linked->body;
  EXPECT_EQ(json_string(linked->body, "outcome"), "oauth_required");
  auto const authorize_url = json_string(linked->body, "authorize_url");
  auto const path_at = authorize_url.find("/oauth/authorize?");
  ASSERT_NE(path_at, std::string::npos) << linked->body;

  // Linking it: steward adds its state and PKCE challenge (RFC 7636 appendix B's pair) to the
  // authorize URL, the human consents (automatically here), and the code buys the account's token.
  constexpr std::string_view verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  auto consented = c.send("GET", authorize_url.substr(path_at) +
                                   "&state=sys-1&code_challenge="
                                   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
                                   "&code_challenge_method=S256");
  ASSERT_TRUE(consented);
  ASSERT_EQ(consented->status, 302) << consented->body;
  auto const location = consented->header("Location").value_or("");
  auto const callback = steward_url_ + "/oauth/callback";
  ASSERT_EQ(location.rfind(callback + "?code=rpa_", 0), 0u) << location;
  auto const state_at = location.find("&state=");
  ASSERT_NE(state_at, std::string::npos) << location;
  EXPECT_EQ(location.substr(state_at), "&state=sys-1");
  auto const code = location.substr(callback.size() + 6, state_at - callback.size() - 6);
  std::string encoded_callback;
  for (char ch : callback)
    encoded_callback += ch == ':'   ? std::string("%3A")
                        : ch == '/' ? std::string("%2F")
                                    : std::string(1, ch);
  auto const form = "grant_type=authorization_code&code=" + code + "&code_verifier=" +
                    std::string(verifier) + "&redirect_uri=" + encoded_callback +
                    "&client_id=steward";
  auto exchanged = c.send("POST", "/oauth/token",
                          "Content-Type: application/x-www-form-urlencoded\r\n", form);
  ASSERT_TRUE(exchanged);
  ASSERT_EQ(exchanged->status, 200) << exchanged->body;
  EXPECT_EQ(json_string(exchanged->body, "token_type"), "Bearer");
  auto const access = json_string(exchanged->body, "access_token");
  auto bought = c.bearer(access, "POST", "/resources", R"({"service":"kv:free"})", "linked-1");
  ASSERT_TRUE(bought);
  EXPECT_EQ(bought->status, 201) << bought->body;
  auto reused = c.send("POST", "/oauth/token",
                       "Content-Type: application/x-www-form-urlencoded\r\n", form);
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->status, 400);
  EXPECT_EQ(json_string(reused->body, "error"), "invalid_grant") << "a code is single-use";

  ASSERT_TRUE(provider_->signal(SIGINT));
  auto status = provider_->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(refprovider_system, a_paid_resource_is_charged_to_stewards_payment_token_once) {
  ASSERT_TRUE(start_steward());
  auto port = start_provider(steward_url_);
  ASSERT_NE(port, 0);
  auto const platform_key = read_secret(data_ / "platform.key");
  api_client steward(steward_->public_port());
  auto user = steward.bearer(platform_key, "PUT", "/v1/users/ada",
                             R"({"email":"ada@example.com","name":"Ada"})");
  ASSERT_TRUE(user && user->status == 201) << (user ? user->body : "no response");
  auto const user_id = json_string(user->body, "id");
  auto const expires_at = unix_now() + 3600;
  auto minted = steward.bearer(platform_key, "POST", "/v1/users/" + user_id + "/payment_tokens",
                               R"({"provider":"ref","max_amount":{"amount":5000,"currency":"usd"},"expires_at":)" +
                                 std::to_string(expires_at) + "}",
                               "mint-1");
  ASSERT_TRUE(minted && minted->status == 201) << (minted ? minted->body : "no response");
  auto const payment_token = json_string(minted->body, "id");

  api_client c(port);
  auto account = open_account(c, attest("ada@example.com"));
  ASSERT_TRUE(account && account->status == 201);
  auto const bearer = json_string(account->body, "account_token");
  auto const body = R"({"service":"hosting:pro","config":{"region":"eu-west"},"payment_token":{"id":")" +
                    payment_token + R"(","max_amount":5000,"currency":"usd","expires_at":)" +
                    std::to_string(expires_at) + "}}";
  auto created = c.bearer(bearer, "POST", "/resources", body, "provision-1");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(json_string(created->body, "status"), "ready");
  EXPECT_EQ(json_string(created->body, "charge").substr(0, 4), "chg_");

  // steward recorded the charge against the user's spend with this provider.
  auto spend = [&] {
    auto r = steward.bearer(platform_key, "GET", "/v1/users/" + user_id + "/spend");
    EXPECT_TRUE(r && r->status == 200);
    if (!r)
      return std::int64_t(-1);
    auto at = r->body.find(R"("provider":"ref")");
    if (at == std::string::npos)
      return std::int64_t(0);
    return json_integer(std::string_view(r->body).substr(at), "amount").value_or(-1);
  };
  EXPECT_EQ(spend(), 2000);

  auto replay = c.bearer(bearer, "POST", "/resources", body, "provision-1");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 201);
  EXPECT_EQ(replay->body, created->body);
  EXPECT_EQ(replay->header("Idempotent-Replayed"), "true");
  EXPECT_EQ(spend(), 2000) << "a replay charges nothing";

  // A second plan under a new key is a second charge; steward refuses the third (5000 cap).
  auto second = c.bearer(bearer, "POST", "/resources", body, "provision-2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 201) << second->body;
  EXPECT_EQ(spend(), 4000);
  auto third = c.bearer(bearer, "POST", "/resources", body, "provision-3");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 402) << third->body;
  EXPECT_EQ(json_string(third->body, "code"), "budget_exceeded");
  EXPECT_EQ(spend(), 4000);
}

TEST_F(refprovider_system, rotation_and_deletion) {
  ASSERT_TRUE(start_steward());
  auto port = start_provider(steward_url_);
  ASSERT_NE(port, 0);
  api_client c(port);
  auto account = open_account(c, attest("ada@example.com"));
  ASSERT_TRUE(account && account->status == 201);
  auto const bearer = json_string(account->body, "account_token");
  auto made = c.bearer(bearer, "POST", "/resources", R"({"service":"kv:free"})", "make-1");
  ASSERT_TRUE(made && made->status == 201) << (made ? made->body : "no response");
  auto const id = json_string(made->body, "id");
  auto const first_key = json_string(made->body, "api_key");

  auto rotated = c.bearer(bearer, "POST", "/resources/" + id + "/rotate", {}, "rotate-1");
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  auto const second_key = json_string(rotated->body, "api_key");
  EXPECT_EQ(second_key.substr(0, 4), "rpk_");
  EXPECT_NE(second_key, first_key);
  auto replayed = c.bearer(bearer, "POST", "/resources/" + id + "/rotate", {}, "rotate-1");
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->body, rotated->body) << "the retry gets the same new credential";
  EXPECT_EQ(replayed->header("Idempotent-Replayed"), "true");
  auto no_key = c.bearer(bearer, "POST", "/resources/" + id + "/rotate");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(json_string(no_key->body, "code"), "idempotency_key_required");

  auto other = open_account(c, attest("bob@example.com"));
  ASSERT_TRUE(other && other->status == 201);
  auto foreign = c.bearer(json_string(other->body, "account_token"), "DELETE", "/resources/" + id,
                          {}, "delete-0");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404);

  auto removed = c.bearer(bearer, "DELETE", "/resources/" + id, {}, "delete-1");
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->status, 200) << removed->body;
  EXPECT_EQ(json_string(removed->body, "status"), "removed");
  auto removed_again = c.bearer(bearer, "DELETE", "/resources/" + id, {}, "delete-2");
  ASSERT_TRUE(removed_again);
  EXPECT_EQ(removed_again->status, 200);
  EXPECT_EQ(json_string(removed_again->body, "status"), "removed");
  auto late_rotation = c.bearer(bearer, "POST", "/resources/" + id + "/rotate", {}, "rotate-2");
  ASSERT_TRUE(late_rotation);
  EXPECT_EQ(late_rotation->status, 404);
  EXPECT_EQ(json_string(late_rotation->body, "reason"), "resource_removed");
}

TEST_F(refprovider_system, the_meter_charges_what_fits_in_the_run_budget_then_stops) {
  ASSERT_TRUE(start_steward());
  // 5 a tick (one vcpu_hour); a run budget of 23 fits four ticks, not five.
  constexpr std::int64_t tick_price = 5, run_budget = 23;
  auto port = start_provider(steward_url_, {"--meter-interval-ms=20", "--meter-units=1"});
  ASSERT_NE(port, 0);
  api_client steward(steward_->public_port());
  auto const user_id = steward_user(steward);
  auto session = steward.bearer(platform_key(), "POST", "/v1/users/" + user_id + "/sessions",
                                R"({"run_budget":{"amount":)" + std::to_string(run_budget) +
                                  R"(,"currency":"usd"},"ttl_seconds":3600,"label":"meter"})",
                                "session-1");
  ASSERT_TRUE(session && session->status == 201) << (session ? session->body : "no response");
  auto const session_id = json_string(session->body, "id");
  auto const session_token = json_string(session->body, "token");
  auto const expires_at = unix_now() + 3600;
  auto const payment_token = mint_payment_token(steward, user_id, 1000, expires_at, "mint-m",
                                                R"(,"session":")" + session_id + "\"");
  ASSERT_FALSE(payment_token.empty());

  api_client c(port);
  auto account = open_account(c, attest("ada@example.com"));
  ASSERT_TRUE(account && account->status == 201);
  auto const bearer = json_string(account->body, "account_token");
  auto made = c.bearer(bearer, "POST", "/resources",
                       resource_body("compute:metered", payment_token, 1000, expires_at),
                       "metered-1");
  ASSERT_TRUE(made && made->status == 201) << (made ? made->body : "no response");
  auto const id = json_string(made->body, "id");

  // The meter stops by itself once steward declines; the deadline only ends a hang.
  std::optional<http_response> shown;
  auto const until = deadline_in(30s);
  while (clock::now() < until) {
    shown = c.bearer(bearer, "GET", "/resources/" + id);
    ASSERT_TRUE(shown && shown->status == 200);
    if (json_string(shown->body, "status") != "ready")
      break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(shown);
  EXPECT_EQ(json_string(shown->body, "status"), "suspended") << shown->body;
  EXPECT_EQ(json_string(shown->body, "reason"), "budget_exceeded");
  constexpr std::int64_t fits = run_budget / tick_price;
  EXPECT_EQ(json_integer(shown->body, "ticks"), fits) << shown->body;
  EXPECT_EQ(json_integer(shown->body, "charged_total"), fits * tick_price);

  // steward agrees: exactly the ticks that fit, never above the run budget.
  EXPECT_EQ(spend_with_ref(steward, user_id), fits * tick_price);
  auto view = steward.bearer(session_token, "GET", "/v1/session");
  ASSERT_TRUE(view && view->status == 200) << (view ? view->body : "no response");
  auto const spent_at = view->body.find(R"("spent":)");
  ASSERT_NE(spent_at, std::string::npos) << view->body;
  auto const spent = json_integer(std::string_view(view->body).substr(spent_at), "amount");
  EXPECT_EQ(spent, fits * tick_price) << view->body;
  EXPECT_LE(spent.value_or(run_budget + 1), run_budget);
}

TEST_F(refprovider_system, a_charge_answered_too_late_is_retried_without_a_second_charge) {
  ASSERT_TRUE(start_steward());
  auto port = start_provider(steward_url_, {"--fault=after-charge-timeout:3000"});
  ASSERT_NE(port, 0);
  api_client steward(steward_->public_port());
  auto const user_id = steward_user(steward);
  auto const expires_at = unix_now() + 3600;
  auto const payment_token = mint_payment_token(steward, user_id, 5000, expires_at, "mint-late");
  api_client c(port);
  auto account = open_account(c, attest("ada@example.com"));
  ASSERT_TRUE(account && account->status == 201);
  auto const bearer = json_string(account->body, "account_token");
  auto const body = resource_body("hosting:pro", payment_token, 5000, expires_at);

  // The caller gives up after 300 ms; the provider charges and stores, then answers at 3 s.
  {
    auto impatient = raw_client::connect(port, deadline_in(5s));
    ASSERT_TRUE(impatient);
    std::string request = "POST /resources HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                          bearer +
                          "\r\nIdempotency-Key: late-1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_TRUE(impatient->send_all(request, deadline_in(5s)));
    EXPECT_FALSE(impatient->read_response(deadline_in(300ms))) << "answered before the deadline";
  }

  // The retry with the same key gets the stored resource (409 while the original still runs).
  std::optional<http_response> retried;
  auto const until = deadline_in(30s);
  while (clock::now() < until) {
    retried = c.bearer(bearer, "POST", "/resources", body, "late-1");
    ASSERT_TRUE(retried);
    if (retried->status != 409)
      break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 201) << retried->body;
  EXPECT_EQ(retried->header("Idempotent-Replayed"), "true");
  EXPECT_EQ(json_string(retried->body, "charge").substr(0, 4), "chg_");
  EXPECT_EQ(spend_with_ref(steward, user_id), 2000) << "exactly one charge";
}

} // namespace
} // namespace steward::test_support
