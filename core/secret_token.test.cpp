#include "core/secret_token.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace steward::core {
namespace {

// Reference values computed independently (Python: base64.urlsafe_b64encode, hashlib.sha256).
constexpr std::string_view counting_token = "sst_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
constexpr std::string_view counting_hash =
  "7d64f1eb31f0a58c70620ec8bcd7a50a84ed742679361f63acfd6df43d4b3b97";
constexpr std::string_view all_ones_token = "sst___________________________________________8";

random_fill fill_with(std::uint8_t start, std::uint8_t step) {
  return [=](std::span<std::uint8_t> out) {
    std::uint8_t value = start;
    for (auto& byte : out) {
      byte = value;
      value = static_cast<std::uint8_t>(value + step);
    }
    return true;
  };
}

TEST(SecretToken, MintsPrefixedBase64urlAndItsHash) {
  auto minted = mint_session_token(fill_with(0, 1));
  ASSERT_TRUE(minted.has_value());
  EXPECT_EQ(minted->token, counting_token);
  EXPECT_EQ(minted->hash, counting_hash);
  EXPECT_EQ(minted->token.size(), session_token_chars);
  EXPECT_EQ(session_token_chars, 47u);
  EXPECT_TRUE(is_session_token(minted->token));

  auto ones = mint_session_token(fill_with(0xFF, 0));
  ASSERT_TRUE(ones.has_value());
  EXPECT_EQ(ones->token, all_ones_token);
  EXPECT_TRUE(is_session_token(ones->token));
}

TEST(SecretToken, FailingSourceMintsNothing) {
  EXPECT_FALSE(mint_session_token([](std::span<std::uint8_t>) { return false; }).has_value());
  EXPECT_FALSE(mint_session_token(random_fill{}).has_value());
}

TEST(SecretToken, SystemRandomGivesDistinctTokens) {
  std::set<std::string> tokens;
  for (int i = 0; i < 64; ++i) {
    auto minted = mint_session_token(system_random);
    ASSERT_TRUE(minted.has_value());
    EXPECT_TRUE(is_session_token(minted->token)) << minted->token;
    EXPECT_TRUE(verify_token(minted->token, minted->hash));
    tokens.insert(minted->token);
  }
  EXPECT_EQ(tokens.size(), 64u);
}

TEST(SecretToken, ShapeCheck) {
  std::string token(counting_token);
  EXPECT_TRUE(is_session_token(token));
  EXPECT_FALSE(is_session_token(token.substr(0, token.size() - 1)));
  EXPECT_FALSE(is_session_token(token + "A"));
  EXPECT_FALSE(is_session_token("ssx_" + token.substr(4)));
  std::string bad_char = token;
  bad_char[10] = '+';
  EXPECT_FALSE(is_session_token(bad_char));
  // Non-zero trailing bits: a second spelling of the same bytes is not a token.
  std::string non_canonical = token;
  non_canonical.back() = 'g'; // alphabet index 32: the 2 unused low bits are zero ...
  EXPECT_TRUE(is_session_token(non_canonical));
  non_canonical.back() = 'h'; // ... index 33 sets one of them
  EXPECT_FALSE(is_session_token(non_canonical));
}

TEST(SecretToken, VerifyAgainstStoredHash) {
  EXPECT_TRUE(verify_token(counting_token, counting_hash));
  EXPECT_EQ(hash_token(counting_token), counting_hash);
  std::string changed(counting_token);
  changed[20] = changed[20] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_token(changed, counting_hash));
  EXPECT_FALSE(verify_token("", counting_hash));
  EXPECT_FALSE(verify_token(counting_token, counting_hash.substr(0, 63)));
  EXPECT_FALSE(verify_token(counting_token, ""));
  std::string upper(counting_hash);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(verify_token(counting_token, upper)); // stored hashes are lowercase hex
}

