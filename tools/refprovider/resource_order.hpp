#pragma once

// What a `POST /resources` body asks for, decoded strictly and checked against the catalog before
// anything is bought (DESIGN 5):
//
//     {"service": "hosting:pro", "name"?: "...", "config"?: {...},
//      "payment_token"?: {"id": "ptk_...", "max_amount": 5000, "currency": "usd",
//                         "expires_at": 1800000000}}
//
// Checks, each answered with its own problem: the service is in the catalog (400 invalid_field);
// `config` satisfies the service's configuration schema (422 config_invalid); a domain is one the
// registrar sells; a paid or metered service names a payment token (400 invalid_field) — the meter
// charges it later — in the catalog's
// currency (400 unsupported_currency) that covers the price (402 budget_exceeded, scope `token`)
// and has not expired (402 token_expired). Pure: no I/O, the clock is a parameter.

#include "core/json_schema.hpp"
#include "core/problem.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::refprovider {

/// A service of the catalog as provisioning needs it.
struct offering {
  std::string_view id;
  std::int64_t price = 0; ///< charged when the resource is created; 0 for free and metered
  std::string_view interval; ///< of the price; empty when nothing is charged up front
  std::int64_t unit_price = 0; ///< metered services: charged per unit by the meter (meter.hpp)
  std::shared_ptr<const core::json_schema> schema;
};

/// The catalog's services (catalog.hpp), with their schemas compiled.
std::vector<offering> catalog_offerings();

/// The payment token steward grants for one purchase (DESIGN 5).
struct payment_token_ref {
  std::string id;
  std::int64_t max_amount = 0;
  std::string currency;
  std::int64_t expires_at = 0;
};

struct resource_order {
  const offering* offer = nullptr; ///< points into the offerings given to `read_resource_order`
  std::string name;
  std::string domain; ///< `config.name` of `registrar:domain`; empty for other services
  std::optional<payment_token_ref> payment_token;
};

/// Decodes `body` into `out` and checks it (see the file comment) at time `now` (Unix seconds).
/// Empty when the order can be served; otherwise the problem to answer with.
std::optional<core::problem> read_resource_order(std::string_view body,
                                                 std::span<const offering> offerings,
                                                 std::int64_t now, resource_order& out);

} // namespace steward::refprovider
