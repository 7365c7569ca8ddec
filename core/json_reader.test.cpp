#include "core/json_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace steward::core {
namespace {

// --- Request types shaped like the API's ------------------------------------------------------

struct money {
  std::int64_t amount = 0;
  std::string currency;
};

void declare_money(object_reader& o, money& m) {
  o.required("amount", m.amount, 0, 1'000'000'000);
  o.required("currency", m.currency, 3);
}

struct session_request {
  std::int64_t ttl_seconds = 3600;
  std::vector<std::string> domains;
  std::optional<std::string> label;
  std::optional<money> run_budget;
};

json_error decode_session(std::string_view body, session_request& out) {
  return decode(body, [&](object_reader& o) {
    o.optional("ttl_seconds", out.ttl_seconds, 1, 86400);
    o.optional("label", out.label, 200);
    o.optional("run_budget", out.run_budget, declare_money);
    o.optional("intents", [&](object_reader& i) { i.optional("domains", out.domains, 4, 253); });
  });
}

struct usage {
  std::int64_t quantity = 0;
  std::string unit;
};

struct charge_request {
  std::string payment_token;
  std::int64_t amount = 0;
  std::string currency;
  std::string description;
  std::optional<std::string> resource;
  std::optional<usage> usage_record;
};

json_error decode_charge(std::string_view body, charge_request& out) {
  return decode(body, [&](object_reader& o) {
    o.required("payment_token", out.payment_token, 64);
    o.required("amount", out.amount, 1, 100'000'000);
    o.required("currency", out.currency, 3);
    o.required("description", out.description, 500);
    o.optional("resource", out.resource, 64);
    o.optional("usage", out.usage_record, [](object_reader& u, usage& v) {
      u.required("quantity", v.quantity, 0);
      u.required("unit", v.unit, 16);
    });
  });
}

// Checks that decoding `body` fails with `code` at `pointer`.
#define EXPECT_DECODE_ERROR(expr, expected_code, expected_pointer)                                 \
  do {                                                                                             \
    json_error error_ = (expr);                                                                    \
    EXPECT_TRUE(error_.failed);                                                                    \
    EXPECT_EQ(info(error_.code).code, info(expected_code).code) << error_.detail;                 \
    EXPECT_EQ(error_.pointer, expected_pointer) << error_.detail;                                  \
  } while (0)

json_error session_error(std::string_view body) {
  session_request out;
  return decode_session(body, out);
}

json_error charge_error(std::string_view body) {
  charge_request out;
  return decode_charge(body, out);
}

// --- Success ------------------------------------------------------------------------------------

TEST(JsonReader, DecodesEveryMember) {
  session_request out;
  json_error error = decode_session(R"({
      "ttl_seconds": 7200,
      "label": "deploy bot",
      "run_budget": {"amount": 2500, "currency": "usd"},
      "intents": {"domains": ["superseal.club", "example.com"]}
    })",
                                    out);
  ASSERT_FALSE(error) << error.pointer << ": " << error.detail;
  EXPECT_EQ(out.ttl_seconds, 7200);
  EXPECT_EQ(out.label, "deploy bot");
  ASSERT_TRUE(out.run_budget);
  EXPECT_EQ(out.run_budget->amount, 2500);
  EXPECT_EQ(out.run_budget->currency, "usd");
  EXPECT_EQ(out.domains, (std::vector<std::string>{"superseal.club", "example.com"}));
}

TEST(JsonReader, AbsentOptionalMembersKeepDefaults) {
  session_request out;
  ASSERT_FALSE(decode_session("{}", out));
  EXPECT_EQ(out.ttl_seconds, 3600);
  EXPECT_FALSE(out.label);
  EXPECT_FALSE(out.run_budget);
  EXPECT_TRUE(out.domains.empty());
}

TEST(JsonReader, MembersInAnyOrder) {
  charge_request out;
  json_error error = decode_charge(
    R"({"usage":{"unit":"GB","quantity":3},"currency":"usd","description":"d","amount":1299,)"
    R"("payment_token":"ptk_1"})",
    out);
  ASSERT_FALSE(error) << error.detail;
  EXPECT_EQ(out.amount, 1299);
  ASSERT_TRUE(out.usage_record);
  EXPECT_EQ(out.usage_record->quantity, 3);
  EXPECT_EQ(out.usage_record->unit, "GB");
}

