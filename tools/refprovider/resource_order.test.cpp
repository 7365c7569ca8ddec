#include "tools/refprovider/resource_order.hpp"

#include "tools/refprovider/catalog.hpp"

#include <gtest/gtest.h>

namespace steward::refprovider {
namespace {

constexpr std::int64_t now = 1'800'000'000;

std::string token(std::int64_t max_amount = 5000, std::string_view currency = "usd",
                  std::int64_t expires_at = now + 60) {
  return R"("payment_token":{"id":"ptk_0000000000000000000007","max_amount":)" +
         std::to_string(max_amount) + R"(,"currency":")" + std::string(currency) +
         R"(","expires_at":)" + std::to_string(expires_at) + "}";
}

/// The problem's code, or "ok".
std::string read(std::string_view body, resource_order& order) {
  static const auto offerings = catalog_offerings();
  auto problem = read_resource_order(body, offerings, now, order);
  if (!problem)
    return "ok";
  return std::string(core::info(problem->code()).code);
}

TEST(resource_order, a_paid_order_names_its_offering_and_token) {
  resource_order order;
  ASSERT_EQ(read(R"({"service":"hosting:pro","name":"web",)" + token() + "}", order), "ok");
  ASSERT_NE(order.offer, nullptr);
  EXPECT_EQ(order.offer->id, "hosting:pro");
  EXPECT_EQ(order.offer->price, hosting_price_amount);
  EXPECT_EQ(order.name, "web");
  ASSERT_TRUE(order.payment_token);
  EXPECT_EQ(order.payment_token->max_amount, 5000);
  EXPECT_TRUE(order.domain.empty());
}

TEST(resource_order, a_domain_order_carries_the_domain) {
  resource_order order;
  ASSERT_EQ(read(R"({"service":"registrar:domain","config":{"name":"ada.dev"},)" + token() + "}",
                 order),
            "ok");
  EXPECT_EQ(order.domain, "ada.dev");
  EXPECT_EQ(read(R"({"service":"registrar:domain","config":{"name":"ada.xyz"},)" + token() + "}",
                 order),
            "config_invalid");
  EXPECT_EQ(read(R"({"service":"registrar:domain",)" + token() + "}", order), "config_invalid")
    << "name is required";
}

TEST(resource_order, free_services_need_no_token_and_metered_ones_do) {
  resource_order order;
  EXPECT_EQ(read(R"({"service":"kv:free"})", order), "ok");
  // The meter charges the token later, so it is needed up front though nothing is charged now.
  EXPECT_EQ(read(R"({"service":"compute:metered","config":{"region":"us-east"}})", order),
            "invalid_field");
  EXPECT_EQ(read(R"({"service":"compute:metered",)" + token(10) + "}", order), "ok");
  EXPECT_EQ(order.offer->price, 0);
  EXPECT_EQ(order.offer->unit_price, compute_price_amount);
  EXPECT_EQ(read(R"({"service":"compute:metered",)" + token(10, "usd", now) + "}", order),
            "token_expired");
}

TEST(resource_order, each_refusal_has_its_code) {
  resource_order order;
  EXPECT_EQ(read("[]", order), "invalid_json");
  EXPECT_EQ(read(R"({"service":"kv:free","extra":1})", order), "unknown_field");
  EXPECT_EQ(read(R"({"service":"db:huge"})", order), "invalid_field");
  EXPECT_EQ(read(R"({"service":"kv:free","config":{"region":"moon"}})", order), "config_invalid");
  EXPECT_EQ(read(R"({"service":"hosting:pro"})", order), "invalid_field");
  EXPECT_EQ(read(R"({"service":"hosting:pro",)" + token(5000, "eur") + "}", order),
            "unsupported_currency");
  EXPECT_EQ(read(R"({"service":"hosting:pro",)" + token(hosting_price_amount - 1) + "}", order),
            "budget_exceeded");
  EXPECT_EQ(read(R"({"service":"hosting:pro",)" + token(5000, "usd", now) + "}", order),
            "token_expired");
  EXPECT_EQ(read(R"({"service":"hosting:pro",)" + token(-1) + "}", order), "invalid_field");
}

} // namespace
} // namespace steward::refprovider
