#pragma once

// Steward's side of provider protocol v1 (DESIGN 5) for a purchase: the bodies steward sends to a
// provider and the reading of what it answers. Pure: no I/O, no clock, no randomness.
//
//   POST {base}/accounts     {"attestation": JWS}
//                            → 201/200 {"outcome":"created","account_id","credentials":{...}}
//                            → 200 {"outcome":"oauth_required","authorize_url","account_id"?}
//   POST {base}/oauth/token  form: grant_type=authorization_code, code, code_verifier,
//                            redirect_uri, client_id → {"access_token","account_id",...}
//   POST {base}/resources    {"service","name","config","payment_token":{"id","max_amount",
//                            "currency","expires_at"}} → 201 {"id","status","credentials","price"}
//
// Answers are read tolerantly where a provider may say more than steward needs (members steward
// does not know are ignored), and strictly in what steward relies on: a member it uses must have
// its type and bounds, or the answer is not understood (`provider_error`). The account token is
// the string member `credentials.account_token`; a resource's credentials are the JSON object
// `credentials`, kept whole (sealed in the vault, shown once).
//
// PKCE (RFC 7636, S256 only): the verifier of an `account_link` approval is derived from a key
// steward holds and the approval id (HMAC-SHA-256, base64url, 43 characters), so nothing about it
// is stored and only steward can compute it; the approval id is the OAuth `state`.

#include "core/money.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

/// What a provider answered to `POST {base}/accounts`.
struct account_answer {
  enum class kind : std::uint8_t { created, oauth_required } what = kind::created;
  /// created: the new account; oauth_required: the email's existing account when the provider
  /// names it (an extension of DESIGN 5), so that the account a human consents for can be checked
  std::string account_id;
  std::string account_token; ///< created: `credentials.account_token`
  std::string authorize_url; ///< oauth_required
};

/// Reads a 200/201 answer of `POST {base}/accounts`; nullopt when it is not one steward
/// understands (a created answer without an account id or token, an `authorize_url` that is not
/// an absolute http(s) URL, an unknown outcome).
std::optional<account_answer> read_account_answer(std::string_view body);

/// What a provider answered to `POST {base}/oauth/token`.
struct token_answer {
  std::string access_token;
  std::string account_id;
};
std::optional<token_answer> read_token_answer(std::string_view body);

/// What a provider answered to `POST {base}/resources` with a 2xx.
struct resource_answer {
  std::string id;          ///< the provider's id of the resource
  std::string status;      ///< "ready" or "pending" (others are not understood)
  std::string credentials; ///< the `credentials` object as compact JSON; empty when absent
  std::optional<money> price;
};
std::optional<resource_answer> read_resource_answer(std::string_view body);

/// The payment token a resource order grants the provider (DESIGN 5).
struct order_token {
  std::string id;
  money max_amount;
  std::int64_t expires_at = 0;
};

/// The `POST {base}/resources` body. `config` is compact JSON (an object). Deterministic: the same
/// arguments give the same bytes, so a re-sent order matches its Idempotency-Key's fingerprint.
std::string resource_order_body(std::string_view service, std::string_view name,
                                std::string_view config, const std::optional<order_token>& token);

/// The `POST {base}/accounts` body.
std::string account_request_body(std::string_view attestation);

/// The PKCE verifier of approval `approval` under `key` (see the file comment).
std::string pkce_verifier(std::span<const std::uint8_t> key, std::string_view approval);

/// BASE64URL(SHA-256(verifier)), RFC 7636 4.2.
std::string pkce_challenge(std::string_view verifier);

/// `authorize_url` with steward's `state` and S256 challenge appended as query parameters.
std::string authorize_url_with_pkce(std::string_view authorize_url, std::string_view state,
                                    std::string_view challenge);

/// The form body of the authorization-code grant (RFC 6749 4.1.3 with RFC 7636 4.5).
std::string token_request_form(std::string_view code, std::string_view verifier,
                               std::string_view redirect_uri, std::string_view client_id);

/// The `code` and `state` of a redirect to `/oauth/callback`, or its `error` (RFC 6749 4.1.2.1).
struct oauth_callback {
  std::string state;
  std::string code;
  std::string error; ///< set when the human refused or the provider failed
};

/// Reads the callback's query string (without `?`). nullopt when `state` is missing or a
/// parameter is repeated or malformed, or when it has neither `code` nor `error`.
std::optional<oauth_callback> read_oauth_callback(std::string_view query);

} // namespace steward::core