TEST(JsonReader, BothEntryPointsDecodeTheSame) {
  const std::string json = R"({"ttl_seconds": 60, "label": "x"})";
  std::string padded = json + std::string(json_padding_bytes, '\0');
  std::string_view body(padded.data(), json.size());
  session_request a, b;
  ASSERT_FALSE(decode(body, padding_readable, [&](object_reader& o) {
    o.optional("ttl_seconds", a.ttl_seconds);
    o.optional("label", a.label);
  }));
  ASSERT_FALSE(decode(json, [&](object_reader& o) {
    o.optional("ttl_seconds", b.ttl_seconds);
    o.optional("label", b.label);
  }));
  EXPECT_EQ(a.ttl_seconds, 60);
  EXPECT_EQ(a.ttl_seconds, b.ttl_seconds);
  EXPECT_EQ(a.label, b.label);
}

TEST(JsonReader, EscapedKeyMatchesItsDeclaration) {
  session_request out;
  ASSERT_FALSE(decode_session(R"({"ttl\u005fseconds": 5})", out));
  EXPECT_EQ(out.ttl_seconds, 5);
}

TEST(JsonReader, StringsWithEscapesAndUnicode) {
  std::string text;
  ASSERT_FALSE(decode(R"({"s": "q\"b\\s\/n\nt\tu\u00e9e\u20ac\ud83d\ude00 raw é€😀"})",
                      [&](object_reader& o) { o.required("s", text); }));
  EXPECT_EQ(text, "q\"b\\s/n\nt\tu\xc3\xa9" "e\xe2\x82\xac\xf0\x9f\x98\x80 raw é€😀");
}

TEST(JsonReader, StringLimitCountsUtf8Bytes) {
  std::string text;
  auto limited = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) { o.required("s", text, 4); });
  };
  EXPECT_FALSE(limited(R"({"s": "abcd"})"));
  EXPECT_FALSE(limited(R"({"s": "\u00e9\u00e9"})")) << "two characters, four bytes";
  EXPECT_DECODE_ERROR(limited(R"({"s": "abcde"})"), api_error::invalid_field, "/s");
  EXPECT_DECODE_ERROR(limited(R"({"s": "\u00e9\u00e9a"})"), api_error::invalid_field, "/s");
}

TEST(JsonReader, GlobalStringLimit) {
  std::string text;
  std::string body = R"({"s": ")" + std::string(limits::json_string_bytes_max + 1, 'x') + R"("})";
  EXPECT_DECODE_ERROR(decode(body, [&](object_reader& o) { o.required("s", text); }),
                      api_error::invalid_field, "/s");
  body = R"({"s": ")" + std::string(limits::json_string_bytes_max, 'x') + R"("})";
  EXPECT_FALSE(decode(body, [&](object_reader& o) { o.required("s", text); }));
  EXPECT_EQ(text.size(), limits::json_string_bytes_max);
}

TEST(JsonReader, Booleans) {
  bool flag = false;
  std::optional<bool> maybe;
  ASSERT_FALSE(decode(R"({"a": true, "b": false})", [&](object_reader& o) {
    o.required("a", flag);
    o.optional("b", maybe);
  }));
  EXPECT_TRUE(flag);
  EXPECT_EQ(maybe, false);
  EXPECT_DECODE_ERROR(decode(R"({"a": 1})", [&](object_reader& o) { o.required("a", flag); }),
                      api_error::invalid_field, "/a");
  EXPECT_DECODE_ERROR(decode(R"({"a": "true"})", [&](object_reader& o) { o.required("a", flag); }),
                      api_error::invalid_field, "/a");
}

