#include "core/attestation.hpp"

#include "core/json_reader.hpp"
#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace steward::core {
namespace {

constexpr std::int64_t now = 1700000000;
constexpr std::string_view issuer = "https://steward.example";
constexpr std::string_view audience = "refprovider";

/// Deterministic randomness: byte i of the n-th fill is n + i.
class counting_random final : public random_source {
public:
  bool fill(std::span<std::uint8_t> out) noexcept override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(calls_ + i);
    ++calls_;
    return true;
  }

private:
  std::size_t calls_ = 0;
};

class failing_random final : public random_source {
public:
  bool fill(std::span<std::uint8_t>) noexcept override { return false; }
};

ed25519_key_bytes_t seed(std::uint8_t value) {
  ed25519_key_bytes_t bytes{};
  bytes.fill(value);
  return bytes;
}

jws_signing_key key_of(std::string kid, std::uint8_t value) {
  auto key = jws_signing_key::from_private_key(std::move(kid), seed(value));
  EXPECT_TRUE(key.has_value());
  return *key;
}

const attestation_request request{
  issuer, "usr_0000000000000000000001", audience, "ada@example.com", true, "Ada Lovelace"};

class AttestationTest : public ::testing::Test {
protected:
  AttestationTest() { EXPECT_TRUE(keys_.add(key_.kid(), key_.public_key())); }

  std::string mint(const attestation_request& r = request, std::int64_t at = now) {
    minted_attestation out;
    EXPECT_EQ(make_attestation(r, key_, at, random_, out), attestation_error::none);
    return out.token;
  }

  attestation_error check(std::string_view token, std::int64_t at = now,
                          std::string_view expected_audience = audience) {
    attestation_claims claims;
    return verify_attestation(token, keys_, issuer, expected_audience, at, claims);
  }

  /// A token with the given header typ and raw claims JSON, signed by the trusted key: a refusal
  /// is then for the claims, never for the signature.
  std::string sign_claims(std::string_view claims_json,
                          std::string_view typ = attestation_typ) const {
    return key_.sign(typ, claims_json);
  }

  jws_signing_key key_ = key_of("key-1", 1);
  jwk_set keys_;
  counting_random random_;
};

std::string claims_with(std::string_view replace_from, std::string_view replace_to) {
  std::string json =
    R"({"iss":"https://steward.example","sub":"usr_1","aud":"refprovider","email":"a@b.c",)"
    R"("email_verified":true,"name":"","iat":1700000000,"exp":1700000300,)"
    R"("jti":"att_AAECAwQFBgcICQoLDA0ODw"})";
  if (!replace_from.empty()) {
    const std::size_t at = json.find(replace_from);
    EXPECT_NE(at, std::string::npos) << replace_from;
    json.replace(at, replace_from.size(), replace_to);
  }
  return json;
}

TEST_F(AttestationTest, MintsTheClaimsOfDesign5) {
  minted_attestation out;
  ASSERT_EQ(make_attestation(request, key_, now, random_, out), attestation_error::none);
  EXPECT_EQ(out.claims.iss, issuer);
  EXPECT_EQ(out.claims.sub, "usr_0000000000000000000001");
  EXPECT_EQ(out.claims.aud, audience);
  EXPECT_EQ(out.claims.email, "ada@example.com");
  EXPECT_TRUE(out.claims.email_verified);
  EXPECT_EQ(out.claims.name, "Ada Lovelace");
  EXPECT_EQ(out.claims.iat, now);
  EXPECT_EQ(out.claims.exp, now + 300);
  // The first fill of counting_random is bytes 0..15.
  EXPECT_EQ(out.claims.jti, "att_AAECAwQFBgcICQoLDA0ODw");
  EXPECT_EQ(out.claims.jti.size(), attestation_jti_chars);

  // The exact payload and header, as any JOSE library would read them.
  verified_jws jws;
  ASSERT_EQ(verify_compact(out.token, keys_, jws), jws_error::none);
  EXPECT_EQ(jws.typ, "steward-attestation+jwt");
  EXPECT_EQ(jws.kid, "key-1");
  EXPECT_EQ(jws.payload, R"({"iss":"https://steward.example","sub":"usr_0000000000000000000001",)"
                         R"("aud":"refprovider","email":"ada@example.com","email_verified":true,)"
                         R"("name":"Ada Lovelace","iat":1700000000,"exp":1700000300,)"
                         R"("jti":"att_AAECAwQFBgcICQoLDA0ODw"})");
}

