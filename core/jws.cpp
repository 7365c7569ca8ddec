#include "core/jws.hpp"

#include "core/assert.hpp"
#include "core/json_reader.hpp"
#include "core/limits.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace steward::core {

namespace {

// `alg` values longer than this are not algorithms anyone registered; they fail as a bad header.
constexpr std::size_t algorithm_bytes_max = 32;
// `typ` values are media types; RFC 6838 caps each half at 127 characters.
constexpr std::size_t typ_bytes_max = 255;

struct pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

std::shared_ptr<EVP_PKEY> public_key_of(const ed25519_key_bytes_t& x) {
  return std::shared_ptr<EVP_PKEY>(
    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x.data(), x.size()), pkey_deleter{});
}

bool verify_ed25519(const EVP_PKEY* key, std::string_view signing_input,
                    std::string_view signature) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  // Ed25519 is a one-shot signature (no pre-hash): the digest must be NULL and the whole input
  // given to EVP_DigestVerify at once. OpenSSL takes a non-const key only for reference counting.
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, const_cast<EVP_PKEY*>(key)) != 1)
    return false;
  return EVP_DigestVerify(
           ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

} // namespace

// --- Keys ----------------------------------------------------------------------------------------

bool is_valid_kid(std::string_view kid) noexcept {
  return !kid.empty() && kid.size() <= limits::jws_kid_bytes_max &&
         std::all_of(kid.begin(), kid.end(), [](char c) { return base64url_value(c) >= 0; });
}

std::optional<jws_signing_key>
jws_signing_key::from_private_key(std::string kid, std::span<const std::uint8_t, 32> private_key) {
  if (!is_valid_kid(kid)) return std::nullopt;
  jws_signing_key key;
  key.key_ = std::shared_ptr<EVP_PKEY>(
    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(), private_key.size()),
    pkey_deleter{});
  if (!key.key_) return std::nullopt;
  std::size_t size = key.public_key_.size();
  if (EVP_PKEY_get_raw_public_key(key.key_.get(), key.public_key_.data(), &size) != 1 ||
      size != key.public_key_.size())
    return std::nullopt;
  key.kid_ = std::move(kid);
  return key;
}

std::string jws_signing_key::sign(std::string_view typ, std::string_view payload) const {
  std::string header;
  json_writer w(header);
  w.begin_object().member("alg", jws_algorithm).member("kid", std::string_view(kid_));
  if (!typ.empty()) w.member("typ", typ);
  w.end_object();

  std::string token = base64url_encode(header);
  token += '.';
  token += base64url_encode(payload);

  std::array<unsigned char, ed25519_signature_bytes> signature{};
  std::size_t size = signature.size();
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  // Only memory exhaustion or a broken OpenSSL fails here; a token without a valid signature
  // must never be handed out as if it had one.
  const bool ok =
    ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
    EVP_DigestSign(ctx.get(), signature.data(), &size,
                   reinterpret_cast<const unsigned char*>(token.data()), token.size()) == 1 &&
    size == signature.size();
  STEWARD_ASSERT(ok && "Ed25519 signing failed");
  token += '.';
  token += base64url_encode(std::span<const std::uint8_t>(signature.data(), signature.size()));
  return token;
}

bool jwk_set::add(std::string kid, const ed25519_key_bytes_t& x) {
  if (!is_valid_kid(kid) || keys_.size() >= limits::jwks_keys_max || find(kid) != nullptr)
    return false;
  auto key = public_key_of(x);
  if (!key) return false;
  keys_.push_back(public_jwk{std::move(kid), x});
  openssl_keys_.push_back(std::move(key));
  return true;
}

const EVP_PKEY* jwk_set::find(std::string_view kid) const noexcept {
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i].kid == kid) return openssl_keys_[i].get();
  return nullptr;
}

// --- JWK and JWKS documents -------------------------------------------------------------------

void write_jwk(json_writer& w, const public_jwk& key) {
  w.begin_object()
    .member("kty", std::string_view("OKP"))
    .member("crv", std::string_view("Ed25519"))
    .member("x", std::string_view(base64url_encode(key.x)))
    .member("kid", std::string_view(key.kid))
    .member("use", std::string_view("sig"))
    .member("alg", jws_algorithm)
    .end_object();
}

std::string build_jwks(std::span<const public_jwk> keys) {
  std::string out;
  json_writer w(out);
  w.begin_object().key("keys").begin_array();
  for (const public_jwk& key : keys) write_jwk(w, key);
  w.end_array().end_object();
  return out;
}

std::string_view describe(jwks_error error) noexcept {
  switch (error) {
  case jwks_error::none: return "valid";
  case jwks_error::too_large: return "JWKS document too large";
  case jwks_error::invalid_json: return "JWKS document is not {\"keys\":[JWK...]}";
  case jwks_error::unsupported: return "JWK is not an Ed25519 signing key for EdDSA";
  case jwks_error::invalid_key: return "JWK has an invalid x or kid";
  case jwks_error::private_key: return "JWK contains a private key";
  case jwks_error::duplicate_kid: return "two JWKs share a kid";
  case jwks_error::too_many_keys: return "JWKS has too many keys";
  }
  return "invalid JWKS";
}

