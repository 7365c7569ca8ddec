#include "core/provider_protocol.hpp"

#include "core/sha256.hpp"

#include <gtest/gtest.h>

#include <array>

namespace steward::core {
namespace {

TEST(ProviderProtocol, ReadsACreatedAccount) {
  auto answer = read_account_answer(
    R"({"outcome":"created","account_id":"acct_1","credentials":{"account_token":"rpk_x"},"extra":1})");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->what, account_answer::kind::created);
  EXPECT_EQ(answer->account_id, "acct_1");
  EXPECT_EQ(answer->account_token, "rpk_x");
}

TEST(ProviderProtocol, ReadsOauthRequired) {
  auto answer = read_account_answer(
    R"({"outcome":"oauth_required","authorize_url":"https://p.example/oauth/authorize?client_id=s"})");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->what, account_answer::kind::oauth_required);
  EXPECT_EQ(answer->authorize_url, "https://p.example/oauth/authorize?client_id=s");
  EXPECT_TRUE(answer->account_id.empty());
  auto named = read_account_answer(
    R"({"outcome":"oauth_required","account_id":"acct_9","authorize_url":"https://p.example/a"})");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->account_id, "acct_9");
  EXPECT_FALSE(read_account_answer(
    R"({"outcome":"oauth_required","account_id":7,"authorize_url":"https://p.example/a"})"));
}

TEST(ProviderProtocol, RefusesAccountAnswersItCannotUse) {
  for (const char* body : {
         R"({"outcome":"created","account_id":"a"})",                       // no token
         R"({"outcome":"created","credentials":{"account_token":"t"}})",     // no id
         R"({"outcome":"created","account_id":"a","credentials":{"account_token":""}})",
         R"({"outcome":"created","account_id":"a b","credentials":{"account_token":"t"}})",
         R"j({"outcome":"oauth_required","authorize_url":"javascript:alert(1)"})j",
         R"({"outcome":"linked","account_id":"a"})",
         R"([1])", R"(not json)", R"()"}) {
    EXPECT_FALSE(read_account_answer(body)) << body;
  }
}

TEST(ProviderProtocol, ReadsAResourceWithItsCredentialsWhole) {
  auto answer = read_resource_answer(
    R"({"id":"res_p1","object":"resource","status":"ready","credentials": {"api_key" : "k", "n":[1,2]},)"
    R"("price":{"amount":1200,"currency":"usd","interval":"one_time"}})");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->id, "res_p1");
  EXPECT_EQ(answer->status, "ready");
  EXPECT_EQ(answer->credentials, R"({"api_key":"k","n":[1,2]})");
  ASSERT_TRUE(answer->price);
  EXPECT_EQ(answer->price->amount, 1200);
}

TEST(ProviderProtocol, RefusesResourceAnswersItCannotUse) {
  for (const char* body : {
         R"({"id":"r","status":"exploded"})", R"({"status":"ready"})",
         R"({"id":"r","status":"ready","credentials":"k"})",
         R"({"id":"r","status":"ready","price":{"amount":-1,"currency":"usd"}})",
         R"({"id":"r","status":"ready","price":{"amount":1,"currency":"USD"}})"}) {
    EXPECT_FALSE(read_resource_answer(body)) << body;
  }
}

TEST(ProviderProtocol, OrderBodyIsDeterministicAndCarriesTheToken) {
  order_token token{"ptk_a", money{1200, currency::usd}, 1'800'000'000};
  auto a = resource_order_body("registrar:domain", "superseal.club", R"({"name":"superseal.club"})",
                               token);
  EXPECT_EQ(a, R"({"service":"registrar:domain","name":"superseal.club","config":{"name":"superseal.club"},)"
               R"("payment_token":{"id":"ptk_a","max_amount":1200,"currency":"usd","expires_at":1800000000}})");
  EXPECT_EQ(a, resource_order_body("registrar:domain", "superseal.club",
                                   R"({"name":"superseal.club"})", token));
  EXPECT_EQ(resource_order_body("free:dns", "", "{}", std::nullopt),
            R"({"service":"free:dns","name":"","config":{}})");
}

TEST(ProviderProtocol, PkceVerifierIsKeyedAndTheChallengeIsS256) {
  std::array<std::uint8_t, 32> key{};
  key[0] = 1;
  auto verifier = pkce_verifier(key, "apr_one");
  EXPECT_EQ(verifier.size(), 43u); // RFC 7636: 43 to 128 characters
  EXPECT_EQ(verifier, pkce_verifier(key, "apr_one"));
  EXPECT_NE(verifier, pkce_verifier(key, "apr_two"));
  key[0] = 2;
  EXPECT_NE(verifier, pkce_verifier(key, "apr_one"));
  // RFC 7636 appendix B's example.
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(ProviderProtocol, AuthorizeUrlGetsStateAndChallenge) {
  EXPECT_EQ(authorize_url_with_pkce("https://p.example/authorize?client_id=s", "apr_1", "abc"),
            "https://p.example/authorize?client_id=s&state=apr_1&code_challenge=abc&"
            "code_challenge_method=S256");
  EXPECT_EQ(authorize_url_with_pkce("https://p.example/authorize", "a b", "c"),
            "https://p.example/authorize?state=a%20b&code_challenge=c&code_challenge_method=S256");
}

TEST(ProviderProtocol, TokenFormEncodesEveryValue) {
  EXPECT_EQ(token_request_form("c&d=1", "v", "http://127.0.0.1:8/oauth/callback", "steward"),
            "grant_type=authorization_code&code=c%26d%3D1&code_verifier=v&redirect_uri="
            "http%3A%2F%2F127.0.0.1%3A8%2Foauth%2Fcallback&client_id=steward");
}

TEST(ProviderProtocol, ReadsTheCallback) {
  auto ok = read_oauth_callback("code=abc%2B&state=apr_1");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->code, "abc+");
  EXPECT_EQ(ok->state, "apr_1");
  auto refused = read_oauth_callback("error=access_denied&state=apr_1");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error, "access_denied");
  EXPECT_FALSE(read_oauth_callback("code=a"));                  // no state
  EXPECT_FALSE(read_oauth_callback("state=apr_1"));             // neither code nor error
  EXPECT_FALSE(read_oauth_callback("code=a&code=b&state=s"));   // repeated
  EXPECT_FALSE(read_oauth_callback("code=%zz&state=s"));        // malformed escape
}

TEST(ProviderProtocol, TokenAnswer) {
  auto ok = read_token_answer(R"({"access_token":"t","account_id":"a","expires_in":3600})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->access_token, "t");
  EXPECT_FALSE(read_token_answer(R"({"access_token":"t"})"));
}

} // namespace
} // namespace steward::core
