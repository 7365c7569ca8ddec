#include "tools/refprovider/meter.hpp"

#include <gtest/gtest.h>

namespace steward::refprovider {
namespace {

net::client_result answer(std::uint16_t status, std::string body = {}) {
  net::client_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string problem(std::string_view code) {
  return R"({"type":"urn:steward:problem:x","title":"X","status":402,"detail":"no \"code\":\"x\"","code":")" +
         std::string(code) + R"("})";
}

TEST(meter, each_tick_has_its_own_stable_key_and_a_usage_body) {
  EXPECT_EQ(tick_key("rsc_a", 1), "rsc_a.tick.1");
  EXPECT_EQ(tick_key("rsc_a", 12), "rsc_a.tick.12");
  EXPECT_NE(tick_key("rsc_a", 1), tick_key("rsc_b", 1));
  EXPECT_EQ(tick_charge_body("ptk_1", "rsc_a", 3, 5, "vcpu_hour"),
            R"({"payment_token":"ptk_1","amount":15,"currency":"usd","description":"compute:metered rsc_a","usage":{"quantity":3,"unit":"vcpu_hour"}})");
}

TEST(meter, steward_taking_the_charge_goes_on) {
  EXPECT_EQ(judge_tick(answer(201)).what, tick_outcome::charged);
  EXPECT_EQ(judge_tick(answer(200)).what, tick_outcome::charged) << "an idempotent replay";
}

TEST(meter, a_refusal_stops_it_with_stewards_code) {
  for (std::string_view code : {"budget_exceeded", "token_expired", "killed", "token_revoked",
                                "not_found"}) {
    std::uint16_t status = code == "not_found" ? 404 : code.starts_with("budget") ||
                                                         code == "token_expired"
                                                       ? 402
                                                       : 403;
    auto verdict = judge_tick(answer(status, problem(code)));
    EXPECT_EQ(verdict.what, tick_outcome::stopped) << code;
    EXPECT_EQ(verdict.reason, code);
  }
  auto bare = judge_tick(answer(404, "not json"));
  EXPECT_EQ(bare.what, tick_outcome::stopped);
  EXPECT_EQ(bare.reason, "http_404");
}

TEST(meter, an_open_outcome_retries_the_same_tick) {
  for (std::uint16_t status : {409, 429, 500, 502, 503, 504})
    EXPECT_EQ(judge_tick(answer(status, problem("overloaded"))).what, tick_outcome::retry)
      << status;
  EXPECT_EQ(judge_tick(net::client_error::timeout).what, tick_outcome::retry);
  EXPECT_EQ(judge_tick(net::client_error::connect_failed).what, tick_outcome::retry);
}

} // namespace
} // namespace steward::refprovider
