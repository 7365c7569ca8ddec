#include "core/jws.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <array>
#include <string>

namespace steward::core {
namespace {

// RFC 8037 appendix A.1 / A.2: an Ed25519 key pair as JWK `d` and `x`.
constexpr std::string_view rfc_d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view rfc_x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
// The RFC key signing `{"alg":"EdDSA","kid":"rfc8037","typ":"steward-attestation+jwt"}` and the
// payload of RFC 8037 A.4, computed independently with
//   openssl pkeyutl -sign -inkey rfc8037.pem -rawin -in <signing input>
// (the same command reproduces A.4's signature for A.4's own header).
constexpr std::string_view known_token =
  "eyJhbGciOiJFZERTQSIsImtpZCI6InJmYzgwMzciLCJ0eXAiOiJzdGV3YXJkLWF0dGVzdGF0aW9uK2p3dCJ9."
  "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
  "7LRndvjOuAZI2ak3sM7StB_UwVdq_K9Rb5sACguZ6Sk1_FrUKk8SQCKxmS_OWF4FBwuCywAjlaK-qbierzptCw";
constexpr std::string_view known_payload = "Example of Ed25519 signing";
constexpr std::string_view typ = "steward-attestation+jwt";

ed25519_key_bytes_t decode_key(std::string_view text) {
  std::string bytes;
  EXPECT_TRUE(base64url_decode(text, bytes));
  EXPECT_EQ(bytes.size(), 32u);
  ed25519_key_bytes_t out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

jws_signing_key rfc_key(std::string kid = "rfc8037") {
  auto key = jws_signing_key::from_private_key(std::move(kid), decode_key(rfc_d));
  EXPECT_TRUE(key.has_value());
  return *key;
}

jwk_set rfc_set() {
  jwk_set set;
  EXPECT_TRUE(set.add("rfc8037", decode_key(rfc_x)));
  return set;
}

// Signs an arbitrary header and payload with the RFC key, bypassing jws_signing_key, so that a
// token the verifier must refuse carries a signature that is otherwise valid: each refusal is then
// for the reason under test, not for a bad signature.
std::string forge(std::string_view header_json, std::string_view payload = known_payload) {
  const ed25519_key_bytes_t d = decode_key(rfc_d);
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, d.data(), d.size());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload);
  std::array<unsigned char, 64> signature{};
  std::size_t size = signature.size();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, signature.data(), &size,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return input + "." + base64url_encode(std::span<const std::uint8_t>(signature.data(), size));
}

jws_error verify(std::string_view token, const jwk_set& set = rfc_set()) {
  verified_jws out;
  return verify_compact(token, set, out);
}

// --- base64url -----------------------------------------------------------------------------------

TEST(Base64url, EncodesRfc4648Vectors) {
  // RFC 4648 section 10, without padding.
  EXPECT_EQ(base64url_encode(std::string_view("")), "");
  EXPECT_EQ(base64url_encode(std::string_view("f")), "Zg");
  EXPECT_EQ(base64url_encode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(std::string_view("foob")), "Zm9vYg");
  EXPECT_EQ(base64url_encode(std::string_view("fooba")), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(std::string_view("foobar")), "Zm9vYmFy");
  // The URL-safe alphabet: 0xFB 0xFF is "+/8=" in plain base64.
  EXPECT_EQ(base64url_encode(std::string_view("\xfb\xff")), "-_8");
}

TEST(Base64url, DecodesWhatItEncodesForEveryLength) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    std::string decoded;
    ASSERT_TRUE(base64url_decode(base64url_encode(bytes), decoded)) << i;
    EXPECT_EQ(decoded, bytes);
    bytes += static_cast<char>(i * 37 + 11);
  }
}

TEST(Base64url, RejectsPaddingInvalidCharactersAndBadLengths) {
  std::string out;
  EXPECT_TRUE(base64url_decode("Zm9v", out));
  EXPECT_FALSE(base64url_decode("Zg==", out)); // padding
  EXPECT_FALSE(base64url_decode("Zm8=", out));
  EXPECT_FALSE(base64url_decode("Zm9v+w", out)); // plain base64 alphabet
  EXPECT_FALSE(base64url_decode("Zm9v/w", out));
  EXPECT_FALSE(base64url_decode("Zm 9v", out)); // whitespace
  EXPECT_FALSE(base64url_decode("Zm9v\n", out));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4), out));
  EXPECT_FALSE(base64url_decode("Zm9vY", out)); // 4n+1 characters
  EXPECT_FALSE(base64url_decode("Z", out));
}

