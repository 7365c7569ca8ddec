#pragma once

// The reference provider's own bounds. They belong to this tool, not to stewardd, so they live here
// rather than in core/limits.hpp; the server settings it shares with stewardd come from there.

#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>

namespace steward::refprovider::limits {

/// Accounts the provider keeps in memory; a new email beyond this is answered 503.
inline constexpr std::size_t accounts_max = 100'000;
/// Emails given with `--existing-accounts`.
inline constexpr std::size_t existing_accounts_max = 1024;
/// An email address (RFC 5321's path limit).
inline constexpr std::size_t email_bytes_max = 254;
/// `--terms-version`.
inline constexpr std::size_t terms_version_bytes_max = 64;
/// `--steward-url`.
inline constexpr std::size_t url_bytes_max = 2048;
/// The provider secret file (`DIR/providers/SLUG.secret` of stewardd).
inline constexpr std::size_t secret_bytes_max = 4096;
/// A domain name, dots included (RFC 1035).
inline constexpr std::size_t domain_name_bytes_max = 253;
/// One label of a domain name.
inline constexpr std::size_t domain_label_bytes_max = 63;

/// Attestations waiting for one JWKS fetch; more are refused with 503 rather than queued.
inline constexpr std::size_t jwks_waiters_max = 1024;
/// One fetch of steward's JWKS, connection and answer included.
inline constexpr std::uint32_t jwks_fetch_timeout_ms = 5000;
/// jtis remembered for the single-use rule (core/attestation.hpp `jti_replay_cache`).
inline constexpr std::size_t replay_entries_max = 1u << 16;
static_assert(replay_entries_max <= core::limits::attestation_replay_entries_max);

/// The listener: connections, request body, drain.
inline constexpr std::uint32_t connections_max = 1024;
inline constexpr std::size_t body_bytes_max = 64u << 10;
inline constexpr std::uint32_t drain_timeout_ms = 5000;
/// Handlers that wait on steward (the JWKS fetch) answer within this, or the server answers 503.
inline constexpr std::uint32_t handler_timeout_ms = jwks_fetch_timeout_ms * 2;
static_assert(body_bytes_max <= core::limits::body_bytes_max);
static_assert(connections_max <= core::limits::connections_default);

/// Idempotency records of `POST /resources` (one per account and key) kept in memory.
inline constexpr std::size_t resource_records_max = 100'000;
/// A charge sent to steward, per attempt (the client retries it with the same key).
inline constexpr std::uint32_t charge_timeout_ms = 5000;
/// `name` of a resource request.
inline constexpr std::size_t resource_name_bytes_max = 200;
/// A service id in a request (`registrar:domain`).
inline constexpr std::size_t service_id_bytes_max = 64;

/// Resources kept in memory (removed ones stay as tombstones, so that a repeated DELETE and a
/// GET still find them); a new resource beyond this is answered 503.
inline constexpr std::size_t resources_max = 100'000;
/// `--meter-interval-ms`: the meter's period; 0 turns the meter off.
inline constexpr std::uint32_t meter_interval_ms_default = 1000;
inline constexpr std::uint32_t meter_interval_ms_max = 24u * 3600 * 1000;
/// `--meter-units`: units charged per tick.
inline constexpr std::int64_t meter_units_default = 1;
inline constexpr std::int64_t meter_units_max = 1'000'000;

/// Faults (fault.hpp): `--fault` options, a delay one may ask for, and `@EVERY`.
inline constexpr std::size_t faults_max = 16;
/// A delay stays below the listener's handler timeout, past which net::server answers 503 itself
/// and the delayed answer would be dropped.
inline constexpr std::uint32_t fault_delay_ms_max = 8000;
inline constexpr std::uint32_t fault_every_max = 1'000'000;
/// The `Refprovider-Fault` header.
inline constexpr std::size_t fault_header_bytes_max = 64;

/// Work waiting on the timer thread (timer_thread.hpp): at most one tick per metered resource, and
/// one delayed answer per request the listener can hold.
inline constexpr std::size_t timers_max =
  resources_max + std::size_t{connections_max} * core::limits::pipeline_depth_default;
static_assert(timers_max >= resources_max);
static_assert(fault_delay_ms_max < handler_timeout_ms);

/// OAuth (oauth.hpp): authorization codes alive at once, and how long one lives (RFC 6749 4.1.2
/// recommends at most ten minutes; a browser redirect takes seconds).
inline constexpr std::size_t oauth_codes_max = 4096;
inline constexpr std::int64_t oauth_code_lifetime_s = 60;
/// `expires_in` of an access token. The token is the account's token, which this provider never
/// expires; the value is what a client should plan for, not a deadline the provider enforces.
inline constexpr std::int64_t oauth_access_token_expires_in_s = 365 * 24 * 3600;
/// `state` of an authorization request, which the provider hands back untouched.
inline constexpr std::size_t oauth_state_bytes_max = 512;

} // namespace steward::refprovider::limits
