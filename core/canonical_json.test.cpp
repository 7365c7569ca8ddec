#include "core/canonical_json.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::core {
namespace {

std::string canonical(std::string_view json) {
  auto result = canonicalize_json(json);
  EXPECT_TRUE(result) << json << ": " << describe(result.error);
  return result.text;
}

canonical_json_error error_of(std::string_view json) { return canonicalize_json(json).error; }

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(CanonicalJson, SortsMembersAndDropsWhitespace) {
  EXPECT_EQ(canonical(" { \"b\" : 1 ,\n\t\"a\" : [ 1 , 2 ] , \"c\" : { \"z\" : null , \"y\" : true } } "),
            R"({"a":[1,2],"b":1,"c":{"y":true,"z":null}})");
}

TEST(CanonicalJson, KeyOrderIsUnsignedByteOrderOfUtf8) {
  // "é" is C3 A9 and sorts after every ASCII byte; "B" (0x42) before "a" (0x61); a prefix first.
  EXPECT_EQ(canonical(R"({"é":1,"a":2,"B":3,"ab":4,"":5})"),
            R"({"":5,"B":3,"a":2,"ab":4,"é":1})");
  // Names are compared unescaped: "\u0062" is "b", so it sorts after "a".
  EXPECT_EQ(canonical(R"({"\u0062":1,"a":2})"), R"({"a":2,"b":1})");
}

TEST(CanonicalJson, SameMeaningSameBytes) {
  EXPECT_EQ(canonical(R"({"x":"\u0041\/","y":[true,false]})"),
            canonical("{\"y\": [true, false], \"x\": \"A/\"}"));
}

TEST(CanonicalJson, StringsReescapedLikeTheWriter) {
  EXPECT_EQ(canonical(R"("\u0041\t\u001f\"\\\/\u2028é\u00e9")"),
            "\"A\\t\\u001f\\\"\\\\/\\u2028éé\"");
  EXPECT_EQ(canonical(R"("\ud83d\ude00")"), "\"\xF0\x9F\x98\x80\"");
}

TEST(CanonicalJson, IntegersCanonicalOtherNumbersKeptAsWritten) {
  EXPECT_EQ(canonical("[0,-0,12,-34,18446744073709551616]"), "[0,0,12,-34,18446744073709551616]");
  EXPECT_EQ(canonical("-0"), "0");
  // Not run through a double: these stay distinct (see the header for why).
  EXPECT_EQ(canonical("[1.0,1.00,1e3,1E+3,-0.0,1e999,0.1]"), "[1.0,1.00,1e3,1E+3,-0.0,1e999,0.1]");
}

TEST(CanonicalJson, ScalarsAtTheTop) {
  EXPECT_EQ(canonical(" true "), "true");
  EXPECT_EQ(canonical("false"), "false");
  EXPECT_EQ(canonical("null\n"), "null");
  EXPECT_EQ(canonical(" 42 "), "42");
  EXPECT_EQ(canonical("\"a b\" "), "\"a b\"");
  EXPECT_EQ(canonical("{}"), "{}");
  EXPECT_EQ(canonical("[ ]"), "[]");
}

TEST(CanonicalJson, CanonicalFormIsAFixedPoint) {
  for (std::string_view json :
       {R"({"b":{"d":[{"z":1,"y":2}],"c":"\n"},"a":-0,"é":"\u2029"})", R"([[],{},"",0.5e-3])",
        R"("\u0000")", "123"}) {
    std::string once = canonical(json);
    EXPECT_EQ(canonical(once), once) << json;
  }
}

TEST(CanonicalJson, RejectsMalformedInput) {
  for (std::string_view json :
       {"", "   ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]", "[-]",
        "[+1]", "[.5]", "[1e]", "[tru]", "[truex]", "[nul]", "[NaN]", "'a'", "\"abc",
        "\"\\x\"", "\"\\ud800\"", "\"a\tb\"", "\"\xC3\"", "{\"\xFF\":1}", "1 2", "true false",
        "\"a\" \"b\"", "{} {}", "[] x", "{\"a\":1}}", "01", "1x", "nulll"}) {
    EXPECT_EQ(error_of(json), canonical_json_error::invalid_json) << "input: " << json;
  }
}

TEST(CanonicalJson, RejectsDuplicateKeysAtAnyLevel) {
  EXPECT_EQ(error_of(R"({"a":1,"a":1})"), canonical_json_error::duplicate_key);
  EXPECT_EQ(error_of(R"({"x":[{"b":1,"c":2,"b":3}]})"), canonical_json_error::duplicate_key);
  // Escaped and raw spellings of one name are the same name.
  EXPECT_EQ(error_of(R"({"a":1,"\u0061":2})"), canonical_json_error::duplicate_key);
  EXPECT_EQ(to_api_error(canonical_json_error::duplicate_key), api_error::invalid_field);
}

TEST(CanonicalJson, DepthLimitIsInclusive) {
  EXPECT_EQ(canonical(nested_arrays(limits::json_depth_max)), nested_arrays(limits::json_depth_max));
  EXPECT_EQ(error_of(nested_arrays(limits::json_depth_max + 1)), canonical_json_error::too_deep);
  std::string objects;
  for (std::size_t i = 0; i <= limits::json_depth_max; ++i) objects += "{\"a\":";
  objects += "1" + std::string(limits::json_depth_max + 1, '}');
  EXPECT_EQ(error_of(objects), canonical_json_error::too_deep);
  EXPECT_EQ(to_api_error(canonical_json_error::too_deep), api_error::invalid_json);
}

TEST(CanonicalJson, StringAndSizeLimits) {
  std::string at_limit = "[\"" + std::string(limits::json_string_bytes_max, 'x') + "\"]";
  EXPECT_TRUE(canonicalize_json(at_limit));
  std::string over = "[\"" + std::string(limits::json_string_bytes_max + 1, 'x') + "\"]";
  EXPECT_EQ(error_of(over), canonical_json_error::string_too_long);
  std::string long_key = "{\"" + std::string(limits::json_string_bytes_max + 1, 'k') + "\":1}";
  EXPECT_EQ(error_of(long_key), canonical_json_error::string_too_long);
  std::string huge(limits::body_bytes_max + 1, ' ');
  EXPECT_EQ(error_of(huge), canonical_json_error::too_large);
  EXPECT_EQ(to_api_error(canonical_json_error::too_large), api_error::payload_too_large);
}

TEST(CanonicalJson, AppendLeavesOutputUntouchedOnError) {
  std::string out = "prefix";
  EXPECT_EQ(append_canonical_json(out, R"({"a":{"b":[1,2,{"c":3,"c":4}]}})"),
            canonical_json_error::duplicate_key);
  EXPECT_EQ(out, "prefix");
  EXPECT_EQ(append_canonical_json(out, R"({"b":1,"a":2})"), canonical_json_error::none);
  EXPECT_EQ(out, R"(prefix{"a":2,"b":1})");
  // The thread's parser is reusable after an error and after a large input.
  EXPECT_EQ(canonical("[" + std::string(200000, ' ') + "1]"), "[1]");
  EXPECT_EQ(canonical(R"({"z":0,"y":0})"), R"({"y":0,"z":0})");
}

} // namespace
} // namespace steward::core
