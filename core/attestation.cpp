#include "core/attestation.hpp"

#include "core/json_reader.hpp"
#include "core/json_writer.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace steward::core {

namespace {

// Times are Unix seconds below 2^53, the integers JavaScript verifiers represent exactly; the
// bound also keeps `exp - iat` and `now + leeway` far from overflow.
constexpr std::int64_t time_max = (std::int64_t{1} << 53) - 1;

bool is_base64url_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_valid_jti(std::string_view jti) noexcept {
  return jti.size() == attestation_jti_chars && jti.starts_with(attestation_jti_prefix) &&
         std::all_of(jti.begin() + attestation_jti_prefix.size(), jti.end(), is_base64url_char);
}

bool fits_claim(std::string_view text) noexcept {
  return text.size() <= limits::attestation_claim_bytes_max;
}

std::string claims_json(const attestation_claims& claims) {
  std::string out;
  json_writer w(out);
  w.begin_object()
    .member("iss", std::string_view(claims.iss))
    .member("sub", std::string_view(claims.sub))
    .member("aud", std::string_view(claims.aud))
    .member("email", std::string_view(claims.email))
    .member("email_verified", claims.email_verified)
    .member("name", std::string_view(claims.name))
    .member("iat", claims.iat)
    .member("exp", claims.exp)
    .member("jti", std::string_view(claims.jti))
    .end_object();
  return out;
}

attestation_error from_jws_error(jws_error error) noexcept {
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
  return attestation_error::malformed;
}

} // namespace

std::string_view describe(attestation_error error) noexcept {
  switch (error) {
  case attestation_error::none: return "valid";
  case attestation_error::malformed: return "attestation is not a well-formed JWS";
  case attestation_error::wrong_algorithm: return "attestation alg is not EdDSA";
  case attestation_error::unknown_key: return "attestation kid is not in the issuer's JWKS";
  case attestation_error::bad_signature: return "attestation signature does not verify";
  case attestation_error::wrong_typ: return "attestation typ is not steward-attestation+jwt";
  case attestation_error::missing_claim: return "attestation lacks a required claim";
  case attestation_error::invalid_claim: return "attestation has an invalid or unknown claim";
  case attestation_error::wrong_issuer: return "attestation issuer is not the expected one";
  case attestation_error::wrong_audience: return "attestation is for another audience";
  case attestation_error::lifetime_too_long: return "attestation lives longer than allowed";
  case attestation_error::not_yet_valid: return "attestation issued in the future";
  case attestation_error::expired: return "attestation expired";
  case attestation_error::no_randomness: return "no randomness for the attestation id";
  }
  return "invalid attestation";
}

attestation_error make_attestation(const attestation_request& request, const jws_signing_key& key,
                                   std::int64_t now, random_source& random,
                                   minted_attestation& out) {
  if (request.issuer.empty() || request.user_id.empty() || request.audience.empty() ||
      request.email.empty() || !fits_claim(request.issuer) || !fits_claim(request.user_id) ||
      !fits_claim(request.audience) || !fits_claim(request.email) || !fits_claim(request.name) ||
      request.lifetime_seconds <= 0 ||
      request.lifetime_seconds > limits::attestation_lifetime_seconds_max || now < 0 ||
      now > time_max - request.lifetime_seconds)
    return attestation_error::invalid_claim;

  std::array<std::uint8_t, attestation_jti_random_bytes> bits{};
  if (!random.fill(bits)) return attestation_error::no_randomness;

  attestation_claims claims;
  claims.iss = request.issuer;
  claims.sub = request.user_id;
  claims.aud = request.audience;
  claims.email = request.email;
  claims.email_verified = request.email_verified;
  claims.name = request.name;
  claims.iat = now;
  claims.exp = now + request.lifetime_seconds;
  claims.jti = std::string(attestation_jti_prefix) + base64url_encode(bits);

  out.token = key.sign(attestation_typ, claims_json(claims));
  out.claims = std::move(claims);
  return attestation_error::none;
}

