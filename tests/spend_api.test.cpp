// System tests of the spend API (issue 3): stewardd with its real SQLite journal under a temporary
// data dir, driven over loopback HTTP. Every figure a test asserts (approved counts, spend totals)
// is also read back from the server, so a wrong cap, a double charge or a lost charge fails here.

#include "core/hmac_signature.hpp"
#include "core/ids.hpp"
#include "tests/support/api_client.hpp"
#include "tests/support/hook_receiver.hpp"
#include "tests/support/process.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace steward::test_support {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view charges_path = "/v1/provider/charges";

/// `prefix` then `n` in decimal (an idempotency key).
std::string numbered(std::string_view prefix, int n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

class spend_api : public stewardd_test {
protected:
  /// Starts stewardd with providers `acme` and `other` (in `run_dir` when given: a restart).
  bool start(const std::filesystem::path& run_dir = {}, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--provider=acme=http://127.0.0.1:9",
                                     "--provider=other=http://127.0.0.1:9"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = run_dir.empty() ? start_stewardd(args) : start_stewardd_in(run_dir, args);
    if (server_ == nullptr)
      return false;
    const auto data = server_->run_dir() / "data";
    platform_key_ = read_secret(data / "platform.key");
    acme_secret_ = read_secret(data / "providers" / "acme.secret");
    other_secret_ = read_secret(data / "providers" / "other.secret");
    return !platform_key_.empty() && !acme_secret_.empty();
  }

  std::uint16_t port() const { return server_->public_port(); }
  api_client client() const { return api_client(port()); }

  std::optional<http_response> platform(std::string_view method, std::string_view target,
                                        std::string_view body = {}, std::string_view key = {}) {
    auto c = client();
    return c.bearer(platform_key_, method, target, body, key);
  }

  std::string create_user(const std::string& ref) {
    auto r = platform("PUT", "/v1/users/" + ref, R"({"email":"ada@example.com","name":"Ada"})");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r ? json_string(r->body, "id") : "";
  }

  /// A session of `user` with a run budget of `run_budget` minor units (USD); its id, empty when
  /// it was not created.
  std::string open_session(const std::string& user, std::int64_t run_budget) {
    auto r = platform("POST", "/v1/users/" + user + "/sessions",
                      R"({"run_budget":{"amount":)" + std::to_string(run_budget) + R"(,"currency":"usd"}})");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r && r->status == 201 ? json_string(r->body, "id") : "";
  }

  /// A payment token of `user` for `provider`; with `session`, scoped to that agent session.
  std::string mint_token(const std::string& user, std::int64_t max_amount,
                         const std::string& provider = "acme", bool single_use = false,
                         const std::string& session = {}) {
    std::string body = R"({"provider":")" + provider + R"(","max_amount":{"amount":)" +
                       std::to_string(max_amount) + R"(,"currency":"usd"},"expires_at":)" +
                       std::to_string(unix_now() + 86'400) +
                       (single_use ? R"(,"single_use":true)" : "") +
                       (session.empty() ? "}" : R"(,"session":")" + session + R"("})");
    auto r = platform("POST", "/v1/users/" + user + "/payment_tokens", body,
                      "mint-" + std::to_string(next_key_++));
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r ? json_string(r->body, "id") : "";
  }

  static std::string charge_body(const std::string& token, std::int64_t amount) {
    return R"({"payment_token":")" + token + R"(","amount":)" + std::to_string(amount) +
           R"(,"currency":"usd","description":"plan"})";
  }

  std::optional<http_response> charge(api_client& c, const std::string& token, std::int64_t amount,
                                      const std::string& key, const std::string& provider = "acme") {
    return c.signed_request(provider, provider == "acme" ? acme_secret_ : other_secret_, "POST",
                            charges_path, charge_body(token, amount), key);
  }

  /// Month-to-date spend of `user` with `provider`, read from the server.
  std::int64_t provider_spent(const std::string& user, const std::string& provider = "acme") {
    auto r = platform("GET", "/v1/users/" + user + "/spend");
    EXPECT_TRUE(r && r->status == 200);
    if (!r)
      return -1;
    auto at = r->body.find(R"("provider":")" + provider + "\"");
    if (at == std::string::npos)
      return 0;
    return json_integer(std::string_view(r->body).substr(at), "amount").value_or(-1);
  }

  stewardd_process* server_ = nullptr;
  std::string platform_key_;
  std::string acme_secret_;
  std::string other_secret_;
  int next_key_ = 0;
};

TEST_F(spend_api, a_second_stewardd_on_the_same_data_dir_is_refused) {
  ASSERT_TRUE(start());
  auto second = spawn_stewardd(new_run_dir(), base_args(server_->run_dir()));
  ASSERT_TRUE(second);
  auto status = second->wait_exit(deadline_in(10s));
  ASSERT_TRUE(status) << "the second stewardd kept running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_NE(second->stderr_text().find("in use by another stewardd"), std::string::npos)
    << second->stderr_text();
  // The first one is unharmed.
  EXPECT_EQ(platform("PUT", "/v1/users/still-here", R"({"email":"a@example.com"})")->status, 201);
}

// --- Users, tokens, charges -----------------------------------------------------------------------

TEST_F(spend_api, user_upsert_creates_once_and_updates_what_it_names) {
  ASSERT_TRUE(start());
  auto created = platform("PUT", "/v1/users/auth0%7C42", R"({"email":"ada@example.com"})");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  const std::string id = json_string(created->body, "id");
  EXPECT_EQ(id.substr(0, 4), "usr_");
  EXPECT_NE(created->body.find(R"("platform_ref":"auth0|42")"), std::string::npos) << created->body;

  auto updated = platform("PUT", "/v1/users/auth0%7C42", R"({"name":"Ada"})");
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->status, 200) << updated->body;
  EXPECT_EQ(json_string(updated->body, "id"), id);
  EXPECT_EQ(json_string(updated->body, "email"), "ada@example.com");
  EXPECT_EQ(json_string(updated->body, "name"), "Ada");

  // A new user needs an email; nothing is created without one.
  auto no_email = platform("PUT", "/v1/users/bob", R"({"name":"Bob"})");
  ASSERT_TRUE(no_email);
  EXPECT_EQ(no_email->status, 400);
  EXPECT_EQ(json_string(no_email->body, "code"), "invalid_field");
  auto unknown = platform("PUT", "/v1/users/bob", R"({"emial":"bob@example.com"})");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(json_string(unknown->body, "code"), "unknown_field");
}

