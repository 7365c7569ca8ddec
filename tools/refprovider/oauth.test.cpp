#include "tools/refprovider/oauth.hpp"

#include "tools/refprovider/limits.hpp"

#include <gtest/gtest.h>

#include <random>

namespace steward::refprovider {
namespace {

/// Seeded bytes, or a failure when told to.
class test_random final : public core::random_source {
public:
  bool fill(std::span<std::uint8_t> out) noexcept override {
    if (fail)
      return false;
    for (auto& byte : out)
      byte = static_cast<std::uint8_t>(engine_());
    return true;
  }
  bool fail = false;

private:
  std::mt19937 engine_{7};
};

// RFC 7636 appendix B.
constexpr std::string_view rfc_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view rfc_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

TEST(oauth_pkce, the_rfc_7636_appendix_b_vector) {
  EXPECT_EQ(s256_challenge(rfc_verifier), rfc_challenge);
  EXPECT_TRUE(pkce_matches(rfc_verifier, rfc_challenge));
  std::string other(rfc_verifier);
  other.back() = 'j';
  EXPECT_FALSE(pkce_matches(other, rfc_challenge));
  std::string bent(rfc_challenge);
  bent.front() = 'F';
  EXPECT_FALSE(pkce_matches(rfc_verifier, bent));
  EXPECT_FALSE(pkce_matches(rfc_challenge, rfc_challenge)) << "plain is not S256";
}

TEST(oauth_pkce, verifier_length_and_alphabet) {
  EXPECT_FALSE(is_code_verifier(std::string(42, 'a')));
  EXPECT_TRUE(is_code_verifier(std::string(43, 'a')));
  EXPECT_TRUE(is_code_verifier(std::string(128, '~')));
  EXPECT_FALSE(is_code_verifier(std::string(129, 'a')));
  EXPECT_TRUE(is_code_verifier("AZaz09-._~" + std::string(33, 'x')));
  for (char bad : {'+', '/', '=', ' ', '%', '\0', '\xc3'}) {
    auto verifier = std::string(42, 'a') + bad;
    EXPECT_FALSE(is_code_verifier(verifier)) << int(bad);
    // A verifier outside the alphabet never matches, even against its own hash.
    EXPECT_FALSE(pkce_matches(verifier, s256_challenge(verifier))) << int(bad);
  }
  EXPECT_TRUE(is_s256_challenge(rfc_challenge));
  EXPECT_FALSE(is_s256_challenge(std::string(rfc_challenge) + "="));
  EXPECT_FALSE(is_s256_challenge(std::string(42, 'a') + "+"));
}

TEST(oauth_redirect_uri, absolute_http_s_and_http_only_to_loopback) {
  EXPECT_FALSE(redirect_uri_problem("https://app.example.com/cb"));
  EXPECT_FALSE(redirect_uri_problem("http://127.0.0.1:9000/oauth/callback"));
  EXPECT_FALSE(redirect_uri_problem("http://localhost/cb?x=1"));
  for (std::string_view bad : {"", "/oauth/callback", "http://app.example.com/cb",
                               "ftp://127.0.0.1/cb", "https://app.example.com/cb#frag",
                               "https://app.example.com/c b", "javascript:alert(1)"})
    EXPECT_TRUE(redirect_uri_problem(bad)) << bad;
  EXPECT_EQ(with_query("https://a.example/cb", "code=1"), "https://a.example/cb?code=1");
  EXPECT_EQ(with_query("https://a.example/cb?x=1", "code=1"), "https://a.example/cb?x=1&code=1");
  EXPECT_EQ(with_query("https://a.example/cb?", "code=1"), "https://a.example/cb?code=1");
}

TEST(oauth_parameters, repeated_and_malformed_parameters_are_malformed) {
  EXPECT_EQ(read_parameter("a=1&b=x%20y", "b").value, "x y");
  EXPECT_EQ(read_parameter("a=1", "b").what, oauth_parameter::state::absent);
  EXPECT_EQ(read_parameter("a=1&a=2", "a").what, oauth_parameter::state::malformed);
  EXPECT_EQ(read_parameter("a=%zz", "a").what, oauth_parameter::state::malformed);
  EXPECT_TRUE(is_form_content_type("application/x-www-form-urlencoded"));
  EXPECT_TRUE(is_form_content_type("Application/X-WWW-Form-Urlencoded; charset=utf-8"));
  EXPECT_FALSE(is_form_content_type("application/json"));
  EXPECT_FALSE(is_form_content_type("application/x-www-form-urlencodedx"));
}

const oauth_client client{"steward", "http://127.0.0.1:8080/oauth/callback"};

std::string request_params(std::string_view change_name = {}, std::string_view change_to = {}) {
  std::vector<std::pair<std::string_view, std::string_view>> params = {
    {"response_type", "code"},
    {"client_id", "steward"},
    {"redirect_uri", "http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fcallback"},
    {"state", "s%3C1%3E"},
    {"code_challenge", rfc_challenge},
    {"code_challenge_method", "S256"},
    {"login_hint", "Linked%40Example.com"},
  };
  std::string out;
  for (auto [name, value] : params) {
    if (name == change_name && change_to == "-")
      continue;
    if (!out.empty())
      out += '&';
    out += std::string(name) + "=" + std::string(name == change_name ? change_to : value);
  }
  return out;
}

TEST(oauth_authorization_request, a_good_request_reads_back) {
  authorization_request request;
  ASSERT_FALSE(read_authorization_request(request_params(), client, request));
  EXPECT_EQ(request.redirect_uri, client.redirect_uri);
  EXPECT_EQ(request.state, "s<1>");
  EXPECT_EQ(request.code_challenge, rfc_challenge);
  EXPECT_EQ(request.login_hint, "linked@example.com");
}

TEST(oauth_authorization_request, every_bad_parameter_is_named) {
  struct bad {
    std::string_view name, value, error;
  };
  for (auto [name, value, error] : std::vector<bad>{
         {"response_type", "-", "invalid_request"},
         {"response_type", "token", "unsupported_response_type"},
         {"client_id", "-", "invalid_request"},
         {"client_id", "other", "unauthorized_client"},
         {"redirect_uri", "-", "invalid_request"},
         {"redirect_uri", "http%3A%2F%2Fevil.example%2Fcb", "invalid_request"},
         {"redirect_uri", "http%3A%2F%2F127.0.0.1%3A8080%2Fother", "invalid_request"},
         {"state", "-", "invalid_request"},
         {"state", "a%0Ab", "invalid_request"},
         {"code_challenge_method", "-", "invalid_request"},
         {"code_challenge_method", "plain", "invalid_request"},
         {"code_challenge", "-", "invalid_request"},
         {"code_challenge", "short", "invalid_request"},
         {"login_hint", "-", "invalid_request"},
         {"login_hint", "nobody", "invalid_request"},
         {"state", "%zz", "invalid_request"},
       }) {
    authorization_request request;
    auto problem = read_authorization_request(request_params(name, value), client, request);
    ASSERT_TRUE(problem) << name << "=" << value;
    EXPECT_EQ(problem->error, error) << name << "=" << value;
  }
  authorization_request request;
  auto repeated = read_authorization_request(request_params() + "&state=again", client, request);
  ASSERT_TRUE(repeated);
  EXPECT_EQ(repeated->error, "invalid_request");
  auto long_state = read_authorization_request(
    request_params("state", std::string(limits::oauth_state_bytes_max + 1, 'x')), client, request);
  EXPECT_TRUE(long_state);
}

TEST(oauth_consent_page, escapes_what_it_shows) {
  authorization_request request{"steward", "http://127.0.0.1/cb?a=1&b=2", "\"><script>x</script>'",
                                std::string(rfc_challenge), "linked@example.com"};
  auto page = consent_page(request);
  EXPECT_EQ(page.find("<script>"), std::string::npos) << page;
  EXPECT_NE(page.find("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;&#39;\""), std::string::npos)
    << page;
  EXPECT_NE(page.find("value=\"http://127.0.0.1/cb?a=1&amp;b=2\""), std::string::npos) << page;
  EXPECT_NE(page.find("name=\"decision\" value=\"allow\""), std::string::npos);
  EXPECT_NE(page.find("name=\"decision\" value=\"deny\""), std::string::npos);
  EXPECT_EQ(html_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
}

class oauth_codes : public ::testing::Test {
protected:
  static constexpr std::int64_t now = 1'800'000'000;
  code_grant grant() const {
    return {"linked@example.com", "steward", "http://127.0.0.1/cb", std::string(rfc_challenge)};
  }
  test_random random_;
  authorization_codes codes_{4, 60, random_};
};

TEST_F(oauth_codes, a_code_is_redeemed_once) {
  auto code = codes_.issue(grant(), now);
  ASSERT_TRUE(code);
  EXPECT_EQ(code->substr(0, 4), "rpa_");
  auto first = codes_.redeem(*code, "steward", "http://127.0.0.1/cb", rfc_verifier, now + 1);
  EXPECT_EQ(first.error, authorization_codes::redeem_error::none);
  EXPECT_EQ(first.email, "linked@example.com");
  auto second = codes_.redeem(*code, "steward", "http://127.0.0.1/cb", rfc_verifier, now + 1);
  EXPECT_EQ(second.error, authorization_codes::redeem_error::unknown);
  EXPECT_TRUE(second.email.empty());
  EXPECT_EQ(codes_.size(), 0u);
  EXPECT_EQ(codes_.redeem("rpa_never", "steward", "http://127.0.0.1/cb", rfc_verifier, now).error,
            authorization_codes::redeem_error::unknown);
}

TEST_F(oauth_codes, a_code_expires_after_its_lifetime) {
  auto live = codes_.issue(grant(), now);
  auto old = codes_.issue(grant(), now);
  EXPECT_EQ(codes_.redeem(*live, "steward", "http://127.0.0.1/cb", rfc_verifier, now + 59).error,
            authorization_codes::redeem_error::none);
  EXPECT_EQ(codes_.redeem(*old, "steward", "http://127.0.0.1/cb", rfc_verifier, now + 60).error,
            authorization_codes::redeem_error::expired);
  auto future = codes_.issue(grant(), now);
  EXPECT_EQ(codes_.redeem(*future, "steward", "http://127.0.0.1/cb", rfc_verifier, now - 1).error,
            authorization_codes::redeem_error::expired)
    << "a clock that went back does not stretch a code's life";
}

TEST_F(oauth_codes, a_mismatch_refuses_and_consumes_the_code) {
  using e = authorization_codes::redeem_error;
  struct bad {
    std::string_view client, redirect, verifier;
    e error;
  };
  std::string wrong_verifier(43, 'a');
  for (auto [client, redirect, verifier, error] : std::vector<bad>{
         {"other", "http://127.0.0.1/cb", rfc_verifier, e::client_mismatch},
         {"steward", "http://127.0.0.1/cb2", rfc_verifier, e::redirect_mismatch},
         {"steward", "http://127.0.0.1/cb", wrong_verifier, e::verifier_mismatch},
         {"steward", "http://127.0.0.1/cb", rfc_challenge, e::verifier_mismatch},
       }) {
    auto code = codes_.issue(grant(), now);
    ASSERT_TRUE(code);
    EXPECT_EQ(codes_.redeem(*code, client, redirect, verifier, now).error, error);
    EXPECT_EQ(codes_.redeem(*code, "steward", "http://127.0.0.1/cb", rfc_verifier, now).error,
              e::unknown)
      << "the right verifier after a wrong one is too late";
  }
}

TEST_F(oauth_codes, full_of_live_codes_refuses_and_expired_ones_make_room) {
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(codes_.issue(grant(), now));
  EXPECT_FALSE(codes_.issue(grant(), now + 59));
  EXPECT_EQ(codes_.size(), 4u);
  EXPECT_TRUE(codes_.issue(grant(), now + 60));
  EXPECT_EQ(codes_.size(), 1u);
  random_.fail = true;
  EXPECT_FALSE(codes_.issue(grant(), now + 60));
}

} // namespace
} // namespace steward::refprovider
