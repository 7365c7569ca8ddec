#include "core/catalog.hpp"

#include <gtest/gtest.h>

namespace steward::core {
namespace {

constexpr std::string_view region_schema =
  R"({"type":"object","properties":{"region":{"enum":["eu-west","us-east"]}},"additionalProperties":false})";

std::string service_json(std::string_view id, std::string_view pricing,
                         std::string_view schema = region_schema, bool durable = false,
                         std::string_view categories = R"(["compute"])") {
  return std::string(R"({"id":")") + std::string(id) + R"(","name":"Name of )" + std::string(id) +
         R"(","description":"Fast Things","kind":"plan","durable":)" +
         (durable ? "true" : "false") + R"(,"categories":)" + std::string(categories) +
         R"(,"configuration_schema":)" + std::string(schema) + R"(,"pricing":)" +
         std::string(pricing) + "}";
}

std::string document(std::initializer_list<std::string> services) {
  std::string out = R"({"services":[)";
  bool first = true;
  for (const auto& s : services) {
    if (!first)
      out += ',';
    first = false;
    out += s;
  }
  out += R"(],"terms":{"url":"https://cloud.example/terms","version":"2026-01"}})";
  return out;
}

constexpr std::string_view fixed_month = R"({"type":"fixed","amount":2000,"currency":"usd","interval":"month"})";
constexpr std::string_view metered = R"({"type":"metered","amount":5,"currency":"usd","unit":"vcpu_hour"})";
constexpr std::string_view free_price = R"({"type":"free"})";

TEST(Catalog, ReadsEveryMemberOfProtocolV1) {
  provider_catalog catalog;
  auto error = parse_provider_catalog(
    "cloud",
    document({service_json("registrar:domain",
                           R"({"type":"fixed","amount":1200,"currency":"usd","interval":"one_time"})",
                           R"({"type":"object","required":["name"]})", true, R"(["domains"])"),
              service_json("compute:metered", metered)}),
    catalog);
  ASSERT_FALSE(error) << *error;
  EXPECT_EQ(catalog.provider, "cloud");
  EXPECT_EQ(catalog.terms.url, "https://cloud.example/terms");
  EXPECT_EQ(catalog.terms.version, "2026-01");
  ASSERT_EQ(catalog.services.size(), 2u);
  EXPECT_TRUE(catalog.hidden.empty());
  // Ordered by id.
  EXPECT_EQ(catalog.services[0].id, "compute:metered");
  const auto* domain = catalog.find("registrar:domain");
  ASSERT_NE(domain, nullptr);
  EXPECT_TRUE(domain->durable);
  EXPECT_EQ(domain->pricing.type, pricing_type::fixed);
  EXPECT_EQ(domain->pricing.interval, pricing_interval::one_time);
  ASSERT_TRUE(domain->pricing.price);
  EXPECT_EQ(domain->pricing.price->amount, 1200);
  EXPECT_EQ(domain->pricing.price->code, currency::usd);
  ASSERT_TRUE(domain->schema);
  EXPECT_FALSE(domain->schema->validate(R"({"name":"a.dev"})"));
  EXPECT_TRUE(domain->schema->validate(R"({})"));
  const auto* compute = catalog.find("compute:metered");
  ASSERT_NE(compute, nullptr);
  EXPECT_EQ(compute->pricing.type, pricing_type::metered);
  EXPECT_EQ(compute->pricing.unit, "vcpu_hour");
  EXPECT_EQ(catalog.find("nope"), nullptr);
}

TEST(Catalog, HidesServicesItCannotSellAndKeepsTheRest) {
  provider_catalog catalog;
  auto error = parse_provider_catalog(
    "cloud",
    document({
      service_json("ok:free", free_price),
      service_json("bad:schema", free_price, R"({"unevaluatedProperties":false})"),
      service_json("bad:currency", R"({"type":"fixed","amount":1,"currency":"xyz","interval":"month"})"),
      service_json("bad:interval", R"({"type":"fixed","amount":1,"currency":"usd"})"),
      service_json("bad:unit", R"({"type":"metered","amount":1,"currency":"usd"})"),
      service_json("bad:free", R"({"type":"free","amount":1,"currency":"usd"})"),
      service_json("bad:type", R"({"type":"tiered"})"),
      service_json("Bad-Id", free_price),
      service_json("bad:category", free_price, region_schema, false, R"(["Compute"])"),
      service_json("ok:free", fixed_month),
    }),
    catalog);
  ASSERT_FALSE(error) << *error;
  ASSERT_EQ(catalog.services.size(), 1u);
  EXPECT_EQ(catalog.services[0].id, "ok:free");
  // The first of two services with one id stays.
  EXPECT_EQ(catalog.services[0].pricing.type, pricing_type::free);
  ASSERT_EQ(catalog.hidden.size(), 9u);
  EXPECT_EQ(catalog.hidden[0].substr(0, 12), "bad:schema: ");
  EXPECT_NE(catalog.hidden[1].find("unsupported currency"), std::string::npos);
  EXPECT_NE(catalog.hidden[8].find("repeats"), std::string::npos);
}

TEST(Catalog, RefusesADocumentThatIsNotProtocolV1) {
  provider_catalog catalog;
  EXPECT_TRUE(parse_provider_catalog("cloud", "not json", catalog));
  EXPECT_TRUE(parse_provider_catalog("cloud", R"({"services":[]})", catalog)); // no terms
  auto with_extra = document({service_json("a", free_price)});
  with_extra.insert(1, R"("extra":1,)");
  auto error = parse_provider_catalog("cloud", with_extra, catalog);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("extra"), std::string::npos);
  auto bad_terms = document({});
  bad_terms.replace(bad_terms.find("https://"), 8, "ftp://");
  EXPECT_TRUE(parse_provider_catalog("cloud", bad_terms, catalog));
  // A negative price is not a price.
  EXPECT_TRUE(parse_provider_catalog(
    "cloud", document({service_json("a", R"({"type":"fixed","amount":-1,"currency":"usd","interval":"month"})")}),
    catalog));
}

