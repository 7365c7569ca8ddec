#include "core/card_number.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::core {
namespace {

// Luhn-valid numbers of the edge lengths, completed with an independent Luhn implementation
// (Python): 11, 12, 19 and 20 digits.
constexpr std::string_view luhn_11 = "41111111112";
constexpr std::string_view luhn_12 = "411111111117";
constexpr std::string_view luhn_19 = "4111111111111111110";
constexpr std::string_view luhn_20 = "41111111111111111115";

card_number_match match(std::size_t position, std::size_t length) {
  return {true, position, length};
}

void expect_match(std::string_view text, card_number_match expected) {
  auto found = find_card_number(text);
  EXPECT_EQ(found.found, expected.found) << text;
  EXPECT_EQ(found.position, expected.position) << text;
  EXPECT_EQ(found.length, expected.length) << text;
  EXPECT_EQ(contains_card_number(text), expected.found) << text;
}

TEST(CardNumber, Luhn) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_TRUE(luhn_valid("5555-5555-5555-4444"));
  EXPECT_TRUE(luhn_valid("378282246310005"));
  EXPECT_TRUE(luhn_valid("0"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("378282246310006"));
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("--"));
  // The doubling of digits above 4 must subtract 9: 59 is valid (5*2-9 + 9 = 10), 58 is not.
  EXPECT_TRUE(luhn_valid("59"));
  EXPECT_FALSE(luhn_valid("58"));
}

TEST(CardNumber, WellKnownTestPans) {
  expect_match("4111111111111111", match(0, 16));
  expect_match("4111 1111 1111 1111", match(0, 19));
  expect_match("5555-5555-5555-4444", match(0, 19));
  expect_match("378282246310005", match(0, 15));
  expect_match("3782 822463 10005", match(0, 17));
  expect_match("4111 1111-1111 1111", match(0, 19)); // mixed separators
}

TEST(CardNumber, LengthEdges) {
  expect_match(luhn_11, {});
  expect_match(luhn_12, match(0, 12));
  expect_match(luhn_19, match(0, 19));
  expect_match(luhn_20, {});
  expect_match("4111111111111112", {});          // bad Luhn
  expect_match("4111 1111 1111 1112", {});       // bad Luhn, grouped
  expect_match("12345678901234567890123", {});   // long identifier
}

TEST(CardNumber, SeparatorsMustBeSingleSpacesOrDashes) {
  expect_match("4111  1111 1111 1111", {});  // two spaces break the run
  expect_match("4111--1111-1111-1111", {});
  expect_match("4111.1111.1111.1111", {});  // not a separator
  expect_match("4111 1111 1111 1111 ", match(0, 19));
  expect_match("-4111-1111-1111-1111-", match(1, 19));
}

TEST(CardNumber, EmbeddedInTextAndJson) {
  expect_match("my card is 4111 1111 1111 1111, exp 12/27", match(11, 19));
  expect_match("ref:abc4111111111111111xyz", match(7, 16));
  expect_match(R"({"psp":"stripe","reference":"5555555555554444","last4":"4444"})", match(29, 16));
  expect_match(R"({"number":378282246310005})", match(10, 15));
  // A PAN next to other groups in the same run is still found, as whole groups.
  expect_match("4111 1111 1111 1111 2024", match(0, 19));
  expect_match("1 4111 1111 1111 1111", match(2, 19));
  expect_match("12345678901234567890 4111111111111111", match(21, 16));
  // The first match in the text wins.
  expect_match("x 378282246310005 y 4111111111111111", match(2, 15));
}

TEST(CardNumber, OrdinaryTokenisedPaymentMethodPasses) {
  expect_match(R"({"psp":"stripe","reference":"pm_1NqXyZ2eZvKYlo2C0a1b2c3d","last4":"4242","brand":"visa"})",
               {});
  expect_match("cus_9s6XKzkNRiz8i3 tel 555-123-4567 order 2024-01-15", {});
  expect_match("", {});
}

} // namespace
} // namespace steward::core