TEST_F(spend_api, payment_method_takes_a_psp_token_and_never_a_card_number) {
  ASSERT_TRUE(start());
  auto user = create_user("payer");
  const std::string path = "/v1/users/" + user + "/payment_method";
  auto stored = platform("PUT", path,
                         R"({"psp":"stripe","reference":"pm_1Nabc","last4":"4242","brand":"visa"})");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 200) << stored->body;
  EXPECT_EQ(json_string(stored->body, "reference"), "pm_1Nabc");

  // A card number anywhere is refused, and the answer does not echo it.
  auto card = platform("PUT", path, R"({"psp":"stripe","reference":"4242 4242 4242 4242"})");
  ASSERT_TRUE(card);
  EXPECT_EQ(card->status, 400);
  EXPECT_EQ(json_string(card->body, "code"), "invalid_field");
  EXPECT_EQ(card->body.find("4242 4242"), std::string::npos) << card->body;
  auto audit = platform("GET", "/v1/users/" + user + "/audit?limit=100");
  ASSERT_TRUE(audit);
  EXPECT_EQ(audit->body.find("4242 4242"), std::string::npos) << "nothing of it was journaled";
  EXPECT_NE(audit->body.find("payment_method.set"), std::string::npos);
  auto unknown = platform("PUT", "/v1/users/usr_" + std::string(22, '1') + "/payment_method",
                          R"({"psp":"stripe","reference":"pm_1"})");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(spend_api, charges_answer_the_charge_and_count_in_spend) {
  ASSERT_TRUE(start());
  auto user = create_user("u1");
  auto token = mint_token(user, 5000);
  ASSERT_EQ(token.substr(0, 4), "ptk_");
  auto c = client();
  auto r = charge(c, token, 1299, "c1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json_string(r->body, "object"), "charge");
  EXPECT_EQ(json_string(r->body, "status"), "succeeded");
  EXPECT_EQ(json_string(r->body, "payment_token"), token);
  EXPECT_EQ(json_integer(r->body, "amount"), 1299);
  EXPECT_EQ(provider_spent(user), 1299);
}

TEST_F(spend_api, each_budget_scope_declines_with_its_name_and_changes_nothing) {
  ASSERT_TRUE(start());
  auto user = create_user("scopes");
  auto c = client();

  // token: its own max_amount.
  auto small = mint_token(user, 1000);
  ASSERT_EQ(charge(c, small, 600, "t1")->status, 201);
  auto over = charge(c, small, 401, "t2");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 402) << over->body;
  EXPECT_EQ(json_string(over->body, "code"), "budget_exceeded");
  EXPECT_EQ(json_string(over->body, "scope"), "token");
  EXPECT_EQ(charge(c, small, 400, "t3")->status, 201); // exactly up to the limit

  // provider_monthly: the default $100 cap, with a token that would allow more.
  auto big = mint_token(user, 1'000'000);
  ASSERT_EQ(charge(c, big, 9000, "p1")->status, 201); // 10000 of 10000 spent now
  auto capped = charge(c, big, 1, "p2");
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->status, 402) << capped->body;
  EXPECT_EQ(json_string(capped->body, "scope"), "provider_monthly");
  EXPECT_EQ(provider_spent(user), 10000);

  // global_monthly: a global cap below what another provider would allow.
  auto limits = platform("PUT", "/v1/users/" + user + "/limits",
                         R"({"monthly":{"amount":10500,"currency":"usd"}})");
  ASSERT_TRUE(limits);
  ASSERT_EQ(limits->status, 200) << limits->body;
  auto other = mint_token(user, 5000, "other");
  ASSERT_EQ(charge(c, other, 500, "g1", "other")->status, 201);
  auto global = charge(c, other, 1, "g2", "other");
  ASSERT_TRUE(global);
  EXPECT_EQ(global->status, 402) << global->body;
  EXPECT_EQ(json_string(global->body, "scope"), "global_monthly");

  // Raising the provider cap lets acme charge again, up to the global cap only.
  limits = platform("PUT", "/v1/users/" + user + "/limits",
                    R"({"monthly":null,"providers":{"acme":{"amount":20000,"currency":"usd"}}})");
  ASSERT_TRUE(limits);
  ASSERT_EQ(limits->status, 200) << limits->body;
  EXPECT_EQ(charge(c, big, 1, "p3")->status, 201);
  EXPECT_EQ(provider_spent(user), 10001);
  EXPECT_EQ(provider_spent(user, "other"), 500);
}

TEST_F(spend_api, session_run_budget_declines_with_scope_session) {
  ASSERT_TRUE(start());
  auto user = create_user("runner");
  auto session = platform("POST", "/v1/users/" + user + "/sessions",
                          R"({"run_budget":{"amount":700,"currency":"usd"},"label":"ci",)"
                          R"("intents":{"domains":["superseal.club"]}})");
  ASSERT_TRUE(session);
  ASSERT_EQ(session->status, 201) << session->body;
  const std::string session_id = json_string(session->body, "id");
  const std::string bearer = json_string(session->body, "token");
  ASSERT_EQ(bearer.substr(0, 4), "sst_");

  auto token = mint_token(user, 5000, "acme", false, session_id);
  auto c = client();
  ASSERT_EQ(charge(c, token, 700, "s1")->status, 201);
  auto over = charge(c, token, 1, "s2");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 402) << over->body;
  EXPECT_EQ(json_string(over->body, "scope"), "session");

  // The agent sees its session and its user's spend with the session token, and nothing else.
  auto agent = c.bearer(bearer, "GET", "/v1/session");
  ASSERT_TRUE(agent);
  EXPECT_EQ(agent->status, 200) << agent->body;
  EXPECT_EQ(json_string(agent->body, "id"), session_id);
  EXPECT_EQ(agent->body.find("\"token\""), std::string::npos) << "the token is shown once";
  EXPECT_NE(agent->body.find("superseal.club"), std::string::npos);
  EXPECT_NE(agent->body.find(R"("spent":{"amount":700,"currency":"usd"})"), std::string::npos)
    << agent->body;
  auto spend = c.bearer(bearer, "GET", "/v1/spend");
  ASSERT_TRUE(spend);
  EXPECT_EQ(spend->status, 200);
  auto denied = c.bearer(bearer, "GET", "/v1/users/" + user + "/spend");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401) << "a session token is not the platform key";
  auto forged = c.bearer("sst_" + std::string(43, 'A'), "GET", "/v1/session");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
}