TEST(JsonReader, Integers) {
  std::int64_t i = 0;
  std::uint32_t u = 0;
  std::int16_t s = 0;
  auto ints = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) {
      o.optional("i", i);
      o.optional("u", u);
      o.optional("s", s);
    });
  };
  ASSERT_FALSE(ints(R"({"i": -9223372036854775808, "u": 4294967295, "s": -32768})"));
  EXPECT_EQ(i, INT64_MIN);
  EXPECT_EQ(u, 4294967295u);
  EXPECT_EQ(s, -32768);
  ASSERT_FALSE(ints(R"({"i": 9223372036854775807})"));
  EXPECT_EQ(i, INT64_MAX);
  ASSERT_FALSE(ints(R"({"i": -0})"));
  EXPECT_EQ(i, 0);

  EXPECT_DECODE_ERROR(ints(R"({"i": 9223372036854775808})"), api_error::invalid_field, "/i");
  EXPECT_DECODE_ERROR(ints(R"({"i": -9223372036854775809})"), api_error::invalid_field, "/i");
  EXPECT_DECODE_ERROR(ints(R"({"i": 123456789012345678901234567890})"), api_error::invalid_field,
                      "/i");
  EXPECT_DECODE_ERROR(ints(R"({"u": 4294967296})"), api_error::invalid_field, "/u");
  EXPECT_DECODE_ERROR(ints(R"({"u": -1})"), api_error::invalid_field, "/u");
  EXPECT_DECODE_ERROR(ints(R"({"s": 32768})"), api_error::invalid_field, "/s");
  EXPECT_DECODE_ERROR(ints(R"({"i": "5"})"), api_error::invalid_field, "/i");
}

TEST(JsonReader, FloatsAreNotIntegers) {
  std::int64_t i = 0;
  auto one = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) { o.required("i", i); });
  };
  for (std::string_view body : {R"({"i": 1.0})", R"({"i": 1.5})", R"({"i": 1e2})",
                                R"({"i": -2E-1})", R"({"i": 1e999})"}) {
    json_error error = one(body);
    EXPECT_DECODE_ERROR(one(body), api_error::invalid_field, "/i");
    EXPECT_EQ(error.detail, "must be an integer") << body;
  }
}

TEST(JsonReader, MalformedNumbersAreInvalidJson) {
  std::int64_t i = 0;
  auto one = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) { o.required("i", i); });
  };
  for (std::string_view body : {R"({"i": 01})", R"({"i": -})", R"({"i": 1.})", R"({"i": 1e})",
                                R"({"i": +1})", R"({"i": .5})"})
    EXPECT_EQ(one(body).code, api_error::invalid_json) << body;
}

TEST(JsonReader, RangeErrorNamesTheRange) {
  json_error error = session_error(R"({"ttl_seconds": 0})");
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": 0})"), api_error::invalid_field,
                      "/ttl_seconds");
  EXPECT_EQ(error.detail, "must be an integer from 1 to 86400");
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": 86401})"), api_error::invalid_field,
                      "/ttl_seconds");
}

// --- Unknown, duplicate, missing ----------------------------------------------------------------

TEST(JsonReader, UnknownFieldAfterKnownOnes) {
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": 60, "label": "x", "lable": "y"})"),
                      api_error::unknown_field, "/lable");
}

TEST(JsonReader, UnknownFieldFirst) {
  EXPECT_DECODE_ERROR(session_error(R"({"ttl": 60, "ttl_seconds": 60})"), api_error::unknown_field,
                      "/ttl");
}

TEST(JsonReader, NestedUnknownField) {
  EXPECT_DECODE_ERROR(session_error(R"({"intents": {"domains": [], "domian": ["a"]}})"),
                      api_error::unknown_field, "/intents/domian");
  EXPECT_DECODE_ERROR(
    session_error(R"({"run_budget": {"amount": 1, "currency": "usd", "cents": true}})"),
    api_error::unknown_field, "/run_budget/cents");
}

TEST(JsonReader, UnknownFieldInArrayElement) {
  std::vector<usage> items;
  EXPECT_DECODE_ERROR(decode(R"({"items": [{"quantity": 1, "unit": "GB"},
                                           {"quantity": 2, "unit": "GB", "price": 3}]})",
                             [&](object_reader& o) {
                               o.required("items", items, 10, [](object_reader& i, usage& u) {
                                 i.required("quantity", u.quantity);
                                 i.required("unit", u.unit);
                               });
                             }),
                      api_error::unknown_field, "/items/1/price");
}