TEST(Base64url, RejectsNonCanonicalTrailingBits) {
  std::string out;
  // "Zg" is "f"; "Zh".."Zv" carry the same byte with non-zero leftover bits.
  EXPECT_TRUE(base64url_decode("Zg", out));
  EXPECT_EQ(out, "f");
  EXPECT_FALSE(base64url_decode("Zh", out));
  EXPECT_FALSE(base64url_decode("Zv", out));
  // "Zm8" is "fo"; "Zm9" has its last two bits set.
  EXPECT_TRUE(base64url_decode("Zm8", out));
  EXPECT_FALSE(base64url_decode("Zm9", out));
  EXPECT_FALSE(base64url_decode("Zm_", out));
}

// --- Keys and signing ----------------------------------------------------------------------------

TEST(Jws, KeyFromRfc8037PrivateKeyHasItsPublicKey) {
  const jws_signing_key key = rfc_key();
  EXPECT_EQ(base64url_encode(key.public_key()), rfc_x);
  EXPECT_EQ(key.kid(), "rfc8037");
}

TEST(Jws, SignMatchesIndependentVector) {
  EXPECT_EQ(rfc_key().sign(typ, known_payload), known_token);
}

TEST(Jws, VerifiesIndependentVector) {
  verified_jws out;
  ASSERT_EQ(verify_compact(known_token, rfc_set(), out), jws_error::none);
  EXPECT_EQ(out.kid, "rfc8037");
  EXPECT_EQ(out.typ, typ);
  EXPECT_EQ(out.payload, known_payload);
}

TEST(Jws, SignsWithoutTypAndEmptyPayload) {
  const std::string token = rfc_key().sign("", "");
  std::string header;
  ASSERT_TRUE(base64url_decode(token.substr(0, token.find('.')), header));
  EXPECT_EQ(header, R"({"alg":"EdDSA","kid":"rfc8037"})");
  verified_jws out;
  ASSERT_EQ(verify_compact(token, rfc_set(), out), jws_error::none);
  EXPECT_EQ(out.typ, "");
  EXPECT_EQ(out.payload, "");
}

TEST(Jws, RejectsInvalidKids) {
  const ed25519_key_bytes_t d = decode_key(rfc_d);
  EXPECT_FALSE(jws_signing_key::from_private_key("", d).has_value());
  EXPECT_FALSE(jws_signing_key::from_private_key("a\"b", d).has_value());
  EXPECT_FALSE(
    jws_signing_key::from_private_key(std::string(limits::jws_kid_bytes_max + 1, 'a'), d));
  EXPECT_TRUE(jws_signing_key::from_private_key(std::string(limits::jws_kid_bytes_max, 'a'), d));
  jwk_set set;
  EXPECT_FALSE(set.add("a/b", decode_key(rfc_x)));
  EXPECT_EQ(set.size(), 0u);
}

TEST(Jws, KeySetRefusesDuplicatesAndTooManyKeys) {
  jwk_set set;
  const ed25519_key_bytes_t x = decode_key(rfc_x);
  ASSERT_TRUE(set.add("k0", x));
  EXPECT_FALSE(set.add("k0", x));
  for (std::size_t i = 1; i < limits::jwks_keys_max; ++i)
    ASSERT_TRUE(set.add("k" + std::to_string(i), x));
  EXPECT_FALSE(set.add("one-too-many", x));
  EXPECT_EQ(set.size(), limits::jwks_keys_max);
  EXPECT_NE(set.find("k3"), nullptr);
  EXPECT_EQ(set.find("k"), nullptr);
}

// --- Verification refusals -----------------------------------------------------------------------

TEST(Jws, ForgeHelperMatchesTheSigner) {
  // The refusal tests below rely on `forge` producing otherwise valid tokens.
  EXPECT_EQ(forge(R"({"alg":"EdDSA","kid":"rfc8037","typ":"steward-attestation+jwt"})"),
            known_token);
}