TEST_F(spend_api, a_session_past_its_charges_per_minute_is_rate_limited_and_nothing_is_stored) {
  ASSERT_TRUE(start({}, {"--session-charges-per-minute=2"}));
  auto user = create_user("hasty");
  const std::string session_id = open_session(user, 100000);
  ASSERT_FALSE(session_id.empty());
  auto token = mint_token(user, 5000, "acme", false, session_id);
  auto c = client();
  ASSERT_EQ(charge(c, token, 100, "v1")->status, 201);
  ASSERT_EQ(charge(c, token, 100, "v2")->status, 201);
  auto third = charge(c, token, 100, "v3");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 429) << third->body;
  EXPECT_EQ(json_string(third->body, "code"), "rate_limited");
  EXPECT_EQ(third->header("Retry-After").value_or(""), "60");
  // Not the key's outcome: the same key is refused again, not replayed, and nothing was charged.
  auto again = charge(c, token, 100, "v3");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 429);
  EXPECT_FALSE(again->header("Idempotent-Replayed").has_value());
  EXPECT_EQ(provider_spent(user), 200);
  // A token outside any session is not counted against it.
  auto loose = mint_token(user, 5000);
  EXPECT_EQ(charge(c, loose, 100, "v4")->status, 201);
  EXPECT_EQ(provider_spent(user), 300);
}

/// The value of an unlabelled series in stewardd's /metrics, or -1 when absent.
double metric(std::uint16_t admin_port, std::string_view name) {
  auto r = api_client(admin_port).send("GET", "/metrics");
  if (!r || r->status != 200)
    return -1;
  const std::string prefix = "\n" + std::string(name) + " ";
  const auto at = r->body.find(prefix);
  return at == std::string::npos ? -1 : std::strtod(r->body.c_str() + at + prefix.size(), nullptr);
}

TEST_F(spend_api, an_idle_user_hibernates_and_resumes_from_its_image_with_its_money_intact) {
  ASSERT_TRUE(start({}, {"--user-idle-timeout-ms=200"}));
  const std::uint16_t admin = server_->admin_port();
  auto user = create_user("sleepy");
  auto token = mint_token(user, 5000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 100, "h1")->status, 201);
  auto hibernated = [&] {
    for (int i = 0; i < 200; ++i) {
      if (metric(admin, "steward_users_hibernated") == 1)
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  ASSERT_TRUE(hibernated()) << "no image after 10 s of idleness";
  EXPECT_GT(metric(admin, "steward_user_image_bytes"), 0);

  // Resumed from the image: the charge still counts against the token, a retry of it is a replay,
  // and the token's limit still binds (5000 - 100 - 200 left 4700; 4701 is over it).
  auto second = charge(c, token, 200, "h2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 201) << second->body;
  ASSERT_TRUE(hibernated());
  auto retry = charge(c, token, 100, "h1");
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->status, 201);
  EXPECT_EQ(retry->header("Idempotent-Replayed").value_or(""), "true");
  ASSERT_TRUE(hibernated());
  auto over = charge(c, token, 4701, "h3");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 402) << over->body;
  EXPECT_EQ(provider_spent(user), 300);
  EXPECT_GE(metric(admin, "steward_user_resumptions_total"), 3);
  EXPECT_EQ(metric(admin, "steward_user_activations_total"), 1) << "the journal was read once";
  auto verify = platform("GET", "/v1/users/" + user + "/audit/verify");
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->status, 200);
  EXPECT_NE(verify->body.find(R"("valid":true)"), std::string::npos) << verify->body;
}

TEST_F(spend_api, a_provider_whose_catalog_is_not_fetched_yet_is_503_not_404) {
  // acme and other are configured at an address where nothing answers: no catalog arrives.
  ASSERT_TRUE(start());
  auto user = create_user("early");
  auto session = platform("POST", "/v1/users/" + user + "/sessions",
                          R"({"run_budget":{"amount":1000,"currency":"usd"}})");
  ASSERT_TRUE(session);
  ASSERT_EQ(session->status, 201) << session->body;
  auto c = client();
  auto early = c.bearer(json_string(session->body, "token"), "POST", "/v1/resources",
                        R"({"service":"acme/kv:free"})", "early-1");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503) << early->body;
  EXPECT_EQ(json_string(early->body, "code"), "provider_unavailable");
  EXPECT_EQ(json_string(early->body, "reason"), "catalog_not_loaded");
  EXPECT_EQ(early->header("Retry-After").value_or(""), "1");
  auto unknown = c.bearer(json_string(session->body, "token"), "POST", "/v1/resources",
                          R"({"service":"nobody/kv:free"})", "early-2");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << "a provider steward does not know is not a transient state";
  auto detail = platform("GET", "/v1/catalog/acme/kv:free");
  ASSERT_TRUE(detail);
  EXPECT_EQ(detail->status, 503) << detail->body;
  auto nowhere = platform("GET", "/v1/catalog/nobody/kv:free");
  ASSERT_TRUE(nowhere);
  EXPECT_EQ(nowhere->status, 404);
}

TEST_F(spend_api, refunds_give_back_once_and_only_to_the_charging_provider) {
  ASSERT_TRUE(start());
  auto user = create_user("refunded");
  auto token = mint_token(user, 5000);
  auto c = client();
  auto charged = charge(c, token, 1000, "r-charge");
  ASSERT_TRUE(charged && charged->status == 201);
  const std::string charge_id = json_string(charged->body, "id");
  const std::string path = "/v1/provider/charges/" + charge_id + "/refunds";

  auto refund = c.signed_request("acme", acme_secret_, "POST", path, R"({"amount":300})", "r1");
  ASSERT_TRUE(refund);
  EXPECT_EQ(refund->status, 201) << refund->body;
  EXPECT_EQ(json_string(refund->body, "object"), "refund");
  EXPECT_EQ(json_string(refund->body, "charge"), charge_id);
  auto again = c.signed_request("acme", acme_secret_, "POST", path, R"({"amount":300})", "r1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 201);
  EXPECT_EQ(again->header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again->body, refund->body);
  EXPECT_EQ(provider_spent(user), 700);

  auto too_much = c.signed_request("acme", acme_secret_, "POST", path, R"({"amount":701})", "r2");
  ASSERT_TRUE(too_much);
  EXPECT_EQ(too_much->status, 400) << too_much->body;
  auto other = c.signed_request("other", other_secret_, "POST", path, R"({"amount":1})", "r3");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404) << other->body;
  auto unknown = c.signed_request("acme", acme_secret_, "POST",
                                  "/v1/provider/charges/chg_" + std::string(22, '1') + "/refunds",
                                  R"({"amount":1})", "r4");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(provider_spent(user), 700);

  // The charge -> user index is durable: after a restart the rest can be refunded.
  auto run_dir = server_->run_dir();
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));
  ASSERT_TRUE(start(run_dir));
  auto c2 = client();
  auto rest = c2.signed_request("acme", acme_secret_, "POST", path, R"({"amount":700})", "r5");
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->status, 201) << rest->body;
  EXPECT_EQ(provider_spent(user), 0);
}