jwks_error parse_jwks(std::string_view document, jwk_set& out) {
  if (document.size() > limits::jwks_bytes_max) return jwks_error::too_large;
  struct entry {
    std::string kty, crv, x, kid;
    std::optional<std::string> use, alg;
    raw_json d; // text stays empty when absent
  };
  std::vector<entry> entries;
  const json_error error = decode(document, [&](object_reader& o) {
    o.required("keys", entries, limits::jwks_keys_max, [](object_reader& k, entry& e) {
      k.required("kty", e.kty, 16);
      k.required("crv", e.crv, 16);
      k.required("x", e.x, 64);
      k.required("kid", e.kid, limits::jws_kid_bytes_max);
      k.optional("use", e.use, 16);
      k.optional("alg", e.alg, algorithm_bytes_max);
      // `d` is the private key of an OKP JWK (RFC 8037 2). It is claimed here only to say so.
      k.optional("d", e.d);
    });
  });
  if (error) {
    // The reader reports an over-long array at the array itself with this detail; an element's
    // error points inside it (`/keys/N/...`).
    if (error.pointer == "/keys" && error.detail.starts_with("more than "))
      return jwks_error::too_many_keys;
    return jwks_error::invalid_json;
  }
  jwk_set keys;
  for (const entry& e : entries) {
    if (!e.d.text.empty()) return jwks_error::private_key;
    if (e.kty != "OKP" || e.crv != "Ed25519" || (e.use && *e.use != "sig") ||
        (e.alg && *e.alg != jws_algorithm))
      return jwks_error::unsupported;
    std::string x;
    if (!base64url_decode(e.x, x) || x.size() != ed25519_key_bytes || !is_valid_kid(e.kid))
      return jwks_error::invalid_key;
    if (keys.find(e.kid) != nullptr) return jwks_error::duplicate_kid;
    ed25519_key_bytes_t bytes{};
    std::copy(x.begin(), x.end(), bytes.begin());
    if (!keys.add(e.kid, bytes)) return jwks_error::invalid_key;
  }
  out = std::move(keys);
  return jwks_error::none;
}

// --- Compact JWS verification ------------------------------------------------------------------

std::string_view describe(jws_error error) noexcept {
  switch (error) {
  case jws_error::none: return "valid";
  case jws_error::too_large: return "token too large";
  case jws_error::malformed: return "token is not a compact JWS";
  case jws_error::bad_header: return "JWS header is not acceptable";
  case jws_error::unsupported_algorithm: return "JWS alg is not EdDSA";
  case jws_error::critical_header: return "JWS header has crit";
  case jws_error::unknown_kid: return "JWS kid is not a known key";
  case jws_error::bad_signature: return "JWS signature does not verify";
  }
  return "invalid token";
}

jws_error verify_compact(std::string_view token, const jwk_set& keys, verified_jws& out) {
  if (token.size() > limits::jws_bytes_max) return jws_error::too_large;
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) return jws_error::malformed;
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return jws_error::malformed;
  const std::string_view header_text = token.substr(0, first);
  const std::string_view payload_text = token.substr(first + 1, second - first - 1);
  const std::string_view signature_text = token.substr(second + 1);

  std::string header_json;
  std::string payload;
  std::string signature;
  if (!base64url_decode(header_text, header_json) || !base64url_decode(payload_text, payload) ||
      !base64url_decode(signature_text, signature))
    return jws_error::malformed;

  std::optional<std::string> alg;
  std::optional<std::string> kid;
  std::string typ;
  raw_json crit; // text stays empty when absent
  const json_error error = decode(header_json, [&](object_reader& o) {
    o.optional("alg", alg, algorithm_bytes_max);
    o.optional("kid", kid, limits::jws_kid_bytes_max);
    o.optional("typ", typ, typ_bytes_max);
    // Claimed only so that its presence is reported as such rather than as an unknown member.
    o.optional("crit", crit);
  });
  if (error) return jws_error::bad_header;
  if (!crit.text.empty()) return jws_error::critical_header;
  if (!alg) return jws_error::bad_header;
  if (*alg != jws_algorithm) return jws_error::unsupported_algorithm;
  if (!kid || !is_valid_kid(*kid)) return jws_error::bad_header;
  const EVP_PKEY* key = keys.find(*kid);
  if (key == nullptr) return jws_error::unknown_kid;
  if (signature.size() != ed25519_signature_bytes) return jws_error::malformed;
  if (!verify_ed25519(key, token.substr(0, second), signature)) return jws_error::bad_signature;

  out.kid = std::move(*kid);
  out.typ = std::move(typ);
  out.payload = std::move(payload);
  return jws_error::none;
}

} // namespace steward::core