class CatalogList : public ::testing::Test {
protected:
  void SetUp() override {
    for (auto [slug, body] :
         {std::pair{"alpha", document({service_json("kv:free", free_price, region_schema, false,
                                                     R"(["database"])"),
                                       service_json("compute:metered", metered)})},
          std::pair{"beta", document({service_json("hosting:pro", fixed_month, region_schema,
                                                    false, R"(["hosting"])")})}}) {
      auto catalog = std::make_shared<provider_catalog>();
      ASSERT_FALSE(parse_provider_catalog(slug, body, *catalog));
      catalogs.push_back(std::move(catalog));
    }
  }

  std::string list(catalog_query query) { return catalog_list_json(catalogs, query); }

  std::vector<std::shared_ptr<const provider_catalog>> catalogs;
};

TEST_F(CatalogList, ListsEveryServiceInProviderThenIdOrder) {
  auto body = list({});
  auto a = body.find("alpha/compute:metered");
  auto b = body.find("alpha/kv:free");
  auto c = body.find("beta/hosting:pro");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(body.find(R"("has_more":false)"), std::string::npos);
  // The list leaves the schema to the detail.
  EXPECT_EQ(body.find("configuration_schema"), std::string::npos);
}

TEST_F(CatalogList, FiltersByProviderCategoryAndText) {
  auto by_provider = list({.provider = "beta"});
  EXPECT_NE(by_provider.find("beta/hosting:pro"), std::string::npos);
  EXPECT_EQ(by_provider.find("alpha/"), std::string::npos);

  auto by_category = list({.category = "database"});
  EXPECT_NE(by_category.find("alpha/kv:free"), std::string::npos);
  EXPECT_EQ(by_category.find("compute:metered"), std::string::npos);
  EXPECT_EQ(by_category.find("hosting:pro"), std::string::npos);

  // Case-insensitive, over id, name, description and categories.
  auto by_text = list({.q = "HOSTING"});
  EXPECT_NE(by_text.find("beta/hosting:pro"), std::string::npos);
  EXPECT_EQ(by_text.find("alpha/"), std::string::npos);
  EXPECT_NE(list({.q = "fast things"}).find("alpha/kv:free"), std::string::npos);
  EXPECT_EQ(list({.q = "nothing like it"}), R"({"object":"list","data":[],"has_more":false})");
}