/// The user whose `chg:` alias the journal holds for `charge`, read beside the running stewardd
/// (empty when it holds none).
std::string journaled_charge_owner(const std::filesystem::path& journal_db, const std::string& charge) {
  sqlite3* db = nullptr;
  std::string owner;
  if (sqlite3_open_v2(journal_db.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* read = nullptr;
    const std::string key = "chg:" + charge;
    if (sqlite3_prepare_v2(db, "SELECT stream FROM aliases WHERE key = ?1", -1, &read, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(read, 1, key.c_str(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(read) == SQLITE_ROW)
        owner = reinterpret_cast<const char*>(sqlite3_column_text(read, 0));
    }
    sqlite3_finalize(read);
  }
  sqlite3_close(db);
  return owner;
}

// Charge ids carry their millisecond in front of the random part (docs/ledger.md, "Ids"), so the
// journal's chg: alias of each charge lands at the end of its index, not on a random page.
TEST_F(spend_api, charge_ids_sort_in_minting_order_and_each_is_journaled_to_its_user) {
  ASSERT_TRUE(start());
  auto user = create_user("ordered");
  auto token = mint_token(user, 5000);
  auto c = client();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto charged = charge(c, token, 10, "ord-" + std::to_string(i));
    ASSERT_TRUE(charged && charged->status == 201);
    ids.push_back(json_string(charged->body, "id"));
    EXPECT_EQ(ids.back().size(), core::time_ordered_id_bytes) << ids.back();
    EXPECT_TRUE(core::is_valid(core::id_kind::charge, ids.back())) << ids.back();
    std::this_thread::sleep_for(3ms);
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  const auto journal_db = server_->run_dir() / "data" / "journal.db";
  for (const auto& id : ids)
    EXPECT_EQ(journaled_charge_owner(journal_db, id), user) << id;
  // The earliest is refunded through that alias, like any other.
  auto refund = c.signed_request("acme", acme_secret_, "POST",
                                 "/v1/provider/charges/" + ids.front() + "/refunds",
                                 R"({"amount":10})", "ord-r");
  ASSERT_TRUE(refund);
  EXPECT_EQ(refund->status, 201) << refund->body;
  EXPECT_EQ(provider_spent(user), 30);
}

TEST_F(spend_api, an_expired_session_token_opens_nothing) {
  ASSERT_TRUE(start());
  auto user = create_user("brief");
  auto session = platform("POST", "/v1/users/" + user + "/sessions",
                          R"({"run_budget":{"amount":100,"currency":"usd"},"ttl_seconds":2})");
  ASSERT_TRUE(session && session->status == 201);
  const std::string bearer = json_string(session->body, "token");
  auto c = client();
  // A session lives at least its ttl (the expiry rounds the creation time up to a whole second)
  // and less than a second longer.
  EXPECT_EQ(c.bearer(bearer, "GET", "/v1/spend")->status, 200);
  std::this_thread::sleep_for(3100ms);
  EXPECT_EQ(c.bearer(bearer, "GET", "/v1/session")->status, 401);
  EXPECT_EQ(c.bearer(bearer, "GET", "/v1/spend")->status, 401);
}

// --- Concurrency --------------------------------------------------------------------------------

TEST_F(spend_api, a_thousand_racing_charges_approve_exactly_up_to_the_cap) {
  ASSERT_TRUE(start());
  auto user = create_user("race");
  auto token = mint_token(user, 1'000'000);
  constexpr int threads = 16;
  constexpr int per_thread = 63; // 1008 charges of 100 against the 10000 provider cap
  std::atomic<int> approved{0}, declined{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto c = client();
      for (int i = 0; i < per_thread; ++i) {
        auto r = charge(c, token, 100, "race-" + std::to_string(t) + "-" + std::to_string(i));
        if (r && r->status == 201)
          ++approved;
        else if (r && r->status == 402 && json_string(r->body, "scope") == "provider_monthly")
          ++declined;
        else
          ++other;
      }
    });
  for (auto& thread : pool)
    thread.join();
  EXPECT_EQ(approved.load(), 100);
  EXPECT_EQ(declined.load(), threads * per_thread - 100);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(provider_spent(user), 10000);
}

TEST_F(spend_api, five_hundred_retries_of_one_key_make_one_charge) {
  ASSERT_TRUE(start());
  auto user = create_user("retry");
  auto token = mint_token(user, 1'000'000);
  constexpr int threads = 10;
  constexpr int per_thread = 50;
  std::mutex mutex;
  std::set<std::string> bodies;
  std::atomic<int> fresh{0}, replayed{0}, failed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      auto c = client();
      for (int i = 0; i < per_thread; ++i) {
        for (;;) {
          auto r = charge(c, token, 250, "the-one-key");
          if (r && r->status == 409) { // the original is still in flight: retry, as clients do
            EXPECT_EQ(json_string(r->body, "code"), "idempotency_in_flight");
            EXPECT_TRUE(r->header("Retry-After"));
            continue;
          }
          if (!r || r->status != 201) {
            ++failed;
            break;
          }
          (r->header("Idempotent-Replayed") == "true" ? replayed : fresh)++;
          std::lock_guard lock(mutex);
          bodies.insert(r->body);
          break;
        }
      }
    });
  for (auto& thread : pool)
    thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(replayed.load(), threads * per_thread - 1);
  EXPECT_EQ(bodies.size(), 1u) << "every replay is the original answer";
  EXPECT_EQ(provider_spent(user), 250);

  // The same key with another body is a conflict, and charges nothing.
  auto c = client();
  auto conflict = charge(c, token, 251, "the-one-key");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->status, 422);
  EXPECT_EQ(json_string(conflict->body, "code"), "idempotency_conflict");
  EXPECT_EQ(provider_spent(user), 250);
}

