#pragma once

// The reference provider's OAuth 2.0 authorization-code grant with PKCE (RFC 6749 4.1, RFC 7636),
// by which a human links an account that exists at the provider to steward (DESIGN 5:
// `oauth_required`). This file holds the logic the routes in service.cpp wire:
//
//  - PKCE, S256 only: the challenge is the unpadded base64url SHA-256 of the verifier; a verifier
//    is 43 to 128 characters of `A-Z a-z 0-9 - . _ ~` (RFC 7636 4.1).
//  - Redirect URIs: absolute http(s) URLs, `http://` only to a loopback host, no fragment.
//  - `authorization_codes`: codes that are single-use, live `limits::oauth_code_lifetime_s`, and
//    are bound to the client id, the redirect URI and the challenge they were issued for.
//
// Thread-safe: the routes run on the server's io thread, tests call from their own.

#include "core/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace steward::refprovider {

inline constexpr std::string_view authorization_code_prefix = "rpa_";
/// Random bytes behind an authorization code (256 bits).
inline constexpr std::size_t authorization_code_random_bytes = 32;

/// Whether `verifier` is a PKCE code verifier: 43 to 128 characters of RFC 7636's unreserved set.
bool is_code_verifier(std::string_view verifier) noexcept;

/// Whether `challenge` has the shape of an S256 challenge: 43 characters of unpadded base64url.
bool is_s256_challenge(std::string_view challenge) noexcept;

/// The S256 challenge of `verifier`: BASE64URL(SHA256(verifier)) (RFC 7636 4.2).
std::string s256_challenge(std::string_view verifier);

/// Whether `verifier` is well-formed and its S256 challenge is `challenge`, compared in constant
/// time.
bool pkce_matches(std::string_view verifier, std::string_view challenge);

/// Why a redirect URI is not acceptable; empty when it is (see the file comment).
std::optional<std::string> redirect_uri_problem(std::string_view uri);

/// `redirect_uri` with `query` (already encoded, `a=b&c=d`) added to its query string.
std::string with_query(std::string_view redirect_uri, std::string_view query);

/// Whether `client_id` is acceptable as an OAuth client id: 1 to 64 characters of
/// `A-Z a-z 0-9 - . _ ~`.
bool is_client_id(std::string_view client_id) noexcept;

/// One parameter of a query string or form body (`a=b&c=d`).
struct oauth_parameter {
  enum class state : std::uint8_t {
    absent,
    present,
    malformed, ///< a bad percent-escape, or the name given more than once (RFC 6749 3.1)
  };
  state what = state::absent;
  std::string value; ///< decoded, when present
};

/// Reads `name` from `params` (see oauth_parameter).
oauth_parameter read_parameter(std::string_view params, std::string_view name);

/// An OAuth error answer (RFC 6749 4.1.2.1, 5.2): `error` is one of its codes.
struct oauth_error {
  std::string_view error;
  std::string description;
};

/// A validated authorization request (`GET /oauth/authorize`, or the consent form's POST).
struct authorization_request {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string code_challenge; ///< S256
  std::string login_hint;     ///< lower-cased email: the account being linked
};

/// The client this provider knows: one client id and its registered redirect URI.
struct oauth_client {
  std::string client_id;
  std::string redirect_uri;
};

/// Reads and checks an authorization request from `params`: `response_type=code`, the known
/// `client_id` and its registered `redirect_uri`, a `state` of 1 to `limits::oauth_state_bytes_max`
/// characters %x20-7E, `code_challenge_method=S256` (plain is refused) with an S256
/// `code_challenge`, and `login_hint`, an email (the reference provider has no login: the hint
/// names the account). Whether the email has an account is the caller's check.
std::optional<oauth_error> read_authorization_request(std::string_view params,
                                                      const oauth_client& client,
                                                      authorization_request& out);

/// `text` with `& < > " '` replaced by character references, for HTML text and attribute values.
std::string html_escape(std::string_view text);

/// The consent page for `request`: what is asked, and a form that posts the request back to
/// `/oauth/authorize` with `decision=allow` or `decision=deny`.
std::string consent_page(const authorization_request& request);

/// Whether a Content-Type field value is application/x-www-form-urlencoded (any case, parameters
/// allowed).
bool is_form_content_type(std::string_view content_type) noexcept;

/// What a code was issued for.
struct code_grant {
  std::string email; ///< the account being linked, lower-cased
  std::string client_id;
  std::string redirect_uri;
  std::string challenge; ///< S256
};

class authorization_codes {
public:
  enum class redeem_error : std::uint8_t {
    none,
    unknown,          ///< never issued, already used, or forgotten
    expired,          ///< older than the lifetime
    client_mismatch,  ///< issued to another client id
    redirect_mismatch,///< issued with another redirect URI
    verifier_mismatch,///< the verifier does not hash to the challenge
  };

  struct redeemed {
    redeem_error error = redeem_error::unknown;
    std::string email; ///< when `error` is none
  };

  /// At most `capacity` live codes; each lives `lifetime_s` seconds. `random` must outlive this.
  authorization_codes(std::size_t capacity, std::int64_t lifetime_s, core::random_source& random);

  /// A new code for `grant`, issued at `now` (Unix seconds). Empty when the store is full of live
  /// codes or the random source failed.
  std::optional<std::string> issue(code_grant grant, std::int64_t now);

  /// Redeems `code`. Any presentation of a code consumes it, whether or not the rest matches, so a
  /// stolen code cannot be retried with guessed verifiers (RFC 6749 4.1.2: single use).
  redeemed redeem(std::string_view code, std::string_view client_id,
                  std::string_view redirect_uri, std::string_view verifier, std::int64_t now);

  /// Live and expired codes not yet redeemed or pruned.
  std::size_t size() const;

private:
  struct entry {
    code_grant grant;
    std::int64_t issued_at = 0;
  };

  mutable std::mutex mutex_;
  /// Keyed by the hash of the code, so a lookup's timing says nothing about a guess.
  std::unordered_map<std::string, entry> by_hash_;
  std::size_t capacity_;
  std::int64_t lifetime_s_;
  core::random_source& random_;
};

std::string_view to_string(authorization_codes::redeem_error error) noexcept;

} // namespace steward::refprovider