attestation_error verify_attestation(std::string_view token, const jwk_set& keys,
                                     std::string_view expected_issuer,
                                     std::string_view expected_audience, std::int64_t now,
                                     attestation_claims& out) {
  verified_jws jws;
  if (const jws_error error = verify_compact(token, keys, jws); error != jws_error::none)
    return from_jws_error(error);
  if (jws.typ != attestation_typ) return attestation_error::wrong_typ;

  // Every claim is optional to the reader so that an absent one is told apart from a wrong one.
  std::optional<std::string> iss, sub, aud, email, name, jti;
  std::optional<bool> email_verified;
  std::optional<std::int64_t> iat, exp;
  constexpr std::size_t bytes_max = limits::attestation_claim_bytes_max;
  const json_error error = decode(jws.payload, [&](object_reader& o) {
    o.optional("iss", iss, bytes_max);
    o.optional("sub", sub, bytes_max);
    o.optional("aud", aud, bytes_max);
    o.optional("email", email, bytes_max);
    o.optional("email_verified", email_verified);
    o.optional("name", name, bytes_max);
    o.optional("iat", iat, 0, time_max);
    o.optional("exp", exp, 0, time_max);
    o.optional("jti", jti, bytes_max);
  });
  if (error)
    return error.code == api_error::invalid_json ? attestation_error::malformed
                                                 : attestation_error::invalid_claim;
  if (!iss || !sub || !aud || !email || !email_verified || !name || !iat || !exp || !jti)
    return attestation_error::missing_claim;
  if (iss->empty() || sub->empty() || aud->empty() || email->empty() || !is_valid_jti(*jti) ||
      *exp <= *iat)
    return attestation_error::invalid_claim;
  if (*iss != expected_issuer) return attestation_error::wrong_issuer;
  if (*aud != expected_audience) return attestation_error::wrong_audience;
  if (*exp - *iat > limits::attestation_lifetime_seconds_max)
    return attestation_error::lifetime_too_long;
  if (*iat > now + limits::attestation_leeway_seconds) return attestation_error::not_yet_valid;
  if (now >= *exp) return attestation_error::expired;

  out.iss = std::move(*iss);
  out.sub = std::move(*sub);
  out.aud = std::move(*aud);
  out.email = std::move(*email);
  out.email_verified = *email_verified;
  out.name = std::move(*name);
  out.iat = *iat;
  out.exp = *exp;
  out.jti = std::move(*jti);
  return attestation_error::none;
}

// --- Replay cache ------------------------------------------------------------------------------

jti_replay_cache::jti_replay_cache(std::size_t capacity)
  : capacity_(std::min(capacity, limits::attestation_replay_entries_max)) {}

void jti_replay_cache::forget_expired(std::int64_t now) {
  while (!by_expiry_.empty() && by_expiry_.top().first <= now) {
    expiry_by_jti_.erase(by_expiry_.top().second);
    by_expiry_.pop();
  }
}

jti_replay_cache::verdict jti_replay_cache::use(std::string_view jti, std::int64_t exp,
                                                std::int64_t now) {
  forget_expired(now);
  if (exp <= now) return verdict::expired;
  // A jti is remembered until the exp it was first seen with; a token that verifies again with the
  // same jti is a replay whatever its own exp says.
  if (expiry_by_jti_.find(std::string(jti)) != expiry_by_jti_.end()) return verdict::replayed;
  if (expiry_by_jti_.size() >= capacity_) return verdict::full;
  std::string key(jti);
  expiry_by_jti_.emplace(key, exp);
  by_expiry_.emplace(exp, std::move(key));
  return verdict::first_use;
}

// --- Discovery documents ---------------------------------------------------------------------

std::string jwks_uri(std::string_view issuer) {
  if (issuer.ends_with('/')) issuer.remove_suffix(1);
  std::string uri(issuer);
  uri += jwks_path;
  return uri;
}

std::string build_openid_configuration(std::string_view issuer) {
  std::string out;
  json_writer w(out);
  w.begin_object()
    .member("issuer", issuer)
    .member("jwks_uri", std::string_view(jwks_uri(issuer)))
    .key("id_token_signing_alg_values_supported")
    .begin_array()
    .string(jws_algorithm)
    .end_array()
    .key("subject_types_supported")
    .begin_array()
    .string("public")
    .end_array()
    .key("claims_supported")
    .begin_array();
  for (std::string_view claim :
       {"iss", "sub", "aud", "email", "email_verified", "name", "iat", "exp", "jti"})
    w.string(claim);
  w.end_array().end_object();
  return out;
}

} // namespace steward::core