// --- Auth -----------------------------------------------------------------------------------------

TEST_F(spend_api, unauthorised_forged_and_cross_principal_requests_change_nothing) {
  ASSERT_TRUE(start());
  auto user = create_user("victim");
  auto token = mint_token(user, 5000);
  auto c = client();
  const std::string body = charge_body(token, 100);

  // A signature made with another provider's secret, a stale one, a body changed after signing.
  auto wrong_secret = c.signed_request("acme", other_secret_, "POST", charges_path, body, "f1");
  ASSERT_TRUE(wrong_secret);
  EXPECT_EQ(wrong_secret->status, 401);
  EXPECT_EQ(json_string(wrong_secret->body, "code"), "unauthorized");
  auto stale = c.signed_request("acme", acme_secret_, "POST", charges_path, body, "f2",
                                unix_now() - 301);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 401);
  std::string headers = "Steward-Provider: acme\r\nIdempotency-Key: f3\r\nSteward-Signature: " +
                        core::sign(acme_secret_, unix_now(),
                                   core::signed_request{"POST", charges_path, "f3",
                                                        charge_body(token, 1)}) + "\r\n";
  auto tampered = c.send("POST", charges_path, headers, body);
  ASSERT_TRUE(tampered);
  EXPECT_EQ(tampered->status, 401);
  auto unsigned_request = c.send("POST", charges_path, "Idempotency-Key: f4\r\n", body);
  ASSERT_TRUE(unsigned_request);
  EXPECT_EQ(unsigned_request->status, 401);

  // Another provider charging acme's token: not found (its existence is not revealed).
  auto cross = charge(c, token, 100, "f5", "other");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 404) << cross->body;
  EXPECT_EQ(json_string(cross->body, "code"), "not_found");

  // Missing key, malformed body, unknown token, unknown user, bad platform key.
  auto no_key = c.signed_request("acme", acme_secret_, "POST", charges_path, body, "");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 400);
  EXPECT_EQ(json_string(no_key->body, "code"), "idempotency_key_required");
  auto malformed = c.signed_request("acme", acme_secret_, "POST", charges_path, "{\"amount\":", "f6");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(json_string(malformed->body, "code"), "invalid_json");
  auto unknown_token = charge(c, "ptk_" + std::string(22, '1'), 100, "f7");
  ASSERT_TRUE(unknown_token);
  EXPECT_EQ(unknown_token->status, 404);
  auto unknown_user = platform("GET", "/v1/users/usr_" + std::string(22, '1') + "/spend");
  ASSERT_TRUE(unknown_user);
  EXPECT_EQ(unknown_user->status, 404);
  auto bad_key = c.bearer("spk_not-the-key", "GET", "/v1/users/" + user + "/spend");
  ASSERT_TRUE(bad_key);
  EXPECT_EQ(bad_key->status, 401);

  EXPECT_EQ(provider_spent(user), 0);
}

// --- Kill switch ----------------------------------------------------------------------------------

TEST_F(spend_api, kills_at_every_scope_stop_charges_and_lift) {
  ASSERT_TRUE(start());
  auto user = create_user("killme");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  int key = 0;
  auto next = [&] { return numbered("k", key++); };
  ASSERT_EQ(charge(c, token, 10, next())->status, 201);

  for (const std::string& kill_body :
       {std::string(R"({"scope":"global"})"), std::string(R"({"scope":"provider","id":"acme"})"),
        R"({"scope":"user","id":")" + user + R"("})"}) {
    auto killed = platform("POST", "/v1/kill", kill_body);
    ASSERT_TRUE(killed);
    ASSERT_EQ(killed->status, 200) << killed->body;
    auto refused = charge(c, token, 10, next());
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403) << kill_body << " " << refused->body;
    EXPECT_EQ(json_string(refused->body, "code"), "killed");
    auto lifted = platform("DELETE", "/v1/kill", kill_body);
    ASSERT_TRUE(lifted);
    ASSERT_EQ(lifted->status, 200) << lifted->body;
    EXPECT_EQ(charge(c, token, 10, next())->status, 201) << kill_body;
  }
  auto unknown = platform("POST", "/v1/kill", R"({"scope":"provider","id":"nobody"})");
  auto no_token = platform("POST", "/v1/users/" + user + "/payment_tokens",
                           R"({"provider":"nobody","max_amount":{"amount":1,"currency":"usd"},)"
                           R"("expires_at":)" + std::to_string(unix_now() + 60) + "}",
                           "unconfigured");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 400) << "no token for a provider that is not configured";
  EXPECT_EQ(json_string(no_token->body, "field"), "/provider");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(provider_spent(user), 40);
}

