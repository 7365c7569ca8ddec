#include "core/json_writer.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <string>

namespace steward::core {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// `text` between double quotes (built by appending: GCC 12 warns falsely on `"x" + std::string`).
std::string in_quotes(std::string_view text) {
  std::string out = "\"";
  out.append(text).append("\"");
  return out;
}

// Parses `json` (one string literal) with simdjson and returns the decoded text.
std::string decode_string(const std::string& json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document document;
  EXPECT_EQ(parser.iterate(padded).get(document), simdjson::SUCCESS) << json;
  std::string_view text;
  auto error = document.get_string().get(text);
  EXPECT_EQ(error, simdjson::SUCCESS) << json << ": " << simdjson::error_message(error);
  return std::string(text);
}

// --- Escaping ------------------------------------------------------------------------------------

TEST(JsonWriterEscape, PlainTextIsCopied) {
  EXPECT_EQ(escaped(""), R"("")");
  EXPECT_EQ(escaped("hello world"), R"("hello world")");
  EXPECT_EQ(escaped("a/b"), R"("a/b")") << "the solidus needs no escape";
  EXPECT_EQ(escaped("\x7f"), "\"\x7f\"") << "DEL is allowed raw";
}

TEST(JsonWriterEscape, QuoteAndBackslash) {
  EXPECT_EQ(escaped("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(escaped("C:\\dir"), R"("C:\\dir")");
}

TEST(JsonWriterEscape, ShortControlEscapes) {
  EXPECT_EQ(escaped("\b\f\n\r\t"), R"("\b\f\n\r\t")");
}

TEST(JsonWriterEscape, EveryOtherControlCharacterAsUnicodeEscape) {
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') continue;
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04x", c);
    EXPECT_EQ(escaped(std::string(1, static_cast<char>(c))), std::string("\"\\u") + hex + "\"")
      << "byte " << c;
  }
  EXPECT_EQ(escaped(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonWriterEscape, LineAndParagraphSeparatorsAreEscaped) {
  EXPECT_EQ(escaped("a\u2028b\u2029c"), R"("a\u2028b\u2029c")");
  // Their neighbours are ordinary characters.
  EXPECT_EQ(escaped("\u2027\u202a"), "\"\u2027\u202a\"");
}

TEST(JsonWriterEscape, ValidMultibyteSequencesAreCopied) {
  for (std::string_view text : {
         "\u0080", "\u07ff",            // two bytes, both ends
         "\u0800", "\xed\x9f\xbf",     // three bytes; U+D7FF is just below the surrogates
         "\xee\x80\x80", "\xef\xbf\xbf", // U+E000, U+FFFF
         "\xf0\x90\x80\x80",             // U+10000
         "\xf4\x8f\xbf\xbf",             // U+10FFFF
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
       })
    EXPECT_EQ(escaped(text), in_quotes(text));
}

struct invalid_case {
  const char* name;
  std::string input;
  std::string expected; // inside the quotes
};

TEST(JsonWriterEscape, InvalidUtf8BecomesReplacementCharacter) {
  const invalid_case cases[] = {
    {"lone continuation byte", "a\x80z", R"(a\ufffdz)"},
    {"last continuation byte", "\xbf", R"(\ufffd)"},
    {"two continuation bytes", "\x80\xbf", R"(\ufffd\ufffd)"},
    {"overlong 2-byte C0", "\xc0\x80", R"(\ufffd\ufffd)"},
    {"overlong 2-byte C1", "\xc1\xbf", R"(\ufffd\ufffd)"},
    {"overlong 3-byte", "\xe0\x80\x80", R"(\ufffd\ufffd\ufffd)"},
    {"overlong 3-byte top", "\xe0\x9f\xbf", R"(\ufffd\ufffd\ufffd)"},
    {"overlong 4-byte", "\xf0\x80\x80\x80", R"(\ufffd\ufffd\ufffd\ufffd)"},
    {"overlong 4-byte top", "\xf0\x8f\xbf\xbf", R"(\ufffd\ufffd\ufffd\ufffd)"},
    {"high surrogate", "\xed\xa0\x80", R"(\ufffd\ufffd\ufffd)"},
    {"low surrogate", "\xed\xbf\xbf", R"(\ufffd\ufffd\ufffd)"},
    {"above U+10FFFF", "\xf4\x90\x80\x80", R"(\ufffd\ufffd\ufffd\ufffd)"},
    {"lead byte F5", "\xf5\x80\x80\x80", R"(\ufffd\ufffd\ufffd\ufffd)"},
    {"byte FE", "\xfe", R"(\ufffd)"},
    {"byte FF", "x\xffy", R"(x\ufffdy)"},
    {"truncated 2-byte at end", "ab\xc3", R"(ab\ufffd)"},
    {"truncated 3-byte at end", "\xe2\x82", R"(\ufffd)"},
    {"truncated 4-byte at end", "\xf0\x9f\x98", R"(\ufffd)"},
    {"truncated 3-byte then ASCII", "\xe2\x82" "A", R"(\ufffdA)"},
    {"truncated then valid", "\xe2\x82\xc3\xa9", "\\ufffd\xc3\xa9"},
    // Unicode 15, table 3-8: one U+FFFD per maximal subpart.
    {"table 3-8", "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
     R"(a\ufffd\ufffd\ufffdb\ufffdc\ufffd\ufffdd)"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(escaped(c.input), in_quotes(c.expected)) << c.name;
}

// The word-at-a-time scan must find a special byte at every offset of a word, including after
// bytes that cause false marks further up (a borrow from a control byte).
TEST(JsonWriterEscape, SpecialByteAtEveryOffset) {
  const std::pair<std::string, std::string> specials[] = {
    {std::string(1, '\0'), R"(\u0000)"}, {"\x1f", R"(\u001f)"}, {"\"", R"(\")"},
    {"\\", R"(\\)"},                      {"\n", R"(\n)"},       {"\xc3\xa9", "\xc3\xa9"},
    {"\x80", R"(\ufffd)"},                {"\xe2\x80\xa8", R"(\u2028)"},
  };
  for (std::size_t length : {1u, 7u, 8u, 9u, 16u, 17u, 31u}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (const auto& [raw, escape] : specials) {
        std::string input(length, 'a');
        input.replace(at, 1, raw);
        std::string expected =
          in_quotes(std::string(at, 'a').append(escape).append(length - at - 1, 'a'));
        EXPECT_EQ(escaped(input), expected) << "length " << length << " at " << at;
      }
      // Two specials in one word: the second must not be skipped.
      std::string input(length, 'a');
      input[at] = '\x01';
      if (at + 1 < length) input[length - 1] = '"';
      std::string out = escaped(input);
      EXPECT_NE(out.find("\\u0001"), std::string::npos);
      EXPECT_EQ(decode_string(out), input);
    }
  }
}

TEST(JsonWriterEscape, AppendsToExistingContent) {
  std::string out = "prefix:";
  append_json_string(out, "x");
  EXPECT_EQ(out, R"(prefix:"x")");
}

// Random strings through the writer and back through simdjson. Valid UTF-8 must come back
// unchanged; arbitrary bytes must always give a string simdjson accepts (valid JSON, valid UTF-8).
TEST(JsonWriterEscape, RandomStringsRoundTripThroughSimdjson) {
  std::uint64_t seed = std::random_device{}();
  if (const char* forced = std::getenv("STEWARD_TEST_SEED")) seed = std::strtoull(forced, nullptr, 10);
  std::cout << "JsonWriterEscape.RandomStringsRoundTripThroughSimdjson seed=" << seed
            << " (replay with STEWARD_TEST_SEED)\n";
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);

  auto append_code_point = [](std::string& s, char32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xc0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xe0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    }
  };
  auto random_code_point = [&]() -> char32_t {
    switch (random() % 6) {
    case 0: return static_cast<char32_t>(random() % 0x20);          // controls
    case 1: return static_cast<char32_t>(0x20 + random() % 0x60);   // ASCII
    case 2: return static_cast<char32_t>(0x80 + random() % 0x780);  // two bytes
    case 3: {                                                        // three bytes, no surrogates
      char32_t cp = static_cast<char32_t>(0x800 + random() % 0xf800);
      return cp >= 0xd800 && cp < 0xe000 ? 0x2028 : cp;
    }
    case 4: return static_cast<char32_t>(0x10000 + random() % 0x100000); // four bytes
    default: {                                                       // the characters with escapes
      constexpr char32_t special[] = {U'"', U'\\', 0x2028, 0x2029, 0x7f};
      return special[random() % std::size(special)];
    }
    }
  };

  for (int round = 0; round < 2000; ++round) {
    std::string valid;
    std::size_t length = random() % 40;
    for (std::size_t i = 0; i < length; ++i) append_code_point(valid, random_code_point());
    std::string encoded = escaped(valid);
    ASSERT_EQ(decode_string(encoded), valid) << "round " << round;
    ASSERT_EQ(encoded.find("\xe2\x80\xa8"), std::string::npos);
    ASSERT_EQ(encoded.find("\xe2\x80\xa9"), std::string::npos);

    std::string bytes;
    length = random() % 40;
    for (std::size_t i = 0; i < length; ++i) bytes += static_cast<char>(random() % 256);
    std::string decoded = decode_string(escaped(bytes));
    ASSERT_TRUE(simdjson::validate_utf8(decoded.data(), decoded.size())) << "round " << round;
    if (simdjson::validate_utf8(bytes.data(), bytes.size())) {
      ASSERT_EQ(decoded, bytes);
    }
  }
}

// --- Structure ----------------------------------------------------------------------------------

TEST(JsonWriter, ObjectWithEveryKindOfValue) {
  std::string out;
  json_writer w(out);
  w.begin_object()
    .member("id", "chg_1")
    .member("amount", 1299)
    .member("refunded", false)
    .member("paid", true)
    .member("description", nullptr)
    .key("metadata")
    .raw(R"({"a":1})")
    .key("list")
    .begin_array()
    .value(1)
    .value("two")
    .begin_object()
    .end_object()
    .begin_array()
    .end_array()
    .null()
    .end_array()
    .end_object();
  EXPECT_EQ(out, R"({"id":"chg_1","amount":1299,"refunded":false,"paid":true,"description":null,)"
                 R"("metadata":{"a":1},"list":[1,"two",{},[],null]})");
  EXPECT_TRUE(w.complete());
}

TEST(JsonWriter, EmptyContainersAndTopLevelScalars) {
  std::string a, b, c;
  json_writer(a).begin_object().end_object();
  json_writer(b).begin_array().end_array();
  json_writer(c).string("x");
  EXPECT_EQ(a, "{}");
  EXPECT_EQ(b, "[]");
  EXPECT_EQ(c, R"("x")");
}

TEST(JsonWriter, IntegerLimits) {
  std::string out;
  json_writer w(out);
  w.begin_array()
    .int64(std::numeric_limits<std::int64_t>::min())
    .int64(std::numeric_limits<std::int64_t>::max())
    .uint64(std::numeric_limits<std::uint64_t>::max())
    .int64(0)
    .int64(-1)
    .value(std::uint8_t{255})
    .value(short{-7})
    .end_array();
  EXPECT_EQ(out, "[-9223372036854775808,9223372036854775807,18446744073709551615,0,-1,255,-7]");
}

TEST(JsonWriter, StringLiteralIsWrittenAsStringNotBool) {
  std::string out;
  json_writer(out).value("text");
  EXPECT_EQ(out, R"("text")");
}

TEST(JsonWriter, KeysAreEscaped) {
  std::string out;
  json_writer(out).begin_object().member("a\"b\n", 1).end_object();
  EXPECT_EQ(out, R"({"a\"b\n":1})");
}

TEST(JsonWriter, AppendsAfterExistingBytesAndReusesBuffer) {
  std::string out = "HTTP-ish prefix\r\n";
  json_writer(out).begin_object().member("ok", true).end_object();
  EXPECT_EQ(out, "HTTP-ish prefix\r\n{\"ok\":true}");
  out.clear();
  json_writer(out).begin_array().value(1).end_array();
  EXPECT_EQ(out, "[1]");
}

TEST(JsonWriter, NestsToTheDepthLimit) {
  std::string out;
  json_writer w(out);
  for (std::size_t i = 0; i < limits::json_depth_max; ++i) {
    if (i % 2 == 0)
      w.begin_array();
    else
      w.begin_object().key("k");
  }
  EXPECT_EQ(w.depth(), limits::json_depth_max);
  w.int64(1);
  for (std::size_t i = limits::json_depth_max; i-- > 0;) {
    if (i % 2 == 0)
      w.end_array();
    else
      w.end_object();
  }
  EXPECT_TRUE(w.complete());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(out).get(root), simdjson::SUCCESS) << out;
}

TEST(JsonWriter, CompleteOnlyWhenBalanced) {
  std::string out;
  json_writer w(out);
  EXPECT_FALSE(w.complete());
  w.begin_object();
  EXPECT_FALSE(w.complete());
  w.end_object();
  EXPECT_TRUE(w.complete());
}

using JsonWriterDeathTest = ::testing::Test;

TEST(JsonWriterDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).begin_object().int64(1);
    },
    "needs key");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).begin_array().key("k");
    },
    "outside an object");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).begin_array().end_object();
    },
    "mismatch");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).end_array();
    },
    "without begin");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).int64(1).int64(2);
    },
    "one value at the top level");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer(out).begin_object().key("a").end_object();
    },
    "without a value");
  EXPECT_DEATH(
    {
      std::string out;
      json_writer w(out);
      for (std::size_t i = 0; i <= limits::json_depth_max; ++i) w.begin_array();
    },
    "nested too deep");
}

} // namespace
} // namespace steward::core