TEST_F(AttestationTest, VerifiesAndReturnsTheClaims) {
  minted_attestation minted;
  ASSERT_EQ(make_attestation(request, key_, now, random_, minted), attestation_error::none);
  attestation_claims claims;
  ASSERT_EQ(verify_attestation(minted.token, keys_, issuer, audience, now + 10, claims),
            attestation_error::none);
  EXPECT_EQ(claims, minted.claims);
}

TEST_F(AttestationTest, EachMintHasAFreshJti) {
  minted_attestation a, b;
  ASSERT_EQ(make_attestation(request, key_, now, random_, a), attestation_error::none);
  ASSERT_EQ(make_attestation(request, key_, now, random_, b), attestation_error::none);
  EXPECT_NE(a.claims.jti, b.claims.jti);
  EXPECT_NE(a.token, b.token);
}

TEST_F(AttestationTest, MakeRefusesBadInputAndFailedRandomness) {
  minted_attestation out;
  failing_random broken;
  EXPECT_EQ(make_attestation(request, key_, now, broken, out), attestation_error::no_randomness);
  auto refused = [&](attestation_request r) {
    return make_attestation(r, key_, now, random_, out) == attestation_error::invalid_claim;
  };
  attestation_request r = request;
  r.email = "";
  EXPECT_TRUE(refused(r));
  r = request;
  r.user_id = "";
  EXPECT_TRUE(refused(r));
  r = request;
  r.audience = "";
  EXPECT_TRUE(refused(r));
  r = request;
  r.issuer = "";
  EXPECT_TRUE(refused(r));
  r = request;
  r.lifetime_seconds = 301;
  EXPECT_TRUE(refused(r));
  r.lifetime_seconds = 0;
  EXPECT_TRUE(refused(r));
  const std::string long_name(limits::attestation_claim_bytes_max + 1, 'n');
  r = request;
  r.name = long_name;
  EXPECT_TRUE(refused(r));
  // An empty name is allowed, and a shorter lifetime.
  r = request;
  r.name = "";
  r.lifetime_seconds = 60;
  ASSERT_EQ(make_attestation(r, key_, now, random_, out), attestation_error::none);
  EXPECT_EQ(out.claims.exp, now + 60);
  EXPECT_EQ(check(out.token), attestation_error::none);
}

TEST_F(AttestationTest, ExpiryAndLeewayEdges) {
  const std::string token = mint();
  EXPECT_EQ(check(token, now + 299), attestation_error::none);
  EXPECT_EQ(check(token, now + 300), attestation_error::expired);
  EXPECT_EQ(check(token, now + 100000), attestation_error::expired);
  // A verifier whose clock is behind steward's, within the leeway, accepts it.
  EXPECT_EQ(check(token, now - limits::attestation_leeway_seconds), attestation_error::none);
  EXPECT_EQ(check(token, now - limits::attestation_leeway_seconds - 1),
            attestation_error::not_yet_valid);
}

TEST_F(AttestationTest, WrongAudienceAndIssuer) {
  const std::string token = mint();
  EXPECT_EQ(check(token, now, "other-provider"), attestation_error::wrong_audience);
  EXPECT_EQ(check(token, now, ""), attestation_error::wrong_audience);
  attestation_claims claims;
  EXPECT_EQ(verify_attestation(token, keys_, "https://steward.example/", audience, now, claims),
            attestation_error::wrong_issuer);
  EXPECT_EQ(verify_attestation(token, keys_, "https://evil.example", audience, now, claims),
            attestation_error::wrong_issuer);
}