/// Whether `done` holds within 5 s, asked every 50 ms: for what the user actor does after a
/// kill's ack.
bool within_5s(const std::function<bool()>& done) {
  for (int i = 0; i < 100; ++i) {
    if (done())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

/// Whether `user`'s audit log holds `needle` within 5 s (the user actor journals a registered kill
/// after its ack).
bool audit_shows(const std::function<std::optional<http_response>()>& audit, std::string_view needle) {
  return within_5s([&] {
    auto r = audit();
    return r && r->status == 200 && r->body.find(needle) != std::string::npos;
  });
}

TEST_F(spend_api, user_and_session_kills_are_registered_then_journaled_in_the_users_stream) {
  ASSERT_TRUE(start());
  auto user = create_user("registered");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 10, "r1")->status, 201);
  auto audit = [&] { return platform("GET", "/v1/users/" + user + "/audit?limit=100"); };

  // Acknowledged once the kill register has it; the user's stream gets it afterwards.
  const std::string kill_user = R"({"scope":"user","id":")" + user + R"("})";
  ASSERT_EQ(platform("POST", "/v1/kill", kill_user)->status, 200);
  EXPECT_EQ(charge(c, token, 10, "r2")->status, 403);
  EXPECT_TRUE(audit_shows(audit, R"("type":"kill.set")"));
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_user)->status, 200);
  EXPECT_EQ(charge(c, token, 10, "r3")->status, 201);

  // A crash between the register's commit and the journal's: the register alone has the kill.
  // It is in force at once after the restart, and the user's next activation journals it.
  auto run_dir = server_->run_dir();
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((run_dir / "data" / "kills.db").c_str(), &db), SQLITE_OK);
    const std::string insert = "INSERT INTO kills (scope, id, active, at) VALUES ('user', '" +
                               user + "', 1, " + std::to_string(unix_now()) +
                               ") ON CONFLICT (scope, id) DO UPDATE SET active = 1";
    EXPECT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  ASSERT_TRUE(start(run_dir));
  auto c2 = client();
  auto refused = charge(c2, token, 10, "r4");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_EQ(json_string(refused->body, "code"), "killed");
  // user, token, charge, kill, lift, charge, and the kill journaled at this activation.
  EXPECT_TRUE(audit_shows(audit, R"("seq":7,"type":"kill.set")")) << audit()->body;
  auto verify = platform("GET", "/v1/users/" + user + "/audit/verify");
  ASSERT_TRUE(verify);
  EXPECT_NE(verify->body.find(R"("valid":true)"), std::string::npos) << verify->body;
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_user)->status, 200);
  EXPECT_EQ(charge(c2, token, 10, "r5")->status, 201);

  // A session's kill takes the same path, and stops only that session's tokens.
  const std::string session_id = open_session(user, 100000);
  ASSERT_FALSE(session_id.empty());
  auto session_token = mint_token(user, 5000, "acme", false, session_id);
  const std::string kill_session = R"({"scope":"session","id":")" + session_id + R"("})";
  ASSERT_EQ(platform("POST", "/v1/kill", kill_session)->status, 200);
  EXPECT_EQ(charge(c2, session_token, 10, "r6")->status, 403);
  EXPECT_EQ(charge(c2, token, 10, "r7")->status, 201) << "a token outside the session";
  EXPECT_TRUE(audit_shows(audit, R"("session":")" + session_id + R"(","active":true)"))
    << "the session's kill.set: " << audit()->body;
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_session)->status, 200);
  EXPECT_EQ(charge(c2, session_token, 10, "r8")->status, 201);
  EXPECT_EQ(provider_spent(user), 50);
}

/// The kill register's rows for `id` (a user or session id), read beside the running stewardd.
int register_rows(const std::filesystem::path& kills_db, const std::string& id) {
  sqlite3* db = nullptr;
  int rows = -1;
  if (sqlite3_open_v2(kills_db.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* count = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kills WHERE id = ?1", -1, &count, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(count, 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(count) == SQLITE_ROW)
        rows = sqlite3_column_int(count, 0);
    }
    sqlite3_finalize(count);
  }
  sqlite3_close(db);
  return rows;
}

/// Whether `register_rows` becomes `expected` within 5 s.
bool register_rows_become(const std::filesystem::path& kills_db, const std::string& id, int expected) {
  return within_5s([&] { return register_rows(kills_db, id) == expected; });
}

TEST_F(spend_api, a_user_or_session_kill_leaves_the_register_once_the_users_stream_shows_it) {
  ASSERT_TRUE(start());
  auto user = create_user("settled");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  auto const kills_db = server_->run_dir() / "data" / "kills.db";
  const std::string kill_user = R"({"scope":"user","id":")" + user + R"("})";

  // The kill: registered, journaled by the user actor, then its row removed; the ledger holds it.
  ASSERT_EQ(platform("POST", "/v1/kill", kill_user)->status, 200);
  EXPECT_TRUE(register_rows_become(kills_db, user, 0)) << register_rows(kills_db, user);
  EXPECT_EQ(charge(c, token, 10, "s1")->status, 403) << "still killed, by the ledger";
  // The lift takes the same way.
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_user)->status, 200);
  EXPECT_TRUE(register_rows_become(kills_db, user, 0)) << register_rows(kills_db, user);
  EXPECT_EQ(charge(c, token, 10, "s2")->status, 201);

  // A session's kill too; then a crash: the ledger alone keeps it in force.
  const std::string session_id = open_session(user, 100000);
  ASSERT_FALSE(session_id.empty());
  auto session_token = mint_token(user, 5000, "acme", false, session_id);
  ASSERT_EQ(platform("POST", "/v1/kill", R"({"scope":"session","id":")" + session_id + R"("})")->status, 200);
  EXPECT_TRUE(register_rows_become(kills_db, session_id, 0)) << register_rows(kills_db, session_id);
  ASSERT_EQ(platform("POST", "/v1/kill", kill_user)->status, 200);
  EXPECT_TRUE(register_rows_become(kills_db, user, 0));

  auto run_dir = server_->run_dir();
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));
  ASSERT_TRUE(start(run_dir));
  auto c2 = client();
  EXPECT_EQ(charge(c2, token, 10, "s3")->status, 403) << "the user's kill survived without its row";
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_user)->status, 200);
  EXPECT_EQ(charge(c2, token, 10, "s4")->status, 201);
  EXPECT_EQ(charge(c2, session_token, 10, "s5")->status, 403) << "and the session's";
  EXPECT_TRUE(register_rows_become(kills_db, user, 0));
  EXPECT_EQ(provider_spent(user), 20);
}

TEST_F(spend_api, the_operator_kills_on_the_admin_listener_with_the_admin_token) {
  ASSERT_TRUE(start());
  const auto admin_token = read_secret(server_->run_dir() / "data" / "admin.token");
  ASSERT_FALSE(admin_token.empty());
  auto user = create_user("operated");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 10, "o1")->status, 201);
  api_client admin(server_->admin_port());
  const std::string kill_user = R"({"scope":"user","id":")" + user + R"("})";

  // Each listener takes its own credential only, and a refusal changes nothing.
  auto wrong = admin.bearer(platform_key_, "POST", "/v1/kill", kill_user);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401) << wrong->body;
  auto public_with_admin_token = c.bearer(admin_token, "POST", "/v1/kill", kill_user);
  ASSERT_TRUE(public_with_admin_token);
  EXPECT_EQ(public_with_admin_token->status, 401);
  EXPECT_EQ(charge(c, token, 10, "o2")->status, 201);

  // The same kill switch: in force at the answer, at every scope, and lifted the same way.
  for (const std::string& body : {kill_user, std::string(R"({"scope":"provider","id":"acme"})"),
                                  std::string(R"({"scope":"global"})")}) {
    auto killed = admin.bearer(admin_token, "POST", "/v1/kill", body);
    ASSERT_TRUE(killed);
    ASSERT_EQ(killed->status, 200) << killed->body;
    EXPECT_NE(killed->body.find(R"("active":true)"), std::string::npos) << killed->body;
    auto refused = charge(c, token, 10, "o3");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403) << body;
    EXPECT_EQ(json_string(refused->body, "code"), "killed");
    auto lifted = admin.bearer(admin_token, "DELETE", "/v1/kill", body);
    ASSERT_TRUE(lifted);
    ASSERT_EQ(lifted->status, 200) << lifted->body;
  }
  auto unknown = admin.bearer(admin_token, "POST", "/v1/kill", R"({"scope":"provider","id":"nobody"})");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(charge(c, token, 10, "o3")->status, 201) << "the refused key runs once lifted";
  EXPECT_EQ(provider_spent(user), 30);
}

