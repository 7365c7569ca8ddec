#include "core/problem.hpp"

#include "core/api_error.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <set>
#include <string>

namespace steward::core {
namespace {

api_error nth(std::size_t i) { return static_cast<api_error>(i); }

// --- api_error ----------------------------------------------------------------------------------

TEST(ApiError, EveryCodeIsDistinctSnakeCaseAndTitled) {
  std::set<std::string_view> codes, titles;
  for (std::size_t i = 0; i < api_error_count; ++i) {
    const api_error_info& about = info(nth(i));
    EXPECT_TRUE(codes.insert(about.code).second) << "duplicate code " << about.code;
    EXPECT_FALSE(about.code.empty());
    for (char c : about.code)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << about.code;
    EXPECT_FALSE(about.title.empty()) << about.code;
    EXPECT_TRUE(titles.insert(about.title).second) << "duplicate title " << about.title;
    EXPECT_TRUE(about.status >= 400 && about.status <= 599) << about.code;
  }
  EXPECT_EQ(codes.size(), api_error_count);
}

// The statuses of DESIGN 4.5 and of the additions in docs/errors.md, spelled out once more so that
// a change to the table is a deliberate one.
TEST(ApiError, StatusOfEveryCode) {
  const std::map<std::string_view, std::uint16_t> expected = {
    {"invalid_json", 400},
    {"unknown_field", 400},
    {"invalid_field", 400},
    {"idempotency_key_required", 400},
    {"unsupported_currency", 400},
    {"bad_request", 400},
    {"unauthorized", 401},
    {"budget_exceeded", 402},
    {"token_expired", 402},
    {"forbidden", 403},
    {"killed", 403},
    {"token_revoked", 403},
    {"not_found", 404},
    {"method_not_allowed", 405},
    {"request_timeout", 408},
    {"idempotency_in_flight", 409},
    {"approval_not_pending", 409},
    {"resource_state_conflict", 409},
    {"payload_too_large", 413},
    {"idempotency_conflict", 422},
    {"intent_mismatch", 422},
    {"config_invalid", 422},
    {"rate_limited", 429},
    {"headers_too_large", 431},
    {"internal", 500},
    {"not_implemented", 501},
    {"provider_error", 502},
    {"provider_unavailable", 503},
    {"overloaded", 503},
    {"http_version_not_supported", 505},
  };
  EXPECT_EQ(expected.size(), api_error_count);
  for (std::size_t i = 0; i < api_error_count; ++i) {
    const api_error_info& about = info(nth(i));
    auto it = expected.find(about.code);
    ASSERT_NE(it, expected.end()) << "code not in the list: " << about.code;
    EXPECT_EQ(about.status, it->second) << about.code;
  }
}

TEST(ApiError, HttpParserStatuses) {
  EXPECT_EQ(api_error_from_http_status(400), api_error::bad_request);
  EXPECT_EQ(api_error_from_http_status(405), api_error::method_not_allowed);
  EXPECT_EQ(api_error_from_http_status(408), api_error::request_timeout);
  EXPECT_EQ(api_error_from_http_status(413), api_error::payload_too_large);
  EXPECT_EQ(api_error_from_http_status(431), api_error::headers_too_large);
  EXPECT_EQ(api_error_from_http_status(501), api_error::not_implemented);
  EXPECT_EQ(api_error_from_http_status(505), api_error::http_version_not_supported);
  for (std::uint16_t status : {400, 405, 408, 413, 431, 501, 505})
    EXPECT_EQ(info(api_error_from_http_status(status)).status, status);
}

// --- problem ------------------------------------------------------------------------------------

TEST(Problem, ByteExactBody) {
  problem p(api_error::budget_exceeded, "the session's run budget has 120 usd left");
  p.member("scope", "session");
  EXPECT_EQ(p.status(), 402);
  EXPECT_EQ(std::move(p).body(),
            R"({"type":"urn:steward:problem:budget_exceeded","title":"Budget exceeded",)"
            R"("status":402,"detail":"the session's run budget has 120 usd left",)"
            R"("code":"budget_exceeded","scope":"session"})");
}

TEST(Problem, WithoutExtensions) {
  EXPECT_EQ(problem(api_error::not_found, "no such resource").body(),
            R"({"type":"urn:steward:problem:not_found","title":"Not found","status":404,)"
            R"("detail":"no such resource","code":"not_found"})");
}

TEST(Problem, IntegerMemberAndRetryAfter) {
  problem p(api_error::rate_limited, "slow down");
  p.retry_after(30).member("limit", std::int64_t{-5});
  EXPECT_EQ(p.retry_after_seconds(), 30u);
  EXPECT_EQ(p.status(), 429);
  EXPECT_EQ(std::move(p).body(),
            R"({"type":"urn:steward:problem:rate_limited","title":"Too many requests",)"
            R"("status":429,"detail":"slow down","code":"rate_limited","retry_after":30,)"
            R"("limit":-5})");
}

TEST(Problem, IntentMismatchCarriesExpected) {
  std::string body = problem(api_error::intent_mismatch, "superseal.cc is not an intent")
                       .member("expected", "superseal.club")
                       .body();
  EXPECT_NE(body.find(R"("status":422)"), std::string::npos);
  EXPECT_NE(body.find(R"(,"expected":"superseal.club"})"), std::string::npos);
}

TEST(Problem, DetailAndMembersAreEscaped) {
  std::string body = problem(api_error::provider_error, "provider said \"no\"\n\x01\xff")
                       .member("provider_message", "line\u2028break")
                       .body();
  EXPECT_NE(body.find(R"("detail":"provider said \"no\"\n\u0001\ufffd")"), std::string::npos)
    << body;
  EXPECT_NE(body.find(R"("provider_message":"line\u2028break")"), std::string::npos) << body;
}

TEST(Problem, FromJsonError) {
  json_error error;
  error.failed = true;
  error.code = api_error::invalid_field;
  error.pointer = "/intents/domains/2";
  error.detail = "expected a string, got a number";
  problem p(error);
  EXPECT_EQ(p.status(), 400);
  EXPECT_EQ(std::move(p).body(),
            R"({"type":"urn:steward:problem:invalid_field","title":"Request has an invalid field",)"
            R"("status":400,"detail":"/intents/domains/2: expected a string, got a number",)"
            R"("code":"invalid_field","field":"/intents/domains/2"})");
}

TEST(Problem, FromDecodedBody) {
  std::string label;
  json_error error = decode(R"({"lable": "x"})", [&](object_reader& o) { o.optional("label", label); });
  ASSERT_TRUE(error);
  std::string body = problem(error).body();
  EXPECT_NE(body.find(R"("code":"unknown_field")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("field":"/lable")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("detail":"/lable: unknown field")"), std::string::npos) << body;
}

TEST(Problem, FromWholeBodyJsonError) {
  json_error error = decode("[]", [](object_reader&) {});
  std::string body = problem(error).body();
  EXPECT_NE(body.find(R"("detail":"the body must be a JSON object")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("field":"")"), std::string::npos) << body;
}

// Every code gives a body that parses, with the standard members in place.
TEST(Problem, EveryCodeGivesAValidBody) {
  simdjson::dom::parser parser;
  for (std::size_t i = 0; i < api_error_count; ++i) {
    const api_error_info& about = info(nth(i));
    std::string body = problem(nth(i), "d").member("x", "y").body();
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body;
    std::string_view type, code, title, detail;
    std::int64_t status = 0;
    EXPECT_EQ(root["type"].get(type), simdjson::SUCCESS);
    EXPECT_EQ(type, std::string(problem_type_prefix) + std::string(about.code));
    EXPECT_EQ(root["code"].get(code), simdjson::SUCCESS);
    EXPECT_EQ(code, about.code);
    EXPECT_EQ(root["title"].get(title), simdjson::SUCCESS);
    EXPECT_EQ(title, about.title);
    EXPECT_EQ(root["status"].get(status), simdjson::SUCCESS);
    EXPECT_EQ(status, about.status);
    EXPECT_EQ(root["detail"].get(detail), simdjson::SUCCESS);
    EXPECT_EQ(detail, "d");
  }
}

TEST(Problem, ContentType) { EXPECT_EQ(problem_content_type, "application/problem+json"); }

TEST(ProblemDeathTest, StandardMemberCannotBeShadowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(problem(api_error::forbidden, "d").member("code", "x"), "shadows");
  EXPECT_DEATH(problem(api_error::forbidden, "d").member("status", std::int64_t{200}), "shadows");
}

} // namespace
} // namespace steward::core
