#pragma once

// Verifies steward's attestations exactly as any provider would (DESIGN 5): against the JWKS that
// steward publishes at `{steward-url}/.well-known/jwks.json`, fetched with the outbound HTTP client,
// with the issuer and audience this provider expects, and the single-use rule on `jti`.
//
// Keys are fetched on first need and kept. A token whose `kid` is not in the kept set triggers one
// refetch (steward rotated its key); if the kid is still unknown after it, the token is refused.
// Tokens arriving while a fetch is under way wait for that fetch instead of starting another
// (bounded by `waiters_max`; beyond it they are answered `busy`).
//
// Threads: `verify` may be called from any thread; `done` runs either on the caller's thread (when
// no fetch is needed) or on the HTTP client's thread. The client must be stopped before the verifier
// is destroyed (its pending callbacks name the verifier).

#include "core/attestation.hpp"
#include "core/jws.hpp"
#include "net/http_client.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace steward::refprovider {

struct attestation_verifier_config {
  std::string jwks_url;    ///< absolute URL of steward's JWKS
  std::string issuer;      ///< expected `iss`: steward's URL
  std::string audience;    ///< expected `aud`: this provider's slug
  std::size_t replay_entries_max = 0;
  std::size_t waiters_max = 0;
  std::uint32_t fetch_timeout_ms = 0;
  std::function<std::int64_t()> clock; ///< Unix seconds; the system clock when empty
};

/// The outcome of one attestation.
struct attestation_verdict {
  enum class kind : std::uint8_t {
    accepted,         ///< valid, first use: `claims` holds what it says
    rejected,         ///< invalid: `error` says why (forged, expired, wrong audience, ...)
    replayed,         ///< valid but its jti was used before
    replay_full,      ///< valid but the replay cache is full: refuse for now (503)
    keys_unavailable, ///< steward's JWKS could not be fetched or parsed (503)
    busy,             ///< too many attestations are waiting for a JWKS fetch (503)
  };
  kind what = kind::rejected;
  core::attestation_error error = core::attestation_error::none; ///< for `rejected`
  core::attestation_claims claims;                                ///< for `accepted`
};

class attestation_verifier {
public:
  using callback = std::function<void(attestation_verdict)>;

  /// `client` must outlive the verifier, and be stopped before it is destroyed.
  attestation_verifier(attestation_verifier_config config, net::http_client& client);

  /// Verifies `token` and calls `done` exactly once with the verdict.
  void verify(std::string token, callback done);

  /// JWKS fetches started so far (tests check that an unknown kid refetches once, not per retry).
  std::uint64_t fetches() const;

private:
  struct waiter {
    std::string token;
    callback done;
  };

  /// Verifies against the current keys; with `lock` held.
  attestation_verdict check_locked(const std::string& token);
  void start_fetch_unlocked();
  void on_jwks(net::client_result result);
  std::int64_t now() const;

  attestation_verifier_config config_;
  net::http_client& client_;
  mutable std::mutex mutex_;
  core::jwk_set keys_;
  bool have_keys_ = false;
  core::jti_replay_cache replays_;
  bool fetching_ = false;
  std::vector<waiter> waiters_;
  std::uint64_t fetches_ = 0;
};

/// A stable machine reason for a refused attestation, e.g. `attestation_expired`; it is sent as
/// the `reason` member of the 401 problem so that steward (and a human reading logs) can tell a
/// clock problem from a forgery.
std::string_view reason_code(core::attestation_error error) noexcept;

} // namespace steward::refprovider