TEST_F(CatalogList, PagesWithStartingAfter) {
  auto first = list({.limit = 2});
  EXPECT_NE(first.find(R"("has_more":true)"), std::string::npos);
  EXPECT_EQ(first.find("beta/hosting:pro"), std::string::npos);
  auto rest = list({.limit = 2, .starting_after = "alpha/kv:free"});
  EXPECT_NE(rest.find("beta/hosting:pro"), std::string::npos);
  EXPECT_EQ(rest.find("alpha/"), std::string::npos);
  EXPECT_NE(rest.find(R"("has_more":false)"), std::string::npos);
}

TEST_F(CatalogList, DetailCarriesPricingTermsAndTheSchema) {
  std::string out;
  json_writer w(out);
  write_catalog_service(w, *catalogs[1], catalogs[1]->services[0], true);
  EXPECT_EQ(out,
            std::string(R"({"id":"beta/hosting:pro","object":"service","provider":"beta",)"
                        R"("service":"hosting:pro","name":"Name of hosting:pro",)"
                        R"("description":"Fast Things","kind":"plan","durable":false,)"
                        R"("categories":["hosting"],"pricing":{"type":"fixed","amount":2000,)"
                        R"("currency":"usd","interval":"month"},"terms":{"url":)"
                        R"("https://cloud.example/terms","version":"2026-01"},)"
                        R"("configuration_schema":)") +
              std::string(region_schema) + "}");
}

TEST(CatalogEtag, MatchesStrongAndWeakTagsAndStar) {
  auto tag = strong_etag("body");
  EXPECT_EQ(tag.size(), 34u);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_NE(tag, strong_etag("body2"));
  EXPECT_TRUE(if_none_match(tag, tag));
  EXPECT_TRUE(if_none_match("*", tag));
  EXPECT_TRUE(if_none_match("\"x\", W/" + tag, tag));
  EXPECT_FALSE(if_none_match("\"x\"", tag));
  EXPECT_FALSE(if_none_match("", tag));
}

} // namespace
} // namespace steward::core

namespace steward::core {
namespace {

TEST(CatalogQuery, ReadsEveryParameterDecoded) {
  catalog_query query;
  auto error = parse_catalog_query(
    "provider=cloud&category=dns-hosting&q=fast%20things&limit=5&starting_after=cloud%2Fkv%3Afree",
    query);
  ASSERT_FALSE(error) << error.detail;
  EXPECT_EQ(query.provider, "cloud");
  EXPECT_EQ(query.category, "dns-hosting");
  EXPECT_EQ(query.q, "fast things");
  EXPECT_EQ(query.limit, 5u);
  EXPECT_EQ(query.starting_after, "cloud/kv:free");
  ASSERT_FALSE(parse_catalog_query("", query));
  EXPECT_EQ(query.limit, 0u);
}

TEST(CatalogQuery, RefusesUnknownRepeatedAndMalformedParameters) {
  catalog_query query;
  auto unknown = parse_catalog_query("q=a&categroy=x", query);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown.code, api_error::unknown_field);
  EXPECT_EQ(unknown.pointer, "/categroy");
  for (std::string_view bad : {"q=a&q=b", "limit=0", "limit=101", "limit=x", "provider=Big",
                               "starting_after=kv", "category=a%2", "q=%zz"}) {
    auto error = parse_catalog_query(bad, query);
    ASSERT_TRUE(error) << bad;
    EXPECT_EQ(error.code, api_error::invalid_field) << bad;
  }
}

} // namespace
} // namespace steward::core
