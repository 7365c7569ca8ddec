#pragma once

// What the reference provider sells (DESIGN 5's catalog shape), modelled on a small cloud:
//
//  - `registrar:domain`: a domain name, bought once and never refunded (`durable: true`), at a
//    fixed one-time price; its configuration schema requires `name`, a domain under one of
//    `domain_tlds`.
//  - `hosting:pro`: a paid plan billed monthly.
//  - `kv:free`: a free key-value store.
//  - `compute:metered`: compute billed per unit used.
//
// The document is built once at start-up and served with a strong ETag, so that steward's catalog
// cache can revalidate it with `If-None-Match` (304) instead of downloading it again.
//
// Domain availability is deterministic, so that tests and the demo can rely on it: a fixed list of
// well-known names is taken, and of the rest, the names whose SHA-256 starts with a byte below
// `domain_taken_byte_below` (about one in eight) are taken too.

#include "core/catalog.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace steward::refprovider {

/// Top-level domains the registrar sells, in the order the schema lists them.
inline constexpr std::array<std::string_view, 7> domain_tlds = {"com", "net", "org", "dev",
                                                                "io",  "club", "cc"};
/// Price of one domain, in minor units of `catalog_currency`, charged once.
inline constexpr std::int64_t domain_price_amount = 1200;
/// `hosting:pro`, per month.
inline constexpr std::int64_t hosting_price_amount = 2000;
/// `compute:metered`, per `compute_unit`.
inline constexpr std::int64_t compute_price_amount = 5;
inline constexpr std::string_view compute_unit = "vcpu_hour";
inline constexpr std::string_view catalog_currency = "usd";
/// Names whose SHA-256 starts with a byte below this are taken (32/256 = one in eight).
inline constexpr std::uint8_t domain_taken_byte_below = 32;

struct catalog_config {
  std::string terms_url;     ///< where the provider's terms of service are published
  std::string terms_version; ///< their version, which steward records the human's acceptance of
};

/// The `configuration_schema` of `registrar:domain`: an object requiring `name` (a domain matching
/// `is_sellable_domain`, as a pattern) and allowing `tld` (an enum of `domain_tlds`).
std::string domain_configuration_schema();

/// The `configuration_schema` of the other services: an object with an optional `region`
/// (`eu-west` or `us-east`) and nothing else.
std::string region_configuration_schema();

/// The `GET /catalog` document.
std::string build_catalog(const catalog_config& config);

/// The catalog's entity tag and its revalidation, as steward's own catalog answers them.
using core::if_none_match;
using core::strong_etag;

/// Whether `name` is a domain the registrar can sell: lower-case LDH labels (letters, digits,
/// inner hyphens) of 1 to 63 bytes, exactly two labels (`example.com`: no sub-domains), and a TLD
/// from `domain_tlds`. It accepts exactly what the catalog's `name` pattern accepts.
bool is_sellable_domain(std::string_view name) noexcept;

/// Whether a sellable `name` is already registered (see the file comment).
bool is_domain_taken(std::string_view name) noexcept;

/// The `GET /domains/availability` answer for a sellable `name`:
/// `{"name", "available", "price": {"amount", "currency"}, "interval": "one_time"}`; it is not
/// available when `is_domain_taken` or when it was `registered_here` (bought through this provider).
std::string domain_availability(std::string_view name, bool registered_here = false);

} // namespace steward::refprovider
