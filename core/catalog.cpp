#include "core/catalog.hpp"

#include "core/api_messages.hpp"
#include "core/hex.hpp"
#include "core/ids.hpp"
#include "core/json_failure.hpp"
#include "core/json_reader.hpp"
#include "core/limits.hpp"
#include "core/query_string.hpp"
#include "core/sha256.hpp"

#include <algorithm>
#include <set>

namespace steward::core {

namespace {

/// A service as read, before its pricing and schema are checked.
struct raw_service {
  std::string id;
  std::string name;
  std::string description;
  std::string kind;
  bool durable = false;
  std::vector<std::string> categories;
  raw_json configuration_schema;
  std::string pricing_type;
  std::optional<std::int64_t> amount;
  std::optional<std::string> currency;
  std::optional<std::string> interval;
  std::optional<std::string> unit;
};

bool is_token_char(char c, std::string_view extra) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

/// `[a-z0-9][a-z0-9<extra>]*`, 1 to `bytes_max` bytes.
bool is_token(std::string_view text, std::size_t bytes_max, std::string_view extra) noexcept {
  if (text.empty() || text.size() > bytes_max || !is_token_char(text.front(), {}))
    return false;
  return std::all_of(text.begin(), text.end(), [extra](char c) { return is_token_char(c, extra); });
}

bool is_visible_ascii(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

/// `http://` or `https://` and something after it, visible ASCII only.
bool is_web_url(std::string_view url) noexcept {
  if (url.size() > limits::catalog_url_bytes_max || !is_visible_ascii(url))
    return false;
  for (std::string_view scheme : {"https://", "http://"})
    if (url.starts_with(scheme) && url.size() > scheme.size())
      return true;
  return false;
}

/// Why a read service cannot be offered, or empty; fills `out` when it can.
std::optional<std::string> check_service(raw_service& raw, catalog_service& out) {
  if (!is_token(raw.id, limits::catalog_service_id_bytes_max, ":._-"))
    return "the id must be 1 to 64 of a-z, 0-9, ':', '.', '_' and '-', starting with a letter or digit";
  out.id = raw.id;
  out.name = std::move(raw.name);
  out.description = std::move(raw.description);
  if (raw.kind == "plan")
    out.kind = service_kind::plan;
  else if (raw.kind == "deployable")
    out.kind = service_kind::deployable;
  else
    return "kind must be plan or deployable";
  out.durable = raw.durable;
  for (auto& category : raw.categories)
    if (!is_token(category, limits::catalog_category_bytes_max, "-"))
      return "a category must be 1 to 64 of a-z, 0-9 and '-'";
  out.categories = std::move(raw.categories);

  catalog_pricing& pricing = out.pricing;
  if (raw.pricing_type == "free") {
    pricing.type = pricing_type::free;
    if (raw.amount || raw.currency || raw.interval || raw.unit)
      return "free pricing carries no amount, currency, interval or unit";
  } else if (raw.pricing_type == "fixed" || raw.pricing_type == "metered") {
    pricing.type = raw.pricing_type == "fixed" ? pricing_type::fixed : pricing_type::metered;
    if (!raw.amount || !raw.currency)
      return raw.pricing_type + " pricing needs an amount and a currency";
    auto code = parse_currency(*raw.currency);
    if (!code)
      return "unsupported currency " + *raw.currency;
    pricing.price = money{*raw.amount, *code};
    if (pricing.type == pricing_type::fixed) {
      if (raw.unit)
        return "fixed pricing has no unit";
      if (raw.interval == "one_time")
        pricing.interval = pricing_interval::one_time;
      else if (raw.interval == "month")
        pricing.interval = pricing_interval::month;
      else
        return "fixed pricing needs an interval, one_time or month";
    } else {
      if (raw.interval)
        return "metered pricing has no interval";
      if (!raw.unit || !is_token(*raw.unit, limits::catalog_category_bytes_max, "_-"))
        return "metered pricing needs a unit of a-z, 0-9, '_' and '-'";
      pricing.unit = *raw.unit;
    }
  } else {
    return "pricing type must be free, fixed or metered";
  }

  out.configuration_schema = std::move(raw.configuration_schema.text);
  auto compiled = compile_json_schema(out.configuration_schema);
  if (!compiled)
    return "configuration_schema: " + std::string(describe(compiled.error)) +
           (compiled.pointer.empty() ? std::string() : " at " + compiled.pointer) +
           (compiled.detail.empty() ? std::string() : " (" + compiled.detail + ")");
  out.schema = std::move(compiled.schema);
  return std::nullopt;
}

bool contains_folded(std::string_view text, std::string_view needle) noexcept {
  if (needle.empty())
    return true;
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  auto it = std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                        [&](char a, char b) { return fold(a) == fold(b); });
  return it != text.end();
}

std::string full_id(std::string_view provider, std::string_view service) {
  std::string id(provider);
  id += '/';
  id += service;
  return id;
}

} // namespace

std::string_view to_string(service_kind kind) noexcept {
  return kind == service_kind::plan ? "plan" : "deployable";
}

std::string_view to_string(pricing_type type) noexcept {
  switch (type) {
  case pricing_type::free: return "free";
  case pricing_type::fixed: return "fixed";
  case pricing_type::metered: return "metered";
  }
  return "free";
}

std::string_view to_string(pricing_interval interval) noexcept {
  switch (interval) {
  case pricing_interval::none: return "";
  case pricing_interval::one_time: return "one_time";
  case pricing_interval::month: return "month";
  }
  return "";
}

const catalog_service* provider_catalog::find(std::string_view id) const noexcept {
  auto it = std::lower_bound(services.begin(), services.end(), id,
                             [](const catalog_service& s, std::string_view key) { return s.id < key; });
  return it != services.end() && it->id == id ? &*it : nullptr;
}

std::optional<std::string> parse_provider_catalog(std::string_view provider,
                                                  std::string_view body, provider_catalog& out) {
  out = provider_catalog{};
  out.provider = provider;
  std::vector<raw_service> raws;
  auto error = decode(body, [&](object_reader& o) {
    o.required("services", raws, limits::catalog_services_max,
               [](object_reader& s, raw_service& r) {
                 // Any string is read here (within its bound) so that one bad service is hidden
                 // with a reason instead of failing the document; check_service judges it.
                 s.required("id", r.id, limits::catalog_service_id_bytes_max + 64);
                 s.required("name", r.name, limits::catalog_name_bytes_max);
                 s.optional("description", r.description, limits::catalog_description_bytes_max);
                 s.required("kind", r.kind, 32);
                 s.required("durable", r.durable);
                 s.optional("categories", r.categories, limits::catalog_categories_max,
                            limits::catalog_category_bytes_max + 64);
                 s.required("configuration_schema", r.configuration_schema);
                 s.required("pricing", [&r](object_reader& p) {
                   p.required("type", r.pricing_type, 32);
                   p.optional("amount", r.amount, std::int64_t{0}, limits::money_amount_max);
                   p.optional("currency", r.currency, currency_field_bytes_max);
                   p.optional("interval", r.interval, 32);
                   p.optional("unit", r.unit, limits::catalog_category_bytes_max + 64);
                 });
               });
    o.required("terms", [&out](object_reader& t) {
      t.required("url", out.terms.url, limits::catalog_url_bytes_max);
      t.required("version", out.terms.version, limits::catalog_terms_version_bytes_max);
    });
  });
  if (error)
    return std::string(error.pointer.empty() ? "" : error.pointer + ": ") + error.detail;
  if (!is_web_url(out.terms.url))
    return "/terms/url: must be an http(s) URL";
  if (out.terms.version.empty() || !is_visible_ascii(out.terms.version))
    return "/terms/version: must be 1 to 64 visible ASCII characters";

  std::set<std::string, std::less<>> seen;
  for (auto& raw : raws) {
    std::string id = raw.id;
    if (seen.contains(id)) {
      out.hidden.push_back(id + ": the id repeats an earlier service");
      continue;
    }
    catalog_service service;
    if (auto reason = check_service(raw, service)) {
      out.hidden.push_back(id + ": " + *reason);
      continue;
    }
    seen.insert(id);
    out.services.push_back(std::move(service));
  }
  std::sort(out.services.begin(), out.services.end(),
            [](const catalog_service& a, const catalog_service& b) { return a.id < b.id; });
  return std::nullopt;
}

json_error parse_catalog_query(std::string_view query, catalog_query& out) {
  out = catalog_query{};
  if (query.size() > query_bytes_max)
    return json_failure(api_error::invalid_field, "",
                   "query string longer than " + std::to_string(query_bytes_max) + " bytes");
  std::set<std::string, std::less<>> seen;
  std::string name;
  std::string value;
  while (auto pair = next_query_pair(query)) {
    if (pair->name.empty() && !pair->has_value)
      continue;
    if (seen.size() >= query_parameters_max)
      return json_failure(api_error::invalid_field, "", "too many query parameters");
    std::string_view raw_value = pair->value;
    if (!percent_decode(pair->name, name, true))
      return json_failure(api_error::invalid_field, "", "malformed percent-encoding in the query string");
    std::string pointer = "/" + name;
    if (name != "provider" && name != "category" && name != "q" && name != "limit" &&
        name != "starting_after")
      return json_failure(api_error::unknown_field, pointer,
                     "unknown query parameter; known: provider, category, q, limit, starting_after");
    if (!seen.insert(name).second)
      return json_failure(api_error::invalid_field, pointer, "given twice");
    if (!percent_decode(raw_value, value, true))
      return json_failure(api_error::invalid_field, pointer, "malformed percent-encoding");
    if (name == "limit") {
      std::size_t limit = 0;
      bool digits = !value.empty() && value.size() <= 3 &&
                    std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits)
        limit = std::stoul(value);
      if (!digits || limit < 1 || limit > limits::catalog_page_max)
        return json_failure(api_error::invalid_field, pointer,
                       "must be an integer from 1 to " + std::to_string(limits::catalog_page_max));
      out.limit = limit;
    } else if (name == "q") {
      if (value.size() > limits::catalog_name_bytes_max)
        return json_failure(api_error::invalid_field, pointer,
                       "at most " + std::to_string(limits::catalog_name_bytes_max) + " bytes");
      out.q = value;
    } else if (name == "provider") {
      if (!is_valid_provider_slug(value))
        return json_failure(api_error::invalid_field, pointer, "must be a provider slug");
      out.provider = value;
    } else if (name == "category") {
      if (!is_token(value, limits::catalog_category_bytes_max, "-"))
        return json_failure(api_error::invalid_field, pointer, "must be a category (a-z, 0-9, '-')");
      out.category = value;
    } else {
      auto const slash = value.find('/');
      if (slash == std::string::npos || !is_valid_provider_slug(value.substr(0, slash)) ||
          !is_token(value.substr(slash + 1), limits::catalog_service_id_bytes_max, ":._-"))
        return json_failure(api_error::invalid_field, pointer,
                       "must be a service id, provider/service");
      out.starting_after = value;
    }
  }
  return {};
}

