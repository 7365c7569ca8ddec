#include "tools/refprovider/resource_order.hpp"

#include "core/assert.hpp"
#include "core/ids.hpp"
#include "core/json_reader.hpp"
#include "tools/refprovider/catalog.hpp"
#include "tools/refprovider/limits.hpp"

namespace steward::refprovider {

using core::api_error;

std::vector<offering> catalog_offerings() {
  auto const domain = core::compile_json_schema(domain_configuration_schema());
  auto const region = core::compile_json_schema(region_configuration_schema());
  // Both schemas are ours and tested (catalog.test.cpp): failing to compile them is a bug.
  STEWARD_ASSERT(domain && region);
  return {
    {"registrar:domain", domain_price_amount, "one_time", 0, domain.schema},
    {"hosting:pro", hosting_price_amount, "month", 0, region.schema},
    {"kv:free", 0, {}, 0, region.schema},
    {"compute:metered", 0, {}, compute_price_amount, region.schema},
  };
}

std::optional<core::problem> read_resource_order(std::string_view body,
                                                 std::span<const offering> offerings,
                                                 std::int64_t now, resource_order& out) {
  std::string service;
  core::raw_json config;
  out = {};
  auto error = core::decode(body, [&](core::object_reader& o) {
    o.required("service", service, limits::service_id_bytes_max);
    o.optional("name", out.name, limits::resource_name_bytes_max);
    o.optional("config", config);
    o.optional("payment_token", out.payment_token,
               [](core::object_reader& t, payment_token_ref& ref) {
                 t.required("id", ref.id, core::id_bytes);
                 t.required("max_amount", ref.max_amount, std::int64_t{0},
                            core::limits::money_amount_max);
                 t.required("currency", ref.currency, 3);
                 t.required("expires_at", ref.expires_at, std::int64_t{0});
               });
  });
  if (error)
    return core::problem(error);
  for (auto& candidate : offerings)
    if (candidate.id == service)
      out.offer = &candidate;
  if (out.offer == nullptr)
    return core::problem(api_error::invalid_field, "no such service in the catalog")
      .member("field", "/service");
  if (config.text.empty())
    config.text = "{}";
  if (auto violation = out.offer->schema->validate(config.text))
    return core::problem(api_error::config_invalid, violation.detail)
      .member("field", "/config" + violation.instance_pointer);
  if (out.offer->id == "registrar:domain") {
    // The schema made sure of the shape; this reads the name it vouched for.
    auto config_error = core::decode(config.text, [&](core::object_reader& o) {
      o.required("name", out.domain, limits::domain_name_bytes_max);
      std::string tld;
      o.optional("tld", tld, limits::domain_label_bytes_max);
    });
    if (config_error || !is_sellable_domain(out.domain))
      return core::problem(api_error::config_invalid, "not a domain the registrar sells")
        .member("field", "/config/name");
  }
  if (out.offer->price == 0 && out.offer->unit_price == 0)
    return std::nullopt;
  if (!out.payment_token)
    return core::problem(api_error::invalid_field,
                         "a paid or metered service needs a payment_token")
      .member("field", "/payment_token");
  auto const& token = *out.payment_token;
  if (token.currency != catalog_currency)
    return core::problem(api_error::unsupported_currency, "this provider charges in usd");
  if (token.max_amount < out.offer->price)
    return core::problem(api_error::budget_exceeded, "the payment token does not cover the price")
      .member("scope", "token");
  if (token.expires_at <= now)
    return core::problem(api_error::token_expired, "the payment token has expired");
  return std::nullopt;
}

} // namespace steward::refprovider