TEST_F(AttestationTest, SignatureAndKeyFailures) {
  const std::string token = mint();
  // Signed by a key that is not published, under a published kid.
  const jws_signing_key impostor = key_of("key-1", 2);
  minted_attestation forged;
  ASSERT_EQ(make_attestation(request, impostor, now, random_, forged), attestation_error::none);
  EXPECT_EQ(check(forged.token), attestation_error::bad_signature);
  // Signed by a key whose kid is not published.
  const jws_signing_key stranger = key_of("key-9", 1);
  ASSERT_EQ(make_attestation(request, stranger, now, random_, forged), attestation_error::none);
  EXPECT_EQ(check(forged.token), attestation_error::unknown_key);
  // A payload swapped for one with another email, under the original signature.
  const std::size_t first = token.find('.');
  const std::size_t second = token.rfind('.');
  std::string payload;
  ASSERT_TRUE(base64url_decode(token.substr(first + 1, second - first - 1), payload));
  const std::size_t at = payload.find("ada@");
  payload.replace(at, 4, "eve@");
  const std::string tampered =
    token.substr(0, first + 1) + base64url_encode(payload) + token.substr(second);
  EXPECT_EQ(check(tampered), attestation_error::bad_signature);
  EXPECT_EQ(check("not-a-token"), attestation_error::malformed);
  EXPECT_EQ(check(""), attestation_error::malformed);
}

TEST_F(AttestationTest, WrongAlgorithmIsRefused) {
  // A token with alg HS256 "signed" with the public key as HMAC secret: the classic confusion.
  const std::string header = base64url_encode(
    std::string_view(R"({"alg":"HS256","kid":"key-1","typ":"steward-attestation+jwt"})"));
  const std::string token = header + "." + base64url_encode(claims_with("", "")) + "." +
                            base64url_encode(std::string(32, 'm'));
  EXPECT_EQ(check(token), attestation_error::wrong_algorithm);
}

TEST_F(AttestationTest, WrongTypIsRefused) {
  EXPECT_EQ(check(sign_claims(claims_with("", ""), "JWT")), attestation_error::wrong_typ);
  EXPECT_EQ(check(sign_claims(claims_with("", ""), "")), attestation_error::wrong_typ);
  EXPECT_EQ(check(sign_claims(claims_with("", ""), "Steward-Attestation+JWT")),
            attestation_error::wrong_typ);
  EXPECT_EQ(check(sign_claims(claims_with("", ""))), attestation_error::none);
}

TEST_F(AttestationTest, EveryClaimIsRequired) {
  for (std::string_view member :
       {R"("iss":"https://steward.example",)", R"("sub":"usr_1",)", R"("aud":"refprovider",)",
        R"("email":"a@b.c",)", R"("email_verified":true,)", R"("name":"",)", R"("iat":1700000000,)",
        R"(,"jti":"att_AAECAwQFBgcICQoLDA0ODw")"}) {
    EXPECT_EQ(check(sign_claims(claims_with(member, ""))), attestation_error::missing_claim)
      << member;
  }
  EXPECT_EQ(check(sign_claims(claims_with(R"("exp":1700000300,)", ""))),
            attestation_error::missing_claim);
}

TEST_F(AttestationTest, InvalidClaimsAreRefused) {
  auto refused = [&](std::string_view from, std::string_view to) {
    return check(sign_claims(claims_with(from, to)));
  };
  EXPECT_EQ(refused(R"("aud":"refprovider")", R"("aud":["refprovider"])"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("email_verified":true)", R"("email_verified":"true")"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("iat":1700000000)", R"("iat":1700000000.5)"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("iat":1700000000)", R"("iat":-1)"), attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("exp":1700000300)", R"("exp":"1700000300")"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("email":"a@b.c")", R"("email":"")"), attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("sub":"usr_1")", R"("sub":"")"), attestation_error::invalid_claim);
  EXPECT_EQ(
    refused(R"("jti":"att_AAECAwQFBgcICQoLDA0ODw")", R"("jti":"chg_AAECAwQFBgcICQoLDA0ODw")"),
    attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("jti":"att_AAECAwQFBgcICQoLDA0ODw")", R"("jti":"att_")"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("name":"")", R"("name":"","nbf":1700000000)"),
            attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("name":"")", R"("name":"","name":"Eve")"), attestation_error::invalid_claim);
  EXPECT_EQ(refused(R"("exp":1700000300)", R"("exp":1700000000)"),
            attestation_error::invalid_claim);
  const std::string long_name =
    R"("name":")" + std::string(limits::attestation_claim_bytes_max + 1, 'n') + "\"";
  EXPECT_EQ(refused(R"("name":"")", long_name), attestation_error::invalid_claim);
  EXPECT_EQ(check(sign_claims("[]")), attestation_error::malformed);
  EXPECT_EQ(check(sign_claims("{")), attestation_error::malformed);
}