TEST(JsonReader, PointerEscapesSlashAndTilde) {
  EXPECT_DECODE_ERROR(session_error(R"({"a/b~c": 1})"), api_error::unknown_field, "/a~1b~0c");
}

TEST(JsonReader, DuplicateKeyIsInvalidField) {
  json_error error = session_error(R"({"ttl_seconds": 60, "label": "x", "ttl_seconds": 61})");
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": 60, "label": "x", "ttl_seconds": 61})"),
                      api_error::invalid_field, "/ttl_seconds");
  EXPECT_EQ(error.detail, "duplicate member");
  EXPECT_DECODE_ERROR(session_error(R"({"intents": {"domains": [], "domains": []}})"),
                      api_error::invalid_field, "/intents/domains");
}

TEST(JsonReader, DuplicateUnknownKeyIsUnknown) {
  EXPECT_DECODE_ERROR(session_error(R"({"x": 1, "x": 2})"), api_error::unknown_field, "/x");
}

TEST(JsonReader, MissingRequiredMember) {
  json_error error = charge_error(R"({"payment_token": "ptk_1", "currency": "usd",
                                      "description": "d"})");
  EXPECT_DECODE_ERROR(charge_error(R"({"payment_token": "ptk_1", "currency": "usd",
                                       "description": "d"})"),
                      api_error::invalid_field, "/amount");
  EXPECT_EQ(error.detail, "required");
  EXPECT_DECODE_ERROR(charge_error(R"({"payment_token": "ptk_1", "amount": 1, "currency": "usd",
                                       "description": "d", "usage": {"unit": "GB"}})"),
                      api_error::invalid_field, "/usage/quantity");
}

// --- Types and null -----------------------------------------------------------------------------

TEST(JsonReader, WrongTypes) {
  json_error error = session_error(R"({"label": 5})");
  EXPECT_DECODE_ERROR(session_error(R"({"label": 5})"), api_error::invalid_field, "/label");
  EXPECT_EQ(error.detail, "expected a string, got a number");
  EXPECT_DECODE_ERROR(session_error(R"({"label": {"a": 1}})"), api_error::invalid_field, "/label");
  EXPECT_DECODE_ERROR(session_error(R"({"intents": []})"), api_error::invalid_field, "/intents");
  EXPECT_DECODE_ERROR(session_error(R"({"intents": {"domains": "a.com"}})"),
                      api_error::invalid_field, "/intents/domains");
  EXPECT_DECODE_ERROR(session_error(R"({"intents": {"domains": ["a.com", "b.com", 3]}})"),
                      api_error::invalid_field, "/intents/domains/2");
}

TEST(JsonReader, NullIsInvalidUnlessNullable) {
  json_error error = session_error(R"({"label": null})");
  EXPECT_DECODE_ERROR(session_error(R"({"label": null})"), api_error::invalid_field, "/label");
  EXPECT_EQ(error.detail, "must not be null");
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": null})"), api_error::invalid_field,
                      "/ttl_seconds");
  EXPECT_DECODE_ERROR(session_error(R"({"run_budget": null})"), api_error::invalid_field,
                      "/run_budget");
}

