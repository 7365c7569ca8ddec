#include "tools/refprovider/catalog.hpp"

#include "core/json_writer.hpp"
#include "core/sha256.hpp"
#include "tools/refprovider/limits.hpp"

#include <algorithm>

namespace steward::refprovider {

namespace {

/// Well-known names that are always taken.
constexpr std::array<std::string_view, 6> taken_names = {
  "example.com", "example.net", "example.org", "google.com", "steward.dev", "superseal.cc"};

/// The label and TLD rule of `is_sellable_domain` as an ECMAScript pattern.
std::string domain_pattern() {
  std::string pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.(";
  for (std::size_t i = 0; i < domain_tlds.size(); ++i) {
    if (i > 0)
      pattern += '|';
    pattern += domain_tlds[i];
  }
  pattern += ")$";
  return pattern;
}

void write_price(core::json_writer& w, std::string_view type, std::int64_t amount,
                 std::string_view interval, std::string_view unit = {}) {
  w.key("pricing").begin_object().member("type", type);
  if (type != "free")
    w.member("amount", amount).member("currency", catalog_currency);
  if (!interval.empty())
    w.member("interval", interval);
  if (!unit.empty())
    w.member("unit", unit);
  w.end_object();
}

void begin_service(core::json_writer& w, std::string_view id, std::string_view name,
                   std::string_view description, bool durable,
                   std::initializer_list<std::string_view> categories) {
  w.begin_object()
    .member("id", id)
    .member("name", name)
    .member("description", description)
    .member("kind", "plan")
    .member("durable", durable);
  w.key("categories").begin_array();
  for (auto category : categories)
    w.string(category);
  w.end_array();
}

void write_region_schema(core::json_writer& w) {
  w.key("configuration_schema").raw(region_configuration_schema());
}

bool is_label(std::string_view label) noexcept {
  if (label.empty() || label.size() > limits::domain_label_bytes_max)
    return false;
  if (label.front() == '-' || label.back() == '-')
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

} // namespace

std::string region_configuration_schema() {
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("type", "object")
    .member("additionalProperties", false)
    .key("properties")
    .begin_object()
    .key("region")
    .begin_object()
    .member("type", "string")
    .key("enum")
    .begin_array()
    .string("eu-west")
    .string("us-east")
    .end_array()
    .end_object()
    .end_object()
    .end_object();
  return out;
}

std::string domain_configuration_schema() {
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("type", "object")
    .key("required")
    .begin_array()
    .string("name")
    .end_array()
    .member("additionalProperties", false)
    .key("properties")
    .begin_object()
    .key("name")
    .begin_object()
    .member("type", "string")
    .member("maxLength", std::int64_t(limits::domain_name_bytes_max))
    .member("pattern", domain_pattern())
    .member("description", "the domain to register, e.g. example.dev")
    .end_object()
    .key("tld")
    .begin_object()
    .member("description", "the TLDs the registrar sells (informative: name carries the TLD)")
    .key("enum")
    .begin_array();
  for (auto tld : domain_tlds)
    w.string(tld);
  w.end_array().end_object().end_object().end_object();
  return out;
}

std::string build_catalog(const catalog_config& config) {
  std::string out;
  core::json_writer w(out);
  w.begin_object().key("services").begin_array();

  begin_service(w, "registrar:domain", "Domain registration",
                "A domain name under a TLD the registrar sells; non-refundable once registered.",
                true, {"domains"});
  w.key("configuration_schema").raw(domain_configuration_schema());
  write_price(w, "fixed", domain_price_amount, "one_time");
  w.end_object();

  begin_service(w, "hosting:pro", "Pro hosting", "Managed web hosting, billed monthly.", false,
                {"hosting"});
  write_region_schema(w);
  write_price(w, "fixed", hosting_price_amount, "month");
  w.end_object();

  begin_service(w, "kv:free", "Key-value store", "A small key-value store, free of charge.", false,
                {"database"});
  write_region_schema(w);
  write_price(w, "free", 0, {});
  w.end_object();

  begin_service(w, "compute:metered", "Metered compute", "Virtual CPUs billed per hour used.",
                false, {"compute"});
  write_region_schema(w);
  write_price(w, "metered", compute_price_amount, {}, compute_unit);
  w.end_object();

  w.end_array();
  w.key("terms")
    .begin_object()
    .member("url", config.terms_url)
    .member("version", config.terms_version)
    .end_object();
  w.end_object();
  return out;
}

bool is_sellable_domain(std::string_view name) noexcept {
  if (name.empty() || name.size() > limits::domain_name_bytes_max)
    return false;
  auto const dot = name.find('.');
  if (dot == std::string_view::npos)
    return false;
  auto const label = name.substr(0, dot);
  auto const tld = name.substr(dot + 1);
  if (!is_label(label))
    return false;
  return std::find(domain_tlds.begin(), domain_tlds.end(), tld) != domain_tlds.end();
}

bool is_domain_taken(std::string_view name) noexcept {
  if (std::find(taken_names.begin(), taken_names.end(), name) != taken_names.end())
    return true;
  return core::sha256(name)[0] < domain_taken_byte_below;
}

std::string domain_availability(std::string_view name, bool registered_here) {
  std::string out;
  core::json_writer w(out);
  w.begin_object()
    .member("name", name)
    .member("available", !registered_here && !is_domain_taken(name))
    .key("price")
    .begin_object()
    .member("amount", domain_price_amount)
    .member("currency", catalog_currency)
    .end_object()
    .member("interval", "one_time")
    .end_object();
  return out;
}

} // namespace steward::refprovider
