#pragma once

// The meter of `compute:metered` (DESIGN 5, "a metered service that keeps charging"): once such a
// resource exists, every `--meter-interval-ms` it charges its payment token for `--meter-units`
// units at the catalog's unit price, through steward's `POST /v1/provider/charges`, signed like
// the resource's other charges.
//
// Tick n (1, 2, ...) is charged under the idempotency key `tick_key(resource, n)`. A tick whose
// outcome is unknown (steward answered 5xx, 409 or 429, or could not be reached) is sent again
// later with the same key and body, so steward applies it at most once; tick n+1 starts only after
// tick n was charged. A refusal (402 budget_exceeded or token_expired, 403 killed or
// token_revoked, 404, any other 4xx) stops the meter for good: the resource is `suspended` with
// steward's code as its reason.
//
// This file holds the decisions; service.cpp runs them on the timer thread (timer_thread.hpp) and
// the HTTP client's thread, never on the server's io threads.

#include "net/http_client.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace steward::refprovider {

/// The idempotency key of tick `tick` of `resource_id`: `<resource_id>.tick.<n>`.
std::string tick_key(std::string_view resource_id, std::uint64_t tick);

/// The charge body of one tick:
/// `{"payment_token", "amount": units*unit_price, "currency", "description", "usage":
/// {"quantity": units, "unit"}}`.
std::string tick_charge_body(std::string_view payment_token, std::string_view resource_id,
                             std::int64_t units, std::int64_t unit_price, std::string_view unit);

enum class tick_outcome : std::uint8_t {
  charged, ///< steward took the charge: count it, go on to the next tick
  stopped, ///< steward refused: suspend the resource with `reason`
  retry,   ///< the outcome is unknown: send the same tick again later
};

struct tick_verdict {
  tick_outcome what = tick_outcome::retry;
  std::string reason; ///< `stopped`: steward's `code`, or `http_<status>` when it gave none
};

/// What steward's answer to a tick's charge means.
tick_verdict judge_tick(const net::client_result& result);

} // namespace steward::refprovider
