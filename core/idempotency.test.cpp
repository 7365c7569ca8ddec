#include "core/idempotency.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>

namespace steward::core {
namespace {

// Computed independently: printf '%s' '<canonical body>' | sha256sum
constexpr std::string_view empty_sha256 =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view charge_sha256 = // {"amount":1299,"currency":"usd","meta":{"a":[1,"x"],"b":null}}
  "0e3f600799bce52a5dad97d861d23168915fd3decfcdd0d571ef5aa99f2ac2c1";

idempotency_fingerprint fingerprint(std::string_view body) {
  auto result = fingerprint_body(body);
  EXPECT_TRUE(result) << body;
  return result.value;
}

TEST(IdempotencyKey, AcceptsPrintableAsciiUpToTheLimit) {
  EXPECT_EQ(validate_idempotency_key("a"), idempotency_key_error::none);
  EXPECT_EQ(validate_idempotency_key("8e03978e-40d5-43e8-bc93-6894a57f9324"),
            idempotency_key_error::none);
  // A Structured Field String as the IETF draft writes it, quotes included, and interior spaces.
  EXPECT_EQ(validate_idempotency_key("\"retry 1 of order #42\""), idempotency_key_error::none);
  EXPECT_EQ(validate_idempotency_key("!~"), idempotency_key_error::none);
  EXPECT_EQ(validate_idempotency_key(std::string(limits::idempotency_key_bytes_max, 'k')),
            idempotency_key_error::none);
}

TEST(IdempotencyKey, RejectsEmptyLongAndNonPrintable) {
  EXPECT_EQ(validate_idempotency_key(""), idempotency_key_error::missing);
  EXPECT_EQ(to_api_error(idempotency_key_error::missing), api_error::idempotency_key_required);
  EXPECT_EQ(validate_idempotency_key(std::string(limits::idempotency_key_bytes_max + 1, 'k')),
            idempotency_key_error::too_long);
  for (std::string_view key : {std::string_view("a\tb"), std::string_view("a\x7f"),
                               std::string_view("\x1f"), std::string_view("caf\xC3\xA9"),
                               std::string_view("a\0b", 3), std::string_view(" a"),
                               std::string_view("a "), std::string_view(" ")})
    EXPECT_EQ(validate_idempotency_key(key), idempotency_key_error::invalid_character)
      << testing::PrintToString(std::string(key));
  EXPECT_EQ(to_api_error(idempotency_key_error::invalid_character), api_error::invalid_field);
  EXPECT_EQ(to_api_error(idempotency_key_error::too_long), api_error::invalid_field);
}

TEST(IdempotencyScope, FieldsAreLengthPrefixed) {
  using namespace std::string_literals;
  EXPECT_EQ(idempotency_scope("ses_1", "POST", "/v1/resources", "k"),
            "\0\0\0\5ses_1\0\0\0\4POST\0\0\0\15/v1/resources\0\0\0\1k"s);
}

TEST(IdempotencyScope, DifferentTuplesNeverCollide) {
  // Moving bytes across a field boundary, or into an empty field, must change the scope.
  std::set<std::string> scopes;
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> tuples = {
    {"ses_a", "POST", "/v1/x", "k"},  {"ses_aP", "OST", "/v1/x", "k"},
    {"ses_a", "POST/", "v1/x", "k"},  {"ses_a", "POST", "/v1/xk", ""},
    {"ses_a", "POST", "/v1/x", "K"},  {"ses_b", "POST", "/v1/x", "k"},
    {"ses_a", "DELETE", "/v1/x", "k"}, {"", "ses_aPOST", "/v1/x", "k"},
  };
  for (const auto& [principal, method, path, key] : tuples)
    scopes.insert(idempotency_scope(principal, method, path, key));
  EXPECT_EQ(scopes.size(), tuples.size());
}

TEST(IdempotencyFingerprint, KnownVectors) {
  EXPECT_EQ(to_hex(fingerprint("")), empty_sha256);
  EXPECT_EQ(to_hex(fingerprint(R"({"amount":1299,"currency":"usd","meta":{"a":[1,"x"],"b":null}})")),
            charge_sha256);
}

TEST(IdempotencyFingerprint, IgnoresFormattingButNotContent) {
  const auto base = fingerprint(R"({"amount":1299,"currency":"usd","meta":{"a":[1,"x"],"b":null}})");
  // Reordered members, whitespace and escapes: the same request.
  EXPECT_EQ(fingerprint(" {\"meta\": {\"b\": null, \"a\": [1, \"\\u0078\"]},\n \"currency\": \"usd\", "
                        "\"amount\": 1299 } "),
            base);
  // Any change of content: a different request.
  EXPECT_NE(fingerprint(R"({"amount":1300,"currency":"usd","meta":{"a":[1,"x"],"b":null}})"), base);
  EXPECT_NE(fingerprint(R"({"amount":1299,"currency":"usd","meta":{"a":["x",1],"b":null}})"), base);
  EXPECT_NE(fingerprint(R"({"amount":1299,"currency":"usd","meta":{"a":[1,"x"]}})"), base);
  EXPECT_NE(fingerprint("{}"), fingerprint(""));
}

TEST(IdempotencyFingerprint, InvalidBodyHasNone) {
  auto result = fingerprint_body(R"({"amount":1299,)");
  EXPECT_FALSE(result);
  EXPECT_EQ(to_api_error(result.error), api_error::invalid_json);
  EXPECT_EQ(fingerprint_body(R"({"a":1,"a":2})").error, canonical_json_error::duplicate_key);
}

TEST(IdempotencyDecide, NoRecordExecutes) {
  auto decision = decide(nullptr, fingerprint("{}"));
  EXPECT_EQ(decision.action, idempotency_action::execute);
  EXPECT_FALSE(decision.error.has_value());
}

TEST(IdempotencyDecide, SameFingerprintDoneReplays) {
  idempotency_record record{fingerprint(R"({"a":1})"), idempotency_state::done, 201,
                            R"({"id":"chg_1"})"};
  auto decision = decide(&record, fingerprint(R"( { "a" : 1 } )"));
  EXPECT_EQ(decision.action, idempotency_action::replay);
  EXPECT_EQ(decision.status, 201);
  EXPECT_EQ(decision.body, R"({"id":"chg_1"})");
  EXPECT_EQ(decision.body.data(), record.body.data()); // a view, no copy
  EXPECT_FALSE(decision.error.has_value());
}

TEST(IdempotencyDecide, DifferentFingerprintConflictsEvenInFlight) {
  idempotency_record record{fingerprint(R"({"a":1})"), idempotency_state::done, 201, "{}"};
  auto decision = decide(&record, fingerprint(R"({"a":2})"));
  EXPECT_EQ(decision.action, idempotency_action::conflict);
  ASSERT_TRUE(decision.error.has_value());
  EXPECT_EQ(*decision.error, api_error::idempotency_conflict);
  EXPECT_EQ(info(*decision.error).status, 422);

  record.state = idempotency_state::in_flight;
  EXPECT_EQ(decide(&record, fingerprint(R"({"a":2})")).action, idempotency_action::conflict);
}

TEST(IdempotencyDecide, SameFingerprintInFlightAsksToRetryLater) {
  idempotency_record record{fingerprint(R"({"a":1})"), idempotency_state::in_flight, 0, ""};
  auto decision = decide(&record, fingerprint(R"({"a":1})"));
  EXPECT_EQ(decision.action, idempotency_action::in_flight);
  ASSERT_TRUE(decision.error.has_value());
  EXPECT_EQ(*decision.error, api_error::idempotency_in_flight);
  EXPECT_EQ(info(*decision.error).status, 409);
  EXPECT_EQ(decision.retry_after_seconds, idempotency_retry_after_seconds);
  EXPECT_GT(decision.retry_after_seconds, 0u);
}

TEST(IdempotencyStoredResponse, OutcomesAreStoredTransientsAreNot) {
  for (std::uint16_t status : {200, 201, 202, 204, 301, 400, 401, 402, 403, 404, 413, 422})
    EXPECT_TRUE(is_stored_response(status)) << status;
  for (std::uint16_t status : {100, 101, 408, 409, 425, 429, 500, 502, 503, 504, 599, 0})
    EXPECT_FALSE(is_stored_response(status)) << status;
}

} // namespace
} // namespace steward::core