bool catalog_matches(const provider_catalog& catalog, const catalog_service& service,
                     const catalog_query& query) noexcept {
  if (!query.provider.empty() && query.provider != catalog.provider)
    return false;
  if (!query.category.empty() &&
      std::find(service.categories.begin(), service.categories.end(), query.category) ==
        service.categories.end())
    return false;
  if (query.q.empty())
    return true;
  if (contains_folded(service.id, query.q) || contains_folded(service.name, query.q) ||
      contains_folded(service.description, query.q))
    return true;
  return std::any_of(service.categories.begin(), service.categories.end(),
                     [&](const std::string& c) { return contains_folded(c, query.q); });
}

void write_catalog_service(json_writer& w, const provider_catalog& catalog,
                           const catalog_service& service, bool detail) {
  w.begin_object()
    .member("id", full_id(catalog.provider, service.id))
    .member("object", "service")
    .member("provider", catalog.provider)
    .member("service", service.id)
    .member("name", service.name)
    .member("description", service.description)
    .member("kind", to_string(service.kind))
    .member("durable", service.durable);
  w.key("categories").begin_array();
  for (const auto& category : service.categories)
    w.string(category);
  w.end_array();
  w.key("pricing").begin_object().member("type", to_string(service.pricing.type));
  if (service.pricing.price)
    w.member("amount", service.pricing.price->amount)
      .member("currency", to_string(service.pricing.price->code));
  if (service.pricing.interval != pricing_interval::none)
    w.member("interval", to_string(service.pricing.interval));
  if (!service.pricing.unit.empty())
    w.member("unit", service.pricing.unit);
  w.end_object();
  w.key("terms")
    .begin_object()
    .member("url", catalog.terms.url)
    .member("version", catalog.terms.version)
    .end_object();
  if (detail)
    w.key("configuration_schema").raw(service.configuration_schema);
  w.end_object();
}