/// Nice value of each of stewardd's threads, by thread name (names repeat: the lowest first).
std::multimap<std::string, int> thread_nice_values(pid_t pid) {
  std::multimap<std::string, int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // After ") ": state is field 3, nice is field 19.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
    }
    out.emplace(name, std::stoi(field));
  }
  return out;
}

TEST_F(spend_api, the_threads_that_carry_charges_yield_to_the_kill_path) {
  ASSERT_TRUE(start());
  auto nice = thread_nice_values(server_->process().pid());
  auto only = [&](const std::string& name) {
    auto [first, last] = nice.equal_range(name);
    EXPECT_NE(first, last) << "no thread named " << name;
    std::set<int> values;
    for (auto it = first; it != last; ++it)
      values.insert(it->second);
    return values;
  };
  // --bulk-nice defaults to 5: the charges' threads.
  EXPECT_EQ(only("io-public-0"), std::set<int>{5});
  EXPECT_EQ(only("journal-writer"), std::set<int>{5});
  EXPECT_EQ(only("journal-ckpt"), std::set<int>{5});
  EXPECT_EQ(only("loader-0"), std::set<int>{5});
  // The kill path keeps the process's own.
  EXPECT_EQ(only("io-admin-0"), std::set<int>{0});
  EXPECT_EQ(only("kill-register"), std::set<int>{0});

  // --bulk-nice=0: every thread equal.
  ASSERT_TRUE(server_->process().signal(SIGTERM));
  server_->process().wait_exit(deadline_in(10s));
  ASSERT_TRUE(start({}, {"--bulk-nice=0"}));
  for (const auto& [name, value] : thread_nice_values(server_->process().pid()))
    EXPECT_EQ(value, 0) << name;
}

TEST_F(spend_api, the_kill_register_may_live_outside_the_data_dir) {
  // On another disk in production (docs/configuration.md); here another directory.
  const auto elsewhere = work_dir() / "kills-disk";
  std::filesystem::create_directories(elsewhere);
  const std::string flag = "--kill-register=" + (elsewhere / "kills.db").string();
  ASSERT_TRUE(start({}, {flag}));
  auto user = create_user("elsewhere");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 10, "e1")->status, 201);
  const std::string kill_acme = R"({"scope":"provider","id":"acme"})";
  ASSERT_EQ(platform("POST", "/v1/kill", kill_acme)->status, 200);
  EXPECT_TRUE(std::filesystem::exists(elsewhere / "kills.db"));
  auto run_dir = server_->run_dir();
  EXPECT_FALSE(std::filesystem::exists(run_dir / "data" / "kills.db"));

  // After a crash, the same register puts the kill in force at once.
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));
  ASSERT_TRUE(start(run_dir, {flag}));
  auto c2 = client();
  auto refused = charge(c2, token, 10, "e2");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_EQ(json_string(refused->body, "code"), "killed");
  ASSERT_EQ(platform("DELETE", "/v1/kill", kill_acme)->status, 200);
  EXPECT_EQ(charge(c2, token, 10, "e3")->status, 201);
  EXPECT_EQ(provider_spent(user), 20);
}

TEST_F(spend_api, no_charge_sent_after_a_kill_ack_is_approved) {
  ASSERT_TRUE(start());
  auto user = create_user("racekill");
  auto token = mint_token(user, 1'000'000);
  constexpr int threads = 8;
  std::atomic<bool> acked{false};
  std::atomic<bool> stop{false};
  std::atomic<int> approved{0}, approved_after_ack{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto c = client();
      for (int i = 0; !stop; ++i) {
        const bool sent_after_ack = acked.load();
        auto r = charge(c, token, 1, "rk-" + std::to_string(t) + "-" + std::to_string(i));
        if (r && r->status == 201) {
          ++approved;
          if (sent_after_ack)
            ++approved_after_ack;
        }
      }
    });
  std::this_thread::sleep_for(300ms);
  auto killed = platform("POST", "/v1/kill", R"({"scope":"user","id":")" + user + R"("})");
  ASSERT_TRUE(killed);
  ASSERT_EQ(killed->status, 200);
  acked = true;
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& thread : pool)
    thread.join();
  EXPECT_GT(approved.load(), 0);
  EXPECT_EQ(approved_after_ack.load(), 0);
  EXPECT_EQ(provider_spent(user), approved.load()) << "every approved charge, and nothing else";
}

// --- Webhooks -------------------------------------------------------------------------------------

/// Whether a webhook carries a valid signature by `secret` over its own id and body.
bool signed_by(const received_request& hook, const std::string& secret) {
  return core::verify(secret, hook.header("Steward-Signature"), unix_now(),
                      core::signed_request{hook.method, hook.target,
                                           hook.header("Idempotency-Key"), hook.body}) ==
         core::signature_error::none;
}

