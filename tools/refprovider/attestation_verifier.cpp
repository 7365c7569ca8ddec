#include "tools/refprovider/attestation_verifier.hpp"

#include <chrono>
#include <utility>

namespace steward::refprovider {

attestation_verifier::attestation_verifier(attestation_verifier_config config,
                                           net::http_client& client)
    : config_(std::move(config)), client_(client), replays_(config_.replay_entries_max) {}

std::int64_t attestation_verifier::now() const {
  if (config_.clock)
    return config_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::uint64_t attestation_verifier::fetches() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return fetches_;
}

attestation_verdict attestation_verifier::check_locked(const std::string& token) {
  attestation_verdict verdict;
  auto const at = now();
  verdict.error = core::verify_attestation(token, keys_, config_.issuer, config_.audience, at,
                                           verdict.claims);
  if (verdict.error != core::attestation_error::none) {
    verdict.what = attestation_verdict::kind::rejected;
    return verdict;
  }
  switch (replays_.use(verdict.claims.jti, verdict.claims.exp, at)) {
  case core::jti_replay_cache::verdict::first_use:
    verdict.what = attestation_verdict::kind::accepted;
    break;
  case core::jti_replay_cache::verdict::replayed:
    verdict.what = attestation_verdict::kind::replayed;
    break;
  case core::jti_replay_cache::verdict::expired:
    verdict.what = attestation_verdict::kind::rejected;
    verdict.error = core::attestation_error::expired;
    break;
  case core::jti_replay_cache::verdict::full:
    verdict.what = attestation_verdict::kind::replay_full;
    break;
  }
  return verdict;
}

void attestation_verifier::verify(std::string token, callback done) {
  attestation_verdict verdict;
  bool queued = false;
  bool start_fetch = false;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (have_keys_)
      verdict = check_locked(token);
    // Only a kid we do not know (or having no keys yet) is worth a fetch: any other failure is the
    // token's own.
    bool const needs_keys = !have_keys_ || verdict.error == core::attestation_error::unknown_key;
    if (needs_keys) {
      if (waiters_.size() >= config_.waiters_max) {
        verdict = {attestation_verdict::kind::busy, {}, {}};
      } else {
        waiters_.push_back({std::move(token), std::move(done)});
        queued = true;
        if (!fetching_) {
          fetching_ = true;
          ++fetches_;
          start_fetch = true;
        }
      }
    }
  }
  if (start_fetch)
    start_fetch_unlocked();
  if (!queued)
    done(std::move(verdict));
}

void attestation_verifier::start_fetch_unlocked() {
  // Outside the lock: after `stop()` the client answers on this very thread, and `on_jwks` takes
  // the lock.
  net::client_request request;
  request.method = net::http_method::get;
  request.url = config_.jwks_url;
  request.timeout_ms = config_.fetch_timeout_ms;
  request.provider = "steward";
  request.headers.emplace_back("Accept", "application/json");
  client_.request(std::move(request), [this](net::client_result result) {
    on_jwks(std::move(result));
  });
}

void attestation_verifier::on_jwks(net::client_result result) {
  std::vector<waiter> ready;
  std::vector<attestation_verdict> verdicts;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    fetching_ = false;
    bool fetched = false;
    if (auto* response = std::get_if<net::client_response>(&result);
        response && response->status == 200) {
      core::jwk_set fresh;
      if (core::parse_jwks(response->body, fresh) == core::jwks_error::none) {
        keys_ = std::move(fresh);
        have_keys_ = true;
        fetched = true;
      }
    }
    ready.swap(waiters_);
    verdicts.reserve(ready.size());
    for (auto& w : ready) {
      // Without a fresh key set a token with an unknown kid may well be valid (steward rotated and
      // we could not learn the new key): say the keys are unavailable rather than call it forged.
      if (!fetched)
        verdicts.push_back({attestation_verdict::kind::keys_unavailable, {}, {}});
      else
        verdicts.push_back(check_locked(w.token));
    }
  }
  for (std::size_t i = 0; i < ready.size(); ++i)
    ready[i].done(std::move(verdicts[i]));
}

std::string_view reason_code(core::attestation_error error) noexcept {
  using e = core::attestation_error;
  switch (error) {
  case e::none: return "attestation_valid";
  case e::malformed: return "attestation_malformed";
  case e::wrong_algorithm: return "attestation_wrong_algorithm";
  case e::unknown_key: return "attestation_unknown_key";
  case e::bad_signature: return "attestation_bad_signature";
  case e::wrong_typ: return "attestation_wrong_typ";
  case e::missing_claim: return "attestation_missing_claim";
  case e::invalid_claim: return "attestation_invalid_claim";
  case e::wrong_issuer: return "attestation_wrong_issuer";
  case e::wrong_audience: return "attestation_wrong_audience";
  case e::lifetime_too_long: return "attestation_lifetime_too_long";
  case e::not_yet_valid: return "attestation_not_yet_valid";
  case e::expired: return "attestation_expired";
  case e::no_randomness: return "attestation_invalid";
  }
  return "attestation_invalid";
}

} // namespace steward::refprovider