TEST(JsonReader, NullableMembers) {
  struct limits_request {
    nullable<money> monthly;
    nullable<std::string> note;
    nullable<std::int64_t> count;
    nullable<bool> flag;
  };
  auto run = [](std::string_view body, limits_request& out) {
    return decode(body, [&](object_reader& o) {
      o.optional("monthly", out.monthly, declare_money);
      o.optional("note", out.note, 10);
      o.optional("count", out.count, 0, 5);
      o.optional("flag", out.flag);
    });
  };
  limits_request absent;
  ASSERT_FALSE(run("{}", absent));
  EXPECT_FALSE(absent.monthly.present);
  EXPECT_FALSE(absent.note.present);

  limits_request nulls;
  ASSERT_FALSE(run(R"({"monthly": null, "note": null, "count": null, "flag": null})", nulls));
  EXPECT_TRUE(nulls.monthly.present);
  EXPECT_FALSE(nulls.monthly.value);
  EXPECT_TRUE(nulls.note.present);
  EXPECT_FALSE(nulls.note.value);
  EXPECT_TRUE(nulls.count.present);
  EXPECT_FALSE(nulls.count.value);
  EXPECT_TRUE(nulls.flag.present);
  EXPECT_FALSE(nulls.flag.value);

  limits_request values;
  ASSERT_FALSE(run(R"({"monthly": {"amount": 10000, "currency": "usd"}, "note": "n",
                       "count": 3, "flag": true})",
                   values));
  ASSERT_TRUE(values.monthly.value);
  EXPECT_EQ(values.monthly.value->amount, 10000);
  EXPECT_EQ(values.note.value, "n");
  EXPECT_EQ(values.count.value, 3);
  EXPECT_EQ(values.flag.value, true);

  limits_request bad;
  EXPECT_DECODE_ERROR(run(R"({"count": 6})", bad), api_error::invalid_field, "/count");
  EXPECT_DECODE_ERROR(run(R"({"note": nul})", bad), api_error::invalid_json, "/note");
}

// --- Arrays -------------------------------------------------------------------------------------

TEST(JsonReader, ArrayItemLimit) {
  session_request out;
  ASSERT_FALSE(decode_session(R"({"intents": {"domains": ["a", "b", "c", "d"]}})", out));
  EXPECT_EQ(out.domains.size(), 4u);
  json_error error = session_error(R"({"intents": {"domains": ["a", "b", "c", "d", "e"]}})");
  EXPECT_DECODE_ERROR(session_error(R"({"intents": {"domains": ["a", "b", "c", "d", "e"]}})"),
                      api_error::invalid_field, "/intents/domains");
  EXPECT_EQ(error.detail, "more than 4 items");
}

TEST(JsonReader, ArrayReplacesPreviousContents) {
  session_request out;
  out.domains = {"old"};
  ASSERT_FALSE(decode_session(R"({"intents": {"domains": []}})", out));
  EXPECT_TRUE(out.domains.empty());
}

TEST(JsonReader, ArrayOfIntegers) {
  std::vector<std::int32_t> numbers;
  auto run = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) { o.required("n", numbers, 3, -10, 10); });
  };
  ASSERT_FALSE(run(R"({"n": [-10, 0, 10]})"));
  EXPECT_EQ(numbers, (std::vector<std::int32_t>{-10, 0, 10}));
  EXPECT_DECODE_ERROR(run(R"({"n": [1, 11]})"), api_error::invalid_field, "/n/1");
  EXPECT_DECODE_ERROR(run(R"({"n": [1, 2.0]})"), api_error::invalid_field, "/n/1");
  EXPECT_DECODE_ERROR(run(R"({"n": [1, 2, 3, 4]})"), api_error::invalid_field, "/n");
  EXPECT_DECODE_ERROR(run(R"({"n": [1,,2]})"), api_error::invalid_json, "/n/1");
  EXPECT_DECODE_ERROR(run(R"({"n": [1, 2,]})"), api_error::invalid_json, "/n/2");
  EXPECT_DECODE_ERROR(run(R"({"n": [1 2]})"), api_error::invalid_json, "/n/1");
}

TEST(JsonReader, ArrayOfObjects) {
  std::vector<usage> items;
  auto run = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) {
      o.required("items", items, 3, [](object_reader& i, usage& u) {
        i.required("quantity", u.quantity, 0);
        i.optional("unit", u.unit);
      });
    });
  };
  ASSERT_FALSE(run(R"({"items": [{"quantity": 1, "unit": "GB"}, {"quantity": 2}]})"));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].unit, "GB");
  EXPECT_EQ(items[1].quantity, 2);
  EXPECT_TRUE(items[1].unit.empty());
  EXPECT_DECODE_ERROR(run(R"({"items": [{"quantity": 1}, {"unit": "GB"}]})"),
                      api_error::invalid_field, "/items/1/quantity");
  EXPECT_DECODE_ERROR(run(R"({"items": [{"quantity": 1}, "x"]})"), api_error::invalid_field,
                      "/items/1");
  EXPECT_DECODE_ERROR(run(R"({"items": {}})"), api_error::invalid_field, "/items");
}