std::string catalog_list_json(std::span<const std::shared_ptr<const provider_catalog>> catalogs,
                              const catalog_query& query) {
  std::size_t const limit = query.limit == 0 ? limits::catalog_page_default : query.limit;
  std::string out;
  json_writer w(out);
  w.begin_object().member("object", "list").key("data").begin_array();
  std::size_t written = 0;
  bool has_more = false;
  for (const auto& catalog : catalogs) {
    if (!catalog)
      continue;
    for (const auto& service : catalog->services) {
      if (!catalog_matches(*catalog, service, query))
        continue;
      if (!query.starting_after.empty() &&
          full_id(catalog->provider, service.id) <= query.starting_after)
        continue;
      if (written == limit) {
        has_more = true;
        break;
      }
      write_catalog_service(w, *catalog, service, false);
      ++written;
    }
    if (has_more)
      break;
  }
  w.end_array().member("has_more", has_more).end_object();
  return out;
}

std::string strong_etag(std::string_view body) {
  auto const digest = sha256(body);
  // Appended rather than `"\"" + hex + "\""`, which trips GCC 12's -Wrestrict false positive.
  std::string etag(1, '"');
  etag += to_hex(std::span<const std::uint8_t>(digest.data(), 16));
  etag += '"';
  return etag;
}

bool if_none_match(std::string_view value, std::string_view etag) noexcept {
  auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
      text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
      text.remove_suffix(1);
    return text;
  };
  value = trim(value);
  if (value == "*")
    return true;
  std::string_view wanted = etag;
  if (wanted.starts_with("W/"))
    wanted.remove_prefix(2);
  while (!value.empty()) {
    auto const comma = value.find(',');
    auto tag = trim(value.substr(0, comma));
    if (tag.starts_with("W/"))
      tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' && tag == wanted)
      return true;
    if (comma == std::string_view::npos)
      break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace steward::core