TEST(Jws, RejectsOtherAlgorithmsEvenWithAValidSignature) {
  EXPECT_EQ(verify(forge(R"({"alg":"none","kid":"rfc8037"})")), jws_error::unsupported_algorithm);
  EXPECT_EQ(verify(forge(R"({"alg":"HS256","kid":"rfc8037"})")), jws_error::unsupported_algorithm);
  EXPECT_EQ(verify(forge(R"({"alg":"RS256","kid":"rfc8037"})")), jws_error::unsupported_algorithm);
  EXPECT_EQ(verify(forge(R"({"alg":"eddsa","kid":"rfc8037"})")), jws_error::unsupported_algorithm);
  EXPECT_EQ(verify(forge(R"({"alg":"Ed25519","kid":"rfc8037"})")),
            jws_error::unsupported_algorithm);
  EXPECT_EQ(verify(forge(R"({"kid":"rfc8037"})")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":null,"kid":"rfc8037"})")), jws_error::bad_header);
}

TEST(Jws, RejectsAlgNoneWithEmptySignature) {
  // The classic forgery: `alg: none` and no signature at all.
  const std::string token = base64url_encode(std::string_view(R"({"alg":"none"})")) + "." +
                            base64url_encode(known_payload) + ".";
  EXPECT_EQ(verify(token), jws_error::unsupported_algorithm);
  // With the right alg but an empty signature, the signature's length is wrong.
  const std::string empty_signature =
    std::string(known_token.substr(0, known_token.rfind('.') + 1));
  EXPECT_EQ(verify(empty_signature), jws_error::malformed);
}

TEST(Jws, RejectsCritAndUnknownHeaderMembers) {
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037","crit":["typ"],"typ":"x"})")),
            jws_error::critical_header);
  // With the extension member itself present, the unknown member is what gets reported.
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037","crit":["exp"],"exp":1})")),
            jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"crit":[],"alg":"EdDSA","kid":"rfc8037"})")),
            jws_error::critical_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037","jku":"https://evil/jwks"})")),
            jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037","b64":false})")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037","jwk":{"kty":"OKP"}})")),
            jws_error::bad_header);
}

TEST(Jws, RejectsDuplicateHeaderMembers) {
  // Two parsers could pick different `alg`s or `kid`s: refused whichever comes last.
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","alg":"EdDSA","kid":"rfc8037"})")),
            jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"none","kid":"rfc8037","alg":"EdDSA"})")),
            jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"other","kid":"rfc8037"})")),
            jws_error::bad_header);
}

TEST(Jws, RejectsHeadersThatAreNotOneObject) {
  EXPECT_EQ(verify(forge(R"(["alg","EdDSA"])")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037"} x)")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc8037")")), jws_error::bad_header);
  EXPECT_EQ(verify(forge("{\"alg\":\"EdDSA\",\"kid\":\"rfc8037\",\"typ\":\"\xff\"}")),
            jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":7})")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"rfc 8037"})")), jws_error::bad_header);
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA"})")), jws_error::bad_header);
}

TEST(Jws, RejectsUnknownKid) {
  EXPECT_EQ(verify(forge(R"({"alg":"EdDSA","kid":"someone-else"})")), jws_error::unknown_kid);
  EXPECT_EQ(verify(known_token, jwk_set{}), jws_error::unknown_kid);
}

TEST(Jws, RejectsAKeyThatDidNotSign) {
  // The right kid bound to another public key (a rotated-away key, or an attacker's own).
  jwk_set set;
  ed25519_key_bytes_t other = decode_key(rfc_x);
  other[0] ^= 1;
  ASSERT_TRUE(set.add("rfc8037", other));
  EXPECT_EQ(verify(known_token, set), jws_error::bad_signature);
}

TEST(Jws, RejectsTamperedSegments) {
  const std::string token(known_token);
  const std::size_t first = token.find('.');
  const std::size_t second = token.rfind('.');
  // A different payload under the original signature.
  const std::string other_payload =
    base64url_encode(std::string_view("Example of Ed25519 signinG"));
  EXPECT_EQ(verify(token.substr(0, first + 1) + other_payload + token.substr(second)),
            jws_error::bad_signature);
  // A changed character inside the signature.
  std::string changed = token;
  changed[second + 5] = changed[second + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify(changed), jws_error::bad_signature);
  // The last signature character carries 2 bits of the 64th byte and 4 spare bits: setting a
  // spare bit ('w' = 110000 -> 'x' = 110001) is refused as non-canonical, so no second spelling
  // of a valid signature exists.
  ASSERT_EQ(token.back(), 'w');
  changed = token;
  changed.back() = 'x';
  EXPECT_EQ(verify(changed), jws_error::malformed);
  // The header re-encoded with a space inside is a different signing input.
  EXPECT_EQ(verify(base64url_encode(std::string_view(
                     R"({"alg":"EdDSA", "kid":"rfc8037","typ":"steward-attestation+jwt"})")) +
                   token.substr(first)),
            jws_error::bad_signature);
}