TEST(SecretToken, SecretsEqual) {
  EXPECT_TRUE(secrets_equal("spk_abcdefghijklmnopqrstuvwxyz012345", "spk_abcdefghijklmnopqrstuvwxyz012345"));
  EXPECT_FALSE(secrets_equal("spk_abcdefghijklmnopqrstuvwxyz012346", "spk_abcdefghijklmnopqrstuvwxyz012345"));
  EXPECT_FALSE(secrets_equal("spk_abcdefghijklmnopqrstuvwxyz01234", "spk_abcdefghijklmnopqrstuvwxyz012345"));
  EXPECT_FALSE(secrets_equal("spk_abcdefghijklmnopqrstuvwxyz0123456", "spk_abcdefghijklmnopqrstuvwxyz012345"));
  EXPECT_FALSE(secrets_equal("", "spk_x"));
  EXPECT_FALSE(secrets_equal("", "")); // no configured key opens nothing
}

TEST(SecretToken, BearerMatches) {
  constexpr std::string_view key = "spk_abcdefghijklmnopqrstuvwxyz012345";
  EXPECT_TRUE(bearer_matches("Bearer spk_abcdefghijklmnopqrstuvwxyz012345", key));
  EXPECT_TRUE(bearer_matches("bearer spk_abcdefghijklmnopqrstuvwxyz012345", key)) << "the scheme is case-insensitive";
  EXPECT_FALSE(bearer_matches("Bearer spk_abcdefghijklmnopqrstuvwxyz012346", key));
  EXPECT_FALSE(bearer_matches("Basic spk_abcdefghijklmnopqrstuvwxyz012345", key));
  EXPECT_FALSE(bearer_matches("spk_abcdefghijklmnopqrstuvwxyz012345", key)) << "no scheme";
  EXPECT_FALSE(bearer_matches("", key));
  EXPECT_FALSE(bearer_matches("Bearer spk_x", "")) << "no configured secret opens nothing";
}

TEST(SecretToken, BearerParsing) {
  auto ok = [](std::string_view header) {
    auto result = parse_bearer(header);
    EXPECT_TRUE(result) << header << ": " << describe(result.error);
    return std::string(result.token);
  };
  EXPECT_EQ(ok("Bearer sst_abc"), "sst_abc");
  EXPECT_EQ(ok("bearer sst_abc"), "sst_abc");
  EXPECT_EQ(ok("BEARER a.b~c+d/e-f_g=="), "a.b~c+d/e-f_g==");
  EXPECT_EQ(ok("Bearer " + std::string(limits::bearer_token_bytes_max, 'x')),
            std::string(limits::bearer_token_bytes_max, 'x'));

  EXPECT_EQ(parse_bearer("").error, bearer_error::missing);
  for (std::string_view header : {"Basic dXNlcjpwYXNz", "Bearerx abc", "Bear abc", " Bearer abc",
                                  "Token abc", "Bearer"})
    EXPECT_EQ(parse_bearer(header).error,
              header == "Bearer" ? bearer_error::malformed : bearer_error::not_bearer)
      << header;
  for (std::string_view header : {"Bearer ", "Bearer  abc", "Bearer abc ", "Bearer abc def",
                                  "Bearer abc,def", "Bearer =abc", "Bearer ab=c", "Bearer a\tb",
                                  "Bearer \"abc\"", "Bearer abc\x80"})
    EXPECT_EQ(parse_bearer(header).error, bearer_error::malformed) << header;
  EXPECT_EQ(parse_bearer("Bearer " + std::string(limits::bearer_token_bytes_max + 1, 'x')).error,
            bearer_error::too_long);
  EXPECT_TRUE(parse_bearer("Bearer abc").token.data() != nullptr);
  EXPECT_TRUE(parse_bearer("Bearer  abc").token.empty());
  EXPECT_EQ(to_api_error(bearer_error::malformed), api_error::unauthorized);
  EXPECT_EQ(to_api_error(bearer_error::missing), api_error::unauthorized);
}

} // namespace
} // namespace steward::core
