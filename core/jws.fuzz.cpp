// libFuzzer target for the JOSE layer (core/jws.cpp, core/attestation.cpp): `verify_compact`,
// `verify_attestation` and `parse_jwks` read tokens and key sets that come from outside (a
// provider's request, a fetched JWKS document); STYLE.md, every parser of untrusted bytes has one.
//
// A fuzzer cannot forge Ed25519 signatures, so most of what it writes would stop at the signature
// check. The first byte therefore picks what the rest of the input is (its value modulo 4):
//  0. a whole compact token, verified as it is;
//  1. a header and a payload, separated by the first 0xFF byte (never part of valid UTF-8, so
//     never of a JSON header), which the target signs with the fixed test key before verifying:
//     the header parser and everything after the signature check are then reachable;
//  2. an attestation's claims, signed with the header `make_attestation` writes;
//  3. a JWKS document.
// Tokens are checked against a fixed key set: the RFC 8037 test key (`rfc8037`, the signing key)
// and a second public key (`other`). Invariants, beyond "no crash, no sanitizer report":
//  - a token over limits::jws_bytes_max is `too_large`; one the target signed itself with a kid it
//    knows never fails as `malformed` or `bad_signature`;
//  - a token that verifies has three segments, each the one canonical base64url encoding of its
//    bytes, a valid kid of the set and a bounded typ; signing its typ and payload again gives the
//    token back when its header is the one `sign` writes (Ed25519 is deterministic); and changing
//    any one byte of it makes it fail;
//  - `verify_attestation` fails exactly as `verify_compact` does, then with `wrong_typ`;
//  - an attestation that verifies has claims within every bound of core/attestation.hpp, is
//    refused just past each of them (expiry, issue time, audience, issuer), and round-trips:
//    `make_attestation` with the same claims (and the jti's bytes as its randomness) mints a token
//    that verifies to equal claims;
//  - `parse_jwks` leaves its output alone on failure; a set it accepts is within the limits, with
//    valid and distinct kids, and `build_jwks` of it parses back to the same keys, as a fixed
//    point; a token signed with the test key verifies against it exactly when it holds that key
//    under that kid;
//  - every error has a description.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes tokens, headers, claims and
// JWKS documents in the shapes of the unit tests (core/jws.test.cpp, core/attestation.test.cpp)
// into DIR, then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "core/attestation.hpp"
#include "core/jws.hpp"
#include "core/limits.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace steward::core;
using namespace std::literals;

// RFC 8037 appendix A.1 / A.2: an Ed25519 key pair as JWK `d` and `x`.
constexpr std::string_view rfc_d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view rfc_x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr std::string_view rfc_kid = "rfc8037";
constexpr std::string_view other_kid = "other";

constexpr std::int64_t now = 1'700'000'000;
constexpr std::string_view issuer = "https://steward.example";
constexpr std::string_view audience = "refprovider";
// core/jws.cpp's bound on `typ` (RFC 6838 media types); not exported.
constexpr std::size_t typ_bytes_max = 255;
// core/attestation.cpp's bound on times (2^53 - 1); not exported.
constexpr std::int64_t time_max = (std::int64_t{1} << 53) - 1;

ed25519_key_bytes_t decode_key(std::string_view text) {
  std::string bytes;
  STEWARD_ASSERT(base64url_decode(text, bytes) && bytes.size() == ed25519_key_bytes);
  ed25519_key_bytes_t out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

ed25519_key_bytes_t other_public_key() {
  ed25519_key_bytes_t seed{};
  seed.fill(1);
  auto key = jws_signing_key::from_private_key("unused", seed);
  STEWARD_ASSERT(key.has_value());
  return key->public_key();
}

/// The fixed keys, made once.
struct fixture {
  jws_signing_key signer;
  EVP_PKEY* raw_signer = nullptr; // signs arbitrary headers; lives as long as the process
  jwk_set keys;                   // rfc8037 and other
  jwk_set signer_only;            // rfc8037
  ed25519_key_bytes_t other_x{};
  std::string known_token; // signed by the test key: kid rfc8037, no typ, a short payload

  static jws_signing_key make_signer() {
    auto key = jws_signing_key::from_private_key(std::string(rfc_kid), decode_key(rfc_d));
    STEWARD_ASSERT(key.has_value());
    return *key;
  }

  fixture() : signer(make_signer()), other_x(other_public_key()) {
    const ed25519_key_bytes_t d = decode_key(rfc_d);
    raw_signer = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, d.data(), d.size());
    STEWARD_ASSERT(raw_signer != nullptr);
    STEWARD_ASSERT(signer.public_key() == decode_key(rfc_x));
    STEWARD_ASSERT(keys.add(std::string(rfc_kid), signer.public_key()));
    STEWARD_ASSERT(keys.add(std::string(other_kid), other_x));
    STEWARD_ASSERT(signer_only.add(std::string(rfc_kid), signer.public_key()));
    known_token = signer.sign("", "known");
  }
};