TEST(Jws, RejectsMalformedStructure) {
  const std::string token(known_token);
  EXPECT_EQ(verify(""), jws_error::malformed);
  EXPECT_EQ(verify("abc"), jws_error::malformed);
  EXPECT_EQ(verify("a.b"), jws_error::malformed);
  EXPECT_EQ(verify(token + ".x.y"), jws_error::malformed); // a JWE has five segments
  EXPECT_EQ(verify(token + "."), jws_error::malformed);
  EXPECT_EQ(verify(token + "="), jws_error::malformed);
  EXPECT_EQ(verify(" " + token), jws_error::malformed);
  std::string padded = token;
  padded.insert(token.find('.'), "=");
  EXPECT_EQ(verify(padded), jws_error::malformed);
  // A payload segment with a character outside the alphabet.
  std::string bad_payload = token;
  bad_payload[token.find('.') + 1] = '+';
  EXPECT_EQ(verify(bad_payload), jws_error::malformed);
  // A 63-byte signature.
  const std::string short_signature =
    token.substr(0, token.rfind('.') + 1) + base64url_encode(std::string(63, 'x'));
  EXPECT_EQ(verify(short_signature), jws_error::malformed);
}

TEST(Jws, RejectsOversizedTokensBeforeParsing) {
  const std::string big_payload(limits::jws_bytes_max, 'a');
  const std::string token = rfc_key().sign(typ, big_payload);
  EXPECT_GT(token.size(), limits::jws_bytes_max);
  EXPECT_EQ(verify(token), jws_error::too_large);
  // Just under the limit it verifies: the limit, not the content, refused it.
  const std::size_t overhead = rfc_key().sign(typ, "").size();
  const std::string fits =
    rfc_key().sign(typ, std::string((limits::jws_bytes_max - overhead) / 4 * 3, 'a'));
  EXPECT_LE(fits.size(), limits::jws_bytes_max);
  EXPECT_EQ(verify(fits), jws_error::none);
}

// --- JWK and JWKS --------------------------------------------------------------------------------

TEST(Jwks, BuildsRfc8037JwkShape) {
  const std::vector<public_jwk> keys{{"rfc8037", decode_key(rfc_x)}};
  EXPECT_EQ(
    build_jwks(keys),
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
    R"("kid":"rfc8037","use":"sig","alg":"EdDSA"}]})");
  EXPECT_EQ(build_jwks({}), R"({"keys":[]})");
}

TEST(Jwks, ParsesWhatItBuildsAndVerifiesWithIt) {
  const jws_signing_key other = *jws_signing_key::from_private_key("second", decode_key(rfc_x));
  const std::vector<public_jwk> keys{{"rfc8037", decode_key(rfc_x)},
                                     {"second", other.public_key()}};
  jwk_set set;
  ASSERT_EQ(parse_jwks(build_jwks(keys), set), jwks_error::none);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set.keys()[1].kid, "second");
  EXPECT_EQ(set.keys()[1].x, other.public_key());
  EXPECT_EQ(verify(known_token, set), jws_error::none);
  verified_jws out;
  EXPECT_EQ(verify_compact(other.sign("t", "p"), set, out), jws_error::none);
  EXPECT_EQ(out.kid, "second");
}

TEST(Jwks, AcceptsMembersInAnyOrderAndWithoutUseOrAlg) {
  jwk_set set;
  EXPECT_EQ(parse_jwks(R"({"keys":[{"kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
                       R"("crv":"Ed25519","kty":"OKP"}]})",
                       set),
            jwks_error::none);
  EXPECT_EQ(set.size(), 1u);
}

jwks_error parse_one(std::string_view members) {
  jwk_set set;
  return parse_jwks("{\"keys\":[{" + std::string(members) + "}]}", set);
}

