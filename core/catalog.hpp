#pragma once

// The catalog (DESIGN 4.1 and 5): what each provider sells, as its `GET {base}/catalog` describes
// it, and the aggregated view agents search with `GET /v1/catalog`.
//
// A provider's document is read strictly, like every body steward takes in: protocol v1's members
// and nothing else (an unknown member fails the whole document, and the provider's previous
// catalog stays in use). Within a well-formed document, a service that steward cannot offer
// safely is hidden rather than failing its siblings, and named in `provider_catalog::hidden`:
//  - its configuration schema does not compile (core/json_schema.hpp refuses what it cannot
//    enforce), so its config could not be checked before a purchase;
//  - its pricing is not machine-readable: `fixed` and `metered` need an amount in a currency
//    steward knows, `fixed` an interval (`one_time` or `month`), `metered` a unit; `free` has no
//    amount. Caps are checked before a purchase (DESIGN 5), so a price steward cannot read is a
//    service it cannot sell;
//  - its id repeats an earlier one (the first one stays).
//
// The aggregated view lists services ordered by provider slug, then service id, and pages them
// like every list (`limit`, `starting_after` naming the full `provider/service` id). `q` matches
// a case-insensitive substring of the id, name, description or a category; `category` one
// category exactly; `provider` one slug exactly.
//
// Pure: no I/O, no clock. The provider actor (actors/provider.hpp) fetches and publishes.

#include "core/json_reader.hpp"
#include "core/json_schema.hpp"
#include "core/json_writer.hpp"
#include "core/money.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

enum class service_kind : std::uint8_t { plan, deployable };
enum class pricing_type : std::uint8_t { free, fixed, metered };
enum class pricing_interval : std::uint8_t { none, one_time, month };

std::string_view to_string(service_kind kind) noexcept;
std::string_view to_string(pricing_type type) noexcept;
std::string_view to_string(pricing_interval interval) noexcept;

struct catalog_pricing {
  pricing_type type = pricing_type::free;
  /// The price of one purchase (`fixed`) or of one unit (`metered`); absent for `free`.
  std::optional<money> price;
  pricing_interval interval = pricing_interval::none; ///< `fixed` only
  std::string unit;                                   ///< `metered` only, e.g. "vcpu_hour"
};

struct catalog_service {
  std::string id; ///< the provider's id, e.g. "registrar:domain"
  std::string name;
  std::string description;
  service_kind kind = service_kind::plan;
  bool durable = false; ///< bought for good (a domain): never refundable, gated by a human
  std::vector<std::string> categories;
  /// The configuration schema as the provider sent it (compact JSON), served to agents as is.
  std::string configuration_schema;
  std::shared_ptr<const json_schema> schema; ///< compiled; never null in a published catalog
  catalog_pricing pricing;
};

struct catalog_terms {
  std::string url;
  std::string version;
};

/// One provider's catalog, immutable once published.
struct provider_catalog {
  std::string provider;                  ///< slug
  std::vector<catalog_service> services; ///< ordered by id, ids distinct
  catalog_terms terms;
  /// Services left out, one line each: `<id>: <reason>` (at most `limits::catalog_services_max`).
  std::vector<std::string> hidden;

  /// The service with this id, or nullptr.
  const catalog_service* find(std::string_view id) const noexcept;
};

/// Reads a provider's `GET /catalog` body into `out` (its `provider` set to `provider`). Returns
/// why the document as a whole is unusable (not JSON, an unknown member, a bad terms URL, too many
/// services, ...), or empty on success. Services that cannot be offered are hidden, not errors.
std::optional<std::string> parse_provider_catalog(std::string_view provider,
                                                  std::string_view body, provider_catalog& out);

/// A search of the aggregated catalog (`GET /v1/catalog?provider=&category=&q=&limit=&starting_after=`).
struct catalog_query {
  std::string provider{};
  std::string category{};
  std::string q{};
  std::size_t limit = 0; ///< 0: `limits::catalog_page_default`
  std::string starting_after{}; ///< a full id `provider/service`; empty: from the start
};

/// Reads the query string of `GET /v1/catalog` (without its `?`): `provider`, `category`, `q`,
/// `limit` (1 to `limits::catalog_page_max`) and `starting_after`, each at most once and
/// percent-decoded. Any other parameter is `unknown_field`, as in a body; a malformed value,
/// an escape or a repeat is `invalid_field`, with the pointer `/<name>`.
json_error parse_catalog_query(std::string_view query, catalog_query& out);

/// Whether `service` of `catalog` matches the filters of `query` (not the paging).
bool catalog_matches(const provider_catalog& catalog, const catalog_service& service,
                     const catalog_query& query) noexcept;

/// Writes one service as the API shows it: `{"id": "provider/service", "object": "service",
/// "provider", "service", "name", "description", "kind", "durable", "categories", "pricing",
/// "terms"}`, and with `detail` also `"configuration_schema"`.
void write_catalog_service(json_writer& w, const provider_catalog& catalog,
                           const catalog_service& service, bool detail);

/// The list answer of `GET /v1/catalog`: `{"object": "list", "data": [...], "has_more"}` over
/// `catalogs` (ordered by provider slug, as given).
std::string catalog_list_json(std::span<const std::shared_ptr<const provider_catalog>> catalogs,
                              const catalog_query& query);

/// A strong entity tag of a body: `"` + 32 hex digits of its SHA-256 + `"`.
std::string strong_etag(std::string_view body);

/// Whether an `If-None-Match` field value matches `etag` (RFC 9110 13.1.2: `*`, or a
/// comma-separated list of entity tags one of which equals it; weak tags compare weakly).
bool if_none_match(std::string_view field_value, std::string_view etag) noexcept;

} // namespace steward::core