// --- Whole-body rules ---------------------------------------------------------------------------

TEST(JsonReader, EmptyBody) {
  EXPECT_DECODE_ERROR(session_error(""), api_error::invalid_json, "");
  EXPECT_DECODE_ERROR(session_error("  \r\n"), api_error::invalid_json, "");
  // A request without a body may hand over a null view.
  EXPECT_DECODE_ERROR(decode(std::string_view(), padding_readable, [](object_reader&) {}),
                      api_error::invalid_json, "");
}

TEST(JsonReader, BodyMustBeAnObject) {
  for (std::string_view body : {"[]", "[{}]", "5", R"("x")", "null", "true"}) {
    json_error error = session_error(body);
    EXPECT_DECODE_ERROR(session_error(body), api_error::invalid_json, "");
    EXPECT_EQ(error.detail, "the body must be a JSON object") << body;
  }
}

TEST(JsonReader, TrailingData) {
  for (std::string_view body : {"{} x", "{}{}", "{} {}", R"({"ttl_seconds": 5}})", "{}]", "{} 1",
                                R"({} "x")"})
    EXPECT_DECODE_ERROR(session_error(body), api_error::invalid_json, "");
  EXPECT_FALSE(session_error("  {}  \n\t"));
}

TEST(JsonReader, MalformedJson) {
  for (std::string_view body : {"{", R"({"label")", R"({"label": "x",})", R"({"label" "x"})",
                                R"({label: "x"})", R"({"label": 'x'})", "{,}", "}"})
    EXPECT_EQ(session_error(body).code, api_error::invalid_json) << body;
}

TEST(JsonReader, MalformedValueOfWrongTypeIsInvalidJson) {
  // The value is broken JSON as well as the wrong type: the more basic error wins.
  EXPECT_DECODE_ERROR(session_error(R"({"label": tru})"), api_error::invalid_json, "/label");
  EXPECT_DECODE_ERROR(session_error(R"({"label": [1, }})"), api_error::invalid_json, "/label/1");
  EXPECT_DECODE_ERROR(session_error(R"({"ttl_seconds": [1, 2}})"), api_error::invalid_json,
                      "/ttl_seconds/2");
}

TEST(JsonReader, InvalidStringsAreInvalidJson) {
  for (std::string_view body : {R"({"label": "\x"})", R"({"label": "\ud800"})",
                                R"({"label": "\udc00"})", R"({"label": "\ud800\u0041"})",
                                "{\"label\": \"a\tb\"}", "{\"label\": \"\xff\"}",
                                "{\"label\": \"\xed\xa0\x80\"}", R"({"label": "unterminated})"})
    EXPECT_EQ(session_error(body).code, api_error::invalid_json) << body;
}

TEST(JsonReader, TooLargeBody) {
  std::string body = R"({"label": ")" + std::string(limits::body_bytes_max, 'x') + R"("})";
  EXPECT_EQ(session_error(body).code, api_error::payload_too_large);
  // The parser is still usable, and released its buffers.
  EXPECT_FALSE(session_error(R"({"label": "small"})"));
}

// --- raw_json and depth -------------------------------------------------------------------------

TEST(JsonReader, RawJsonIsValidatedAndCompacted) {
  raw_json config;
  ASSERT_FALSE(decode(R"({"config": { "a" : [1, -2.5e3, "x\u0041\n"], "b": {"c": null,
                          "d": true} } })",
                      [&](object_reader& o) { o.required("config", config); }));
  EXPECT_EQ(config.text, R"({"a":[1,-2.5e3,"xA\n"],"b":{"c":null,"d":true}})");
  ASSERT_FALSE(
    decode(R"({"config": 42 })", [&](object_reader& o) { o.required("config", config); }));
  EXPECT_EQ(config.text, "42");
}