TEST(Jwks, RejectsKeysThatAreNotOurs) {
  constexpr std::string_view x = R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")";
  const std::string base = std::string(x) + R"(,"kid":"a",)";
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed25519")"), jwks_error::none);
  EXPECT_EQ(parse_one(base + R"("kty":"EC","crv":"Ed25519")"), jwks_error::unsupported);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"X25519")"), jwks_error::unsupported);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed448")"), jwks_error::unsupported);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed25519","use":"enc")"),
            jwks_error::unsupported);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed25519","alg":"HS256")"),
            jwks_error::unsupported);
  EXPECT_EQ(
    parse_one(base +
              R"("kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")"),
    jwks_error::private_key);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed25519","n":"AQAB")"),
            jwks_error::invalid_json);
  EXPECT_EQ(parse_one(base + R"("kty":"OKP","crv":"Ed25519","kty":"OKP")"),
            jwks_error::invalid_json);
  EXPECT_EQ(parse_one(R"("kid":"a","kty":"OKP","crv":"Ed25519")"), jwks_error::invalid_json);
}

TEST(Jwks, RejectsBadKeyMaterialAndKids) {
  const std::string rest = R"(,"kty":"OKP","crv":"Ed25519")";
  EXPECT_EQ(parse_one(R"("kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR")" + rest),
            jwks_error::invalid_key); // 31 bytes and a bit
  EXPECT_EQ(parse_one(R"("kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")" + rest),
            jwks_error::invalid_key);
  EXPECT_EQ(parse_one(R"("kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoA")" + rest),
            jwks_error::invalid_key); // 33 bytes
  EXPECT_EQ(parse_one(R"("kid":"a b","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")" + rest),
            jwks_error::invalid_key);
  EXPECT_EQ(parse_one(R"("kid":"","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")" + rest),
            jwks_error::invalid_key);
}

TEST(Jwks, RejectsDuplicateKidsTooManyKeysAndBadDocuments) {
  std::vector<public_jwk> keys{{"a", decode_key(rfc_x)}, {"a", decode_key(rfc_x)}};
  jwk_set set;
  ASSERT_TRUE(set.add("kept", decode_key(rfc_x)));
  EXPECT_EQ(parse_jwks(build_jwks(keys), set), jwks_error::duplicate_kid);
  EXPECT_EQ(set.keys()[0].kid, "kept"); // untouched on failure

  keys.clear();
  for (std::size_t i = 0; i <= limits::jwks_keys_max; ++i)
    keys.push_back({"k" + std::to_string(i), decode_key(rfc_x)});
  EXPECT_EQ(parse_jwks(build_jwks(keys), set), jwks_error::too_many_keys);
  keys.pop_back();
  EXPECT_EQ(parse_jwks(build_jwks(keys), set), jwks_error::none);
  EXPECT_EQ(set.size(), limits::jwks_keys_max);

  EXPECT_EQ(parse_jwks("", set), jwks_error::invalid_json);
  EXPECT_EQ(parse_jwks("[]", set), jwks_error::invalid_json);
  EXPECT_EQ(parse_jwks(R"({"keys":{}})", set), jwks_error::invalid_json);
  EXPECT_EQ(parse_jwks(R"({"keys":[],"keys":[]})", set), jwks_error::invalid_json);
  EXPECT_EQ(parse_jwks(R"({"keys":[]})", set), jwks_error::none);
  EXPECT_EQ(set.size(), 0u);
  const std::string huge = R"({"keys":[],"x":")" + std::string(limits::jwks_bytes_max, 'a') + "\"}";
  EXPECT_EQ(parse_jwks(huge, set), jwks_error::too_large);
}

TEST(Jws, DescribesEveryError) {
  for (auto error : {jws_error::too_large, jws_error::malformed, jws_error::bad_header,
                     jws_error::unsupported_algorithm, jws_error::critical_header,
                     jws_error::unknown_kid, jws_error::bad_signature})
    EXPECT_NE(describe(error), describe(jws_error::none));
  for (auto error : {jwks_error::too_large, jwks_error::invalid_json, jwks_error::unsupported,
                     jwks_error::invalid_key, jwks_error::private_key, jwks_error::duplicate_kid,
                     jwks_error::too_many_keys})
    EXPECT_NE(describe(error), describe(jwks_error::none));
}

} // namespace
} // namespace steward::core