TEST_F(spend_api, thresholds_and_kills_reach_the_platform_signed_and_retried) {
  hook_receiver platform_hooks({500}); // the first delivery fails and must be retried
  ASSERT_TRUE(start({}, {"--webhook-url=http://127.0.0.1:" +
                         std::to_string(platform_hooks.port()) + "/hooks"}));
  auto user = create_user("watched");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 5000, "half")->status, 201); // 50 % of the $100 provider cap
  auto killed = platform("POST", "/v1/kill", R"({"scope":"provider","id":"acme"})");
  ASSERT_TRUE(killed && killed->status == 200);

  auto hooks = platform_hooks.wait_for(3, 20);
  ASSERT_EQ(hooks.size(), 3u);
  EXPECT_EQ(hooks[0].answered, 500);
  EXPECT_EQ(hooks[1].header("Idempotency-Key"), hooks[0].header("Idempotency-Key"))
    << "a retry is the same event";
  EXPECT_EQ(hooks[1].body, hooks[0].body);
  const auto& threshold = hooks[1];
  EXPECT_EQ(threshold.method, "POST");
  EXPECT_EQ(threshold.target, "/hooks");
  EXPECT_EQ(threshold.header("Steward-Event"), "budget.threshold");
  EXPECT_EQ(threshold.header("Idempotency-Key").substr(0, 4), "evt_");
  EXPECT_TRUE(signed_by(threshold, platform_key_));
  EXPECT_FALSE(signed_by(threshold, acme_secret_));
  EXPECT_NE(threshold.body.find(R"("scope":"provider_monthly","percent":50)"), std::string::npos)
    << threshold.body;
  EXPECT_NE(threshold.body.find(R"("user":")" + user + "\""), std::string::npos);
  const auto& kill = hooks[2];
  EXPECT_EQ(kill.header("Steward-Event"), "kill.activated");
  EXPECT_TRUE(signed_by(kill, platform_key_));
  EXPECT_NE(kill.body.find(R"("scope":"provider","id":"acme")"), std::string::npos) << kill.body;
}

TEST_F(spend_api, webhooks_wait_in_the_journal_until_they_can_be_delivered) {
  ASSERT_TRUE(start()); // no webhook URL: nothing can be sent yet
  auto run_dir = server_->run_dir();
  auto user = create_user("patient");
  auto token = mint_token(user, 1'000'000);
  auto c = client();
  ASSERT_EQ(charge(c, token, 8000, "eighty")->status, 201); // crosses 50 % and 80 %
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));

  hook_receiver platform_hooks;
  ASSERT_TRUE(start(run_dir, {"--webhook-url=http://127.0.0.1:" +
                              std::to_string(platform_hooks.port()) + "/hooks"}));
  auto hooks = platform_hooks.wait_for(2, 20);
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_NE(hooks[0].body.find(R"("percent":50)"), std::string::npos) << hooks[0].body;
  EXPECT_NE(hooks[1].body.find(R"("percent":80)"), std::string::npos) << hooks[1].body;
  // Delivered ones are not sent again.
  EXPECT_EQ(platform_hooks.wait_for(3, 1).size(), 2u);
}

// --- Durability -----------------------------------------------------------------------------------

TEST_F(spend_api, kill_9_during_a_charge_storm_loses_no_acknowledged_charge) {
  ASSERT_TRUE(start());
  auto run_dir = server_->run_dir();
  auto user = create_user("storm");
  auto token = mint_token(user, 1'000'000'000);
  auto provider_kill = platform("POST", "/v1/kill", R"({"scope":"provider","id":"other"})");
  ASSERT_TRUE(provider_kill && provider_kill->status == 200);
  ASSERT_EQ(platform("PUT", "/v1/users/" + user + "/limits",
                     R"({"providers":{"acme":{"amount":1000000000,"currency":"usd"}}})")
              ->status,
            200);

  constexpr int threads = 8;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<std::string, std::string> acknowledged; // key -> charge id
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto c = client();
      for (int i = 0; !stop; ++i) {
        std::string key = "storm-" + std::to_string(t) + "-" + std::to_string(i);
        auto r = charge(c, token, 3, key);
        if (!r)
          return; // the server died under us
        if (r->status == 201) {
          std::lock_guard lock(mutex);
          acknowledged.emplace(key, json_string(r->body, "id"));
        }
      }
    });
  std::this_thread::sleep_for(700ms);
  ASSERT_TRUE(server_->process().signal(SIGKILL));
  server_->process().wait_exit(deadline_in(5s));
  stop = true;
  for (auto& thread : pool)
    thread.join();
  ASSERT_GT(acknowledged.size(), 0u);

  // Restart over the same data dir: every acknowledged charge is there, none twice.
  ASSERT_TRUE(start(run_dir));
  const auto spent = provider_spent(user);
  EXPECT_GE(spent, static_cast<std::int64_t>(acknowledged.size()) * 3);
  auto c = client();
  for (const auto& [key, id] : acknowledged) {
    auto again = charge(c, token, 3, key);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 201);
    EXPECT_EQ(again->header("Idempotent-Replayed"), "true") << key;
    EXPECT_EQ(json_string(again->body, "id"), id) << key;
  }
  EXPECT_EQ(provider_spent(user), spent) << "replays charged nothing";
  // Charges the client never heard about count once: spend is a multiple of the amount.
  EXPECT_EQ(spent % 3, 0);

  auto verify = platform("GET", "/v1/users/" + user + "/audit/verify");
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->status, 200) << verify->body;
  EXPECT_NE(verify->body.find(R"("valid":true)"), std::string::npos) << verify->body;
  auto events = json_integer(verify->body, "events");
  ASSERT_TRUE(events);
  // user, limits, token, then one event per stored charge.
  EXPECT_EQ(*events, 3 + spent / 3);

  // The provider kill survived the restart.
  auto killed = charge(c, mint_token(user, 100, "other"), 1, "after-restart", "other");
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->status, 403);
}

TEST_F(spend_api, audit_lists_events_in_order_and_pages) {
  ASSERT_TRUE(start());
  auto user = create_user("audited");
  auto token = mint_token(user, 5000);
  auto c = client();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(charge(c, token, 100, numbered("a", i))->status, 201);
  auto first = platform("GET", "/v1/users/" + user + "/audit?limit=2");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_NE(first->body.find(R"("seq":1,"type":"user.upserted")"), std::string::npos) << first->body;
  EXPECT_NE(first->body.find(R"("seq":2,"type":"token.created")"), std::string::npos) << first->body;
  EXPECT_NE(first->body.find(R"("has_more":true)"), std::string::npos);
  auto rest = platform("GET", "/v1/users/" + user + "/audit?limit=10&starting_after=2");
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->status, 200);
  EXPECT_NE(rest->body.find(R"("seq":5,"type":"charge.created")"), std::string::npos) << rest->body;
  EXPECT_NE(rest->body.find(R"("has_more":false)"), std::string::npos);
  auto bad = platform("GET", "/v1/users/" + user + "/audit?limit=0");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

} // namespace
} // namespace steward::test_support
