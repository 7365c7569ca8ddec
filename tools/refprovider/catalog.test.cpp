#include "tools/refprovider/catalog.hpp"

#include "core/json_schema.hpp"
#include "tools/refprovider/query_string.hpp"

#include <gtest/gtest.h>

namespace steward::refprovider {
namespace {

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST(refprovider_catalog, lists_the_four_services_with_machine_readable_prices) {
  auto doc = build_catalog({"http://127.0.0.1:1/terms", "v3"});
  EXPECT_TRUE(contains(doc, R"("id":"registrar:domain")"));
  EXPECT_TRUE(contains(doc, R"("durable":true)"));
  EXPECT_TRUE(contains(doc, R"("pricing":{"type":"fixed","amount":1200,"currency":"usd","interval":"one_time"})"));
  EXPECT_TRUE(contains(doc, R"("id":"hosting:pro")"));
  EXPECT_TRUE(contains(doc, R"("pricing":{"type":"fixed","amount":2000,"currency":"usd","interval":"month"})"));
  EXPECT_TRUE(contains(doc, R"("id":"kv:free")"));
  EXPECT_TRUE(contains(doc, R"("pricing":{"type":"free"})"));
  EXPECT_TRUE(contains(doc, R"("id":"compute:metered")"));
  EXPECT_TRUE(contains(doc, R"("pricing":{"type":"metered","amount":5,"currency":"usd","unit":"vcpu_hour"})"));
  EXPECT_TRUE(contains(doc, R"("terms":{"url":"http://127.0.0.1:1/terms","version":"v3"})"));
  // Every service carries a configuration schema (the domain's is checked below).
  std::size_t at = 0, schemas = 0;
  while ((at = doc.find(R"("configuration_schema":)", at)) != std::string::npos) {
    ++schemas;
    at += 1;
  }
  EXPECT_EQ(schemas, 4u);
}

TEST(refprovider_catalog, the_domain_schema_accepts_exactly_the_sellable_domains) {
  auto compiled = core::compile_json_schema(domain_configuration_schema());
  ASSERT_TRUE(compiled) << compiled.detail;
  for (std::string_view name :
       {"example.com", "a.io", "superseal.club", "superseal.cc", "x-y.dev", "0.org", "Example.com",
        "superseal.clubs", "-a.com", "a-.com", "a..com", "sub.example.com", "example", ".com",
        "example.com.", "exa mple.com", "ex_ample.com"}) {
    bool const sellable = is_sellable_domain(name);
    auto violation = compiled.schema->validate(R"({"name":")" + std::string(name) + "\"}");
    EXPECT_EQ(sellable, !violation) << name;
  }
  EXPECT_TRUE(is_sellable_domain("superseal.club"));
  EXPECT_FALSE(is_sellable_domain("superseal.clubs"));
  EXPECT_FALSE(is_sellable_domain(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(is_sellable_domain(std::string(63, 'a') + ".com"));
  EXPECT_TRUE(compiled.schema->validate(R"({})")) << "name is required";
  EXPECT_TRUE(compiled.schema->validate(R"({"name":"a.com","tld":"xyz"})"));
  EXPECT_FALSE(compiled.schema->validate(R"({"name":"a.com","tld":"com"})"));
}

TEST(refprovider_catalog, availability_is_deterministic_and_well_known_names_are_taken) {
  EXPECT_TRUE(is_domain_taken("example.com"));
  EXPECT_TRUE(is_domain_taken("superseal.cc"));
  // About one in eight other names is taken, always the same ones.
  int taken = 0;
  for (int i = 0; i < 800; ++i) {
    auto name = "name" + std::to_string(i) + ".dev";
    bool first = is_domain_taken(name);
    EXPECT_EQ(first, is_domain_taken(name));
    taken += first;
  }
  EXPECT_GT(taken, 50);
  EXPECT_LT(taken, 150);
  auto answer = domain_availability("example.com");
  EXPECT_EQ(answer,
            R"({"name":"example.com","available":false,"price":{"amount":1200,"currency":"usd"},"interval":"one_time"})");
}

TEST(refprovider_catalog, strong_etags_change_with_the_document) {
  auto a = build_catalog({"u", "v1"});
  auto b = build_catalog({"u", "v2"});
  auto tag = strong_etag(a);
  EXPECT_EQ(tag.size(), 34u);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(tag, strong_etag(a));
  EXPECT_NE(tag, strong_etag(b));
}

TEST(refprovider_catalog, if_none_match_follows_rfc_9110) {
  std::string tag = "\"abc\"";
  EXPECT_TRUE(if_none_match("\"abc\"", tag));
  EXPECT_TRUE(if_none_match("W/\"abc\"", tag)) << "If-None-Match compares weakly";
  EXPECT_TRUE(if_none_match("\"x\", \"abc\"", tag));
  EXPECT_TRUE(if_none_match("*", tag));
  EXPECT_FALSE(if_none_match("\"abd\"", tag));
  EXPECT_FALSE(if_none_match("abc", tag)) << "an unquoted tag is malformed";
  EXPECT_FALSE(if_none_match("", tag));
}

TEST(refprovider_query_string, reads_and_decodes_one_parameter) {
  bool present = false;
  EXPECT_EQ(query_parameter("name=a.com", "name", &present), "a.com");
  EXPECT_TRUE(present);
  EXPECT_EQ(query_parameter("x=1&name=a%2Ecom&name=b.com", "name"), "a.com");
  EXPECT_EQ(query_parameter("name=", "name", &present), "");
  EXPECT_TRUE(present);
  EXPECT_EQ(query_parameter("name", "name", &present), "");
  EXPECT_FALSE(query_parameter("names=a", "name", &present));
  EXPECT_FALSE(present);
  EXPECT_FALSE(query_parameter("name=%G1", "name", &present)) << "a bad escape";
  EXPECT_TRUE(present);
  EXPECT_FALSE(query_parameter("name=%4", "name"));
  EXPECT_EQ(percent_decode("a+b%20c"), "a b c");
  EXPECT_EQ(percent_encode("ada+1@example.com"), "ada%2B1%40example.com");
}

} // namespace
} // namespace steward::refprovider