TEST_F(AttestationTest, LifetimeOverThreeHundredSecondsIsRefused) {
  EXPECT_EQ(check(sign_claims(claims_with(R"("exp":1700000300)", R"("exp":1700000301)"))),
            attestation_error::lifetime_too_long);
  EXPECT_EQ(check(sign_claims(claims_with(R"("exp":1700000300)", R"("exp":1800000000)"))),
            attestation_error::lifetime_too_long);
}

TEST(JtiReplayCache, RefusesASecondUseUntilExpiry) {
  jti_replay_cache cache(8);
  EXPECT_EQ(cache.use("att_a", now + 300, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_a", now + 300, now + 1), jti_replay_cache::verdict::replayed);
  EXPECT_EQ(cache.use("att_a", now + 300, now + 299), jti_replay_cache::verdict::replayed);
  EXPECT_EQ(cache.use("att_b", now + 300, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.size(), 2u);
  // At its exp the token is refused by verify_attestation anyway, so the cache forgets it.
  EXPECT_EQ(cache.use("att_a", now + 300, now + 300), jti_replay_cache::verdict::expired);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(JtiReplayCache, FullMeansRefusedNeverForgotten) {
  jti_replay_cache cache(3);
  EXPECT_EQ(cache.use("att_1", now + 100, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_2", now + 200, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_3", now + 300, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_4", now + 300, now), jti_replay_cache::verdict::full);
  // Full does not evict: the remembered ones still count as replays.
  EXPECT_EQ(cache.use("att_1", now + 100, now), jti_replay_cache::verdict::replayed);
  EXPECT_EQ(cache.size(), 3u);
  // Once the earliest expires there is room again, and only it was forgotten.
  EXPECT_EQ(cache.use("att_4", now + 300, now + 100), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_2", now + 200, now + 100), jti_replay_cache::verdict::replayed);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(JtiReplayCache, ExpiredUseIsNotRemembered) {
  jti_replay_cache cache(2);
  EXPECT_EQ(cache.use("att_old", now, now), jti_replay_cache::verdict::expired);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(JtiReplayCache, CapacityOfOne) {
  jti_replay_cache cache(1);
  EXPECT_EQ(cache.use("att_1", now + 1, now), jti_replay_cache::verdict::first_use);
  EXPECT_EQ(cache.use("att_2", now + 1, now), jti_replay_cache::verdict::full);
}

TEST(OpenidConfiguration, SaysOnlyWhatIsTrue) {
  const std::string document = build_openid_configuration("https://steward.example");
  EXPECT_EQ(
    document,
    R"({"issuer":"https://steward.example",)"
    R"("jwks_uri":"https://steward.example/.well-known/jwks.json",)"
    R"("id_token_signing_alg_values_supported":["EdDSA"],)"
    R"("subject_types_supported":["public"],)"
    R"("claims_supported":["iss","sub","aud","email","email_verified","name","iat","exp","jti"]})");
  EXPECT_EQ(document.find("authorization_endpoint"), std::string::npos);
  EXPECT_EQ(jwks_uri("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/.well-known/jwks.json");
  EXPECT_EQ(jwks_uri("http://127.0.0.1:8080/steward"),
            "http://127.0.0.1:8080/steward/.well-known/jwks.json");
}

TEST(Attestation, DescribesEveryError) {
  for (int i = 1; i <= static_cast<int>(attestation_error::no_randomness); ++i)
    EXPECT_NE(describe(static_cast<attestation_error>(i)), describe(attestation_error::none)) << i;
}

} // namespace
} // namespace steward::core