const fixture& fixed() {
  static const fixture instance;
  return instance;
}

/// `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)` with the test key's
/// signature over the first two, whatever the header says.
std::string sign_raw(std::string_view header, std::string_view payload) {
  std::string token = base64url_encode(header) + "." + base64url_encode(payload);
  std::array<unsigned char, ed25519_signature_bytes> signature{};
  std::size_t size = signature.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
    ctx != nullptr &&
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, fixed().raw_signer) == 1 &&
    EVP_DigestSign(ctx, signature.data(), &size,
                   reinterpret_cast<const unsigned char*>(token.data()), token.size()) == 1 &&
    size == signature.size();
  EVP_MD_CTX_free(ctx);
  STEWARD_ASSERT(ok && "Ed25519 signing failed");
  token += '.';
  token += base64url_encode(std::span<const std::uint8_t>(signature.data(), signature.size()));
  return token;
}

std::uint64_t hash_bytes(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

bool is_base64url_text(std::string_view text) {
  std::string bytes;
  return base64url_decode(text, bytes) && base64url_encode(bytes) == text;
}

attestation_error expected_attestation_error(jws_error error) {
  switch (error) {
  case jws_error::none: return attestation_error::none;
  case jws_error::too_large:
  case jws_error::malformed:
  case jws_error::bad_header: return attestation_error::malformed;
  case jws_error::unsupported_algorithm:
  case jws_error::critical_header: return attestation_error::wrong_algorithm;
  case jws_error::unknown_kid: return attestation_error::unknown_key;
  case jws_error::bad_signature: return attestation_error::bad_signature;
  }
  STEWARD_ASSERT(false && "a jws_error out of its enum");
  return attestation_error::malformed;
}

/// Replays fixed bytes as randomness, so that `make_attestation` can mint a given jti.
class replay_random final : public random_source {
public:
  explicit replay_random(std::string bytes) : bytes_(std::move(bytes)) {}
  bool fill(std::span<std::uint8_t> out) noexcept override {
    if (out.size() != bytes_.size()) return false;
    std::copy(bytes_.begin(), bytes_.end(), out.begin());
    return true;
  }

private:
  std::string bytes_;
};

void check_claims(std::string_view token, const jwk_set& set, const attestation_claims& claims) {
  STEWARD_ASSERT(claims.iss == issuer && claims.aud == audience);
  STEWARD_ASSERT(!claims.sub.empty() && !claims.email.empty());
  for (const std::string* text :
       {&claims.iss, &claims.sub, &claims.aud, &claims.email, &claims.name, &claims.jti})
    STEWARD_ASSERT(text->size() <= limits::attestation_claim_bytes_max);
  STEWARD_ASSERT(claims.jti.size() == attestation_jti_chars &&
                 claims.jti.starts_with(attestation_jti_prefix));
  STEWARD_ASSERT(std::all_of(claims.jti.begin() + attestation_jti_prefix.size(), claims.jti.end(),
                             [](char c) {
                               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                      (c >= '0' && c <= '9') || c == '-' || c == '_';
                             }));
  STEWARD_ASSERT(claims.iat >= 0 && claims.exp <= time_max);
  STEWARD_ASSERT(claims.exp > claims.iat &&
                 claims.exp - claims.iat <= limits::attestation_lifetime_seconds_max);
  STEWARD_ASSERT(claims.iat <= now + limits::attestation_leeway_seconds && now < claims.exp);

  // Just past each bound it is refused, for that reason.
  attestation_claims ignored;
  STEWARD_ASSERT(verify_attestation(token, set, issuer, audience, claims.exp, ignored) ==
                 attestation_error::expired);
  STEWARD_ASSERT(verify_attestation(token, set, issuer, audience,
                                    claims.iat - limits::attestation_leeway_seconds - 1,
                                    ignored) == attestation_error::not_yet_valid);
  STEWARD_ASSERT(verify_attestation(token, set, issuer, "elsewhere", now, ignored) ==
                 attestation_error::wrong_audience);
  STEWARD_ASSERT(verify_attestation(token, set, "https://evil.example", audience, now, ignored) ==
                 attestation_error::wrong_issuer);

  // Round trip through the minting side: the same claims mint a token that verifies to them.
  std::string jti_bytes;
  const bool canonical_jti =
    base64url_decode(std::string_view(claims.jti).substr(attestation_jti_prefix.size()),
                     jti_bytes) &&
    jti_bytes.size() == attestation_jti_random_bytes;
  if (!canonical_jti) jti_bytes.assign(attestation_jti_random_bytes, '\0');
  attestation_request request{claims.iss,  claims.sub,          claims.aud,
                              claims.email, claims.email_verified, claims.name,
                              claims.exp - claims.iat};
  replay_random random(jti_bytes);
  minted_attestation minted;
  STEWARD_ASSERT(make_attestation(request, fixed().signer, claims.iat, random, minted) ==
                   attestation_error::none &&
                 "verified claims that cannot be minted");
  if (canonical_jti)
    STEWARD_ASSERT(minted.claims == claims && "minting changed the claims");
  attestation_claims again;
  STEWARD_ASSERT(verify_attestation(minted.token, fixed().keys, issuer, audience, now, again) ==
                   attestation_error::none &&
                 "a minted attestation does not verify");
  STEWARD_ASSERT(again == minted.claims && "an attestation changed through mint and verify");
}

/// Verifies `token` as a JWS and as an attestation against `set`, checking the invariants.
/// Answers the JWS verdict.
jws_error check_token(std::string_view token, const jwk_set& set) {
  verified_jws out;
  const jws_error error = verify_compact(token, set, out);
  STEWARD_ASSERT(!describe(error).empty());
  if (token.size() > limits::jws_bytes_max) STEWARD_ASSERT(error == jws_error::too_large);

  if (error == jws_error::none) {
    STEWARD_ASSERT(std::count(token.begin(), token.end(), '.') == 2);
    const std::size_t first = token.find('.');
    const std::size_t second = token.find('.', first + 1);
    const std::string_view header_text = token.substr(0, first);
    const std::string_view payload_text = token.substr(first + 1, second - first - 1);
    STEWARD_ASSERT(is_base64url_text(header_text) && is_base64url_text(token.substr(second + 1)));
    STEWARD_ASSERT(base64url_encode(out.payload) == payload_text);
    STEWARD_ASSERT(is_valid_kid(out.kid) && set.find(out.kid) != nullptr);
    STEWARD_ASSERT(out.typ.size() <= typ_bytes_max);

    // Ed25519 is deterministic: signing again gives the token back, when the header is the one
    // `sign` writes (the test key signs everything under kid rfc8037).
    if (out.kid == rfc_kid) {
      const std::string again = fixed().signer.sign(out.typ, out.payload);
      if (std::string_view(again).substr(0, again.find('.')) == header_text)
        STEWARD_ASSERT(again == token && "signing the verified content gives another token");
    }

    // No other token is this one: any single changed byte makes it fail.
    std::uint64_t seed = hash_bytes(token);
    for (int round = 0; round < 2; ++round) {
      std::string changed(token);
      const std::size_t at = seed % changed.size();
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      changed[at] = static_cast<char>(changed[at] ^ (1 + (seed >> 33) % 127));
      verified_jws ignored;
      STEWARD_ASSERT(verify_compact(changed, set, ignored) != jws_error::none &&
                     "a changed token still verifies");
    }
  }

  attestation_claims claims;
  const attestation_error attestation =
    verify_attestation(token, set, issuer, audience, now, claims);
  STEWARD_ASSERT(!describe(attestation).empty());
  if (error != jws_error::none) {
    STEWARD_ASSERT(attestation == expected_attestation_error(error));
  } else if (out.typ != attestation_typ) {
    STEWARD_ASSERT(attestation == attestation_error::wrong_typ);
  } else {
    STEWARD_ASSERT(attestation != attestation_error::wrong_algorithm &&
                   attestation != attestation_error::unknown_key &&
                   attestation != attestation_error::bad_signature &&
                   attestation != attestation_error::wrong_typ &&
                   attestation != attestation_error::no_randomness);
  }
  if (attestation == attestation_error::none) check_claims(token, set, claims);
  return error;
}

/// A token the target signed itself under a kid of `set`'s only key: the signature is good.
void check_signed(std::string_view token) {
  const jws_error error = check_token(token, fixed().signer_only);
  if (token.size() > limits::jws_bytes_max) return;
  STEWARD_ASSERT(error != jws_error::malformed && error != jws_error::too_large &&
                 error != jws_error::bad_signature);
}

void run_header_and_payload(std::string_view input) {
  const std::size_t split = input.find('\xff');
  const std::string_view header = input.substr(0, split);
  const std::string_view payload =
    split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  const std::string token = sign_raw(header, payload);
  check_signed(token);
  // The same signature under the two-key set: only `other` may make it fail the signature check.
  check_token(token, fixed().keys);
}

void run_claims(std::string_view payload) {
  const std::string token = fixed().signer.sign(attestation_typ, payload);
  check_signed(token);
  if (token.size() <= limits::jws_bytes_max) {
    verified_jws out;
    STEWARD_ASSERT(verify_compact(token, fixed().keys, out) == jws_error::none);
    STEWARD_ASSERT(out.payload == payload && out.typ == attestation_typ && out.kid == rfc_kid);
  }
}

void run_jwks(std::string_view document) {
  jwk_set set;
  STEWARD_ASSERT(set.add("sentinel", fixed().other_x));
  const jwks_error error = parse_jwks(document, set);
  STEWARD_ASSERT(!describe(error).empty());
  if (document.size() > limits::jwks_bytes_max) STEWARD_ASSERT(error == jwks_error::too_large);
  if (error != jwks_error::none) {
    STEWARD_ASSERT(set.size() == 1 && set.keys()[0].kid == "sentinel" &&
                   "a refused JWKS changed its output");
    return;
  }
  STEWARD_ASSERT(set.size() <= limits::jwks_keys_max);
  for (std::size_t i = 0; i < set.size(); ++i) {
    const public_jwk& key = set.keys()[i];
    STEWARD_ASSERT(is_valid_kid(key.kid) && set.find(key.kid) != nullptr);
    for (std::size_t j = 0; j < i; ++j) STEWARD_ASSERT(set.keys()[j].kid != key.kid);
  }

  const std::string rebuilt = build_jwks(set.keys());
  jwk_set again;
  STEWARD_ASSERT(parse_jwks(rebuilt, again) == jwks_error::none && "built JWKS does not parse");
  STEWARD_ASSERT(again.size() == set.size());
  for (std::size_t i = 0; i < set.size(); ++i)
    STEWARD_ASSERT(again.keys()[i].kid == set.keys()[i].kid &&
                   again.keys()[i].x == set.keys()[i].x);
  STEWARD_ASSERT(build_jwks(again.keys()) == rebuilt && "JWKS building is not a fixed point");

  // The set verifies the test key's token exactly when it holds the test key under its kid.
  verified_jws out;
  const jws_error verdict = verify_compact(fixed().known_token, set, out);
  const auto held = std::find_if(set.keys().begin(), set.keys().end(),
                                 [](const public_jwk& key) { return key.kid == rfc_kid; });
  if (held == set.keys().end())
    STEWARD_ASSERT(verdict == jws_error::unknown_kid);
  else if (held->x == fixed().signer.public_key())
    STEWARD_ASSERT(verdict == jws_error::none && out.payload == "known");
  else
    STEWARD_ASSERT(verdict == jws_error::bad_signature);
}

// --- Seeds ---------------------------------------------------------------------------------------

constexpr std::string_view valid_claims =
  R"({"iss":"https://steward.example","sub":"usr_1","aud":"refprovider","email":"a@b.c",)"
  R"("email_verified":true,"name":"","iat":1700000000,"exp":1700000300,)"
  R"("jti":"att_AAECAwQFBgcICQoLDA0ODw"})";

// Headers of core/jws.test.cpp, each signed by the target with the payload after the 0xFF byte.
constexpr std::string_view header_seeds[] = {
  R"({"alg":"EdDSA","kid":"rfc8037","typ":"steward-attestation+jwt"})",
  R"({"alg":"EdDSA","kid":"rfc8037"})",
  R"({"alg":"EdDSA","kid":"other"})",
  R"({"alg":"none","kid":"rfc8037"})",
  R"({"alg":"HS256","kid":"rfc8037"})",
  R"({"kid":"rfc8037"})",
  R"({"alg":null,"kid":"rfc8037"})",
  R"({"alg":"EdDSA","kid":"rfc8037","crit":["typ"],"typ":"x"})",
  R"({"crit":[],"alg":"EdDSA","kid":"rfc8037"})",
  R"({"alg":"EdDSA","kid":"rfc8037","jku":"https://evil/jwks"})",
  R"({"alg":"EdDSA","kid":"rfc8037","jwk":{"kty":"OKP"}})",
  R"({"alg":"EdDSA","alg":"EdDSA","kid":"rfc8037"})",
  R"({"alg":"EdDSA","kid":"other","kid":"rfc8037"})",
  R"(["alg","EdDSA"])",
  R"({"alg":"EdDSA","kid":"rfc8037"} x)",
  R"({"alg":"EdDSA","kid":7})",
  R"({"alg":"EdDSA","kid":"rfc 8037"})",
  R"({"alg":"EdDSA","kid":"someone-else"})",
  R"( {"alg" : "EdDSA", "kid" : "rfc\u0038037", "typ" : "steward-attestation+jwt"} )",
};

// Claims of core/attestation.test.cpp.
constexpr std::string_view claim_seeds[] = {
  valid_claims,
  R"({"iss":"https://steward.example","sub":"usr_0000000000000000000001","aud":"refprovider",)"
  R"("email":"ada@example.com","email_verified":false,"name":"Ada Lovelace","iat":1699999990,)"
  R"("exp":1700000010,"jti":"att_AQIDBAUGBwgJCgsMDQ4PEA"})",
  R"({"iss":"https://steward.example","sub":"usr_1","aud":"refprovider","email":"a@b.c",)"
  R"("email_verified":true,"name":"","iat":1700000000,"jti":"att_AAECAwQFBgcICQoLDA0ODw"})",
  R"({"iss":"https://steward.example","sub":"usr_1","aud":["refprovider"],"email":"a@b.c",)"
  R"("email_verified":true,"name":"","iat":1700000000,"exp":1700000300,)"
  R"("jti":"att_AAECAwQFBgcICQoLDA0ODw"})",
  R"({"iss":"https://steward.example","sub":"usr_1","aud":"refprovider","email":"a@b.c",)"
  R"("email_verified":true,"name":"","iat":1700000000,"exp":1800000000,)"
  R"("jti":"att_AAECAwQFBgcICQoLDA0ODw","nonce":"x"})",
  R"({"iss":"https://steward.example","sub":"usr_1","aud":"refprovider","email":"a@b.c",)"
  R"("email_verified":"true","name":"","iat":1700000000.5,"exp":1700000300,"jti":"jti_1"})",
  "[]",
  "{",
};

// JWKS documents of core/jws.test.cpp.
constexpr std::string_view jwks_seeds[] = {
  R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("kid":"rfc8037","use":"sig","alg":"EdDSA"}]})",
  R"({"keys":[{"kid":"rfc8037","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("crv":"Ed25519","kty":"OKP"},{"kid":"b","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("crv":"Ed25519","kty":"OKP"}]})",
  R"({"keys":[{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("kid":"a","use":"enc"}]})",
  R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("kid":"a","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]})",
  R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("kid":"a"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
  R"("kid":"a"}]})",
  R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR",)"
  R"("kid":"a b"}]})",
  R"({"keys":[]})",
  R"({"keys":[],"keys":[]})",
};

void write_seed(const std::filesystem::path& path, char selector, std::string_view body) {
  std::string bytes(1, selector);
  bytes += body;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(file);
}

void write_seeds(const char* directory) {
  const std::filesystem::path dir(directory);
  std::filesystem::create_directories(dir);
  std::size_t count = 0;
  auto write = [&](std::string_view name, char selector, std::string_view body) {
    write_seed(dir / (std::string(name) + "-" + std::to_string(count++)), selector, body);
  };
  // Whole tokens: valid ones, one signed under the wrong kid, and `alg: none`.
  const jws_signing_key& signer = fixed().signer;
  for (const std::string& token :
       {signer.sign(attestation_typ, valid_claims), signer.sign("", ""), fixed().known_token,
        sign_raw(R"({"alg":"EdDSA","kid":"other"})", "x"),
        base64url_encode(R"({"alg":"none"})"sv) + "." + base64url_encode(valid_claims) + "."})
    write("token", '\0', token);
  for (std::string_view header : header_seeds)
    write("header", '\1', std::string(header) + "\xff" + std::string(valid_claims));
  for (std::string_view claims : claim_seeds) write("claims", '\2', claims);
  for (std::string_view document : jwks_seeds) write("jwks", '\3', document);
  write("jwks", '\3', build_jwks(fixed().keys.keys()));
  std::printf("wrote %zu seeds to %s\n", count, directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixed(); // made once, before the first input
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS")) write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
  case 0: check_token(input, fixed().keys); break;
  case 1: run_header_and_payload(input); break;
  case 2: run_claims(input); break;
  case 3: run_jwks(input); break;
  }
  return 0;
}