TEST(JsonReader, RawJsonRejectsDuplicatesAndMalformedParts) {
  raw_json config;
  auto run = [&](std::string_view body) {
    return decode(body, [&](object_reader& o) { o.required("config", config); });
  };
  EXPECT_DECODE_ERROR(run(R"({"config": {"x": {"b": 1, "a": 2, "b": 3}}})"),
                      api_error::invalid_field, "/config/x/b");
  EXPECT_FALSE(run(R"({"config": {"a": {"b": 1}, "b": {"b": 2}}})"))
    << "the same name in different objects is fine";
  EXPECT_DECODE_ERROR(run(R"({"config": [1, 01]})"), api_error::invalid_json, "/config/1");
  EXPECT_DECODE_ERROR(run(R"({"config": {"a": nul}})"), api_error::invalid_json, "/config/a");
}

std::string nested_arrays(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

TEST(JsonReader, DepthLimit) {
  raw_json config;
  auto run = [&](const std::string& body) {
    return decode(body, [&](object_reader& o) { o.required("config", config); });
  };
  // The body's object is level 1, so `config` may hold json_depth_max - 1 levels.
  EXPECT_FALSE(run(R"({"config": )" + nested_arrays(limits::json_depth_max - 1) + "}"));
  json_error error = run(R"({"config": )" + nested_arrays(limits::json_depth_max) + "}");
  EXPECT_EQ(error.code, api_error::invalid_json);
  EXPECT_EQ(error.detail, "nested deeper than 32 levels");
  EXPECT_EQ(error.pointer, "/config" + [] {
    std::string p;
    for (std::size_t i = 0; i + 1 < limits::json_depth_max; ++i) p += "/0";
    return p;
  }());
  EXPECT_EQ(run(R"({"config": )" + nested_arrays(100000) + "}").code, api_error::invalid_json)
    << "no recursion past the limit";
  // Deep nesting where a string is expected is reported as nesting, not as a wrong type.
  EXPECT_EQ(session_error(R"({"label": )" + nested_arrays(1000) + "}").code,
            api_error::invalid_json);
}

TEST(JsonReader, DeepNestingOfDeclaredObjects) {
  // Thirty-two nested declared objects: the last one is too deep.
  std::int64_t leaf = 0;
  std::function<void(object_reader&, int)> level = [&](object_reader& o, int remaining) {
    if (remaining == 0)
      o.required("leaf", leaf);
    else
      o.required("n", [&](object_reader& inner) { level(inner, remaining - 1); });
  };
  auto body = [](int levels) {
    std::string b;
    for (int i = 0; i < levels; ++i) b += R"({"n":)";
    b += R"({"leaf":1})";
    b += std::string(static_cast<std::size_t>(levels), '}');
    return b;
  };
  int fits = static_cast<int>(limits::json_depth_max) - 1;
  EXPECT_FALSE(decode(body(fits), [&](object_reader& o) { level(o, fits); }));
  EXPECT_EQ(leaf, 1);
  EXPECT_EQ(decode(body(fits + 1), [&](object_reader& o) { level(o, fits + 1); }).code,
            api_error::invalid_json);
}

// --- Behaviour of the machinery -------------------------------------------------------------------

TEST(JsonReader, StopsAtTheFirstError) {
  json_error error = session_error(R"({"label": 5, "bogus": 1, "ttl_seconds": 0})");
  EXPECT_DECODE_ERROR(session_error(R"({"label": 5, "bogus": 1, "ttl_seconds": 0})"),
                      api_error::invalid_field, "/label");
}

TEST(JsonReader, WorksOnEveryThread) {
  json_error errors[2];
  session_request outs[2];
  std::thread a([&] { errors[0] = decode_session(R"({"ttl_seconds": 10})", outs[0]); });
  std::thread b([&] { errors[1] = decode_session(R"({"ttl_seconds": 20})", outs[1]); });
  a.join();
  b.join();
  EXPECT_FALSE(errors[0]);
  EXPECT_FALSE(errors[1]);
  EXPECT_EQ(outs[0].ttl_seconds, 10);
  EXPECT_EQ(outs[1].ttl_seconds, 20);
}

TEST(JsonReaderDeathTest, DecodeInsideADeclarationAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
    {
      session_request out;
      static_cast<void>(decode(R"({"a": 1})", [&](object_reader&) {
        static_cast<void>(decode_session("{}", out));
      }));
    },
    "not reentrant");
}

} // namespace
} // namespace steward::core
