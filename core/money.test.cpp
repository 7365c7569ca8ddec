#include "core/money.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace steward::core {
namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

TEST(Money, CurrencyTableRoundTripsEveryCode) {
  for (std::size_t i = 0; i < currency_count; ++i) {
    auto c = static_cast<currency>(i);
    EXPECT_EQ(info(c).code.size(), 3u);
    EXPECT_EQ(parse_currency(to_string(c)), c) << to_string(c);
  }
  EXPECT_EQ(to_string(currency::usd), "usd");
  EXPECT_EQ(info(currency::usd).minor_unit_digits, 2);
  EXPECT_EQ(info(currency::jpy).minor_unit_digits, 0);
  EXPECT_EQ(info(currency::krw).minor_unit_digits, 0);
  for (auto code : {"eur", "gbp", "chf", "cad", "aud"}) EXPECT_TRUE(parse_currency(code)) << code;
}

TEST(Money, UnknownAndUppercaseCurrenciesAreRejected) {
  EXPECT_FALSE(parse_currency("USD"));
  EXPECT_FALSE(parse_currency("Usd"));
  EXPECT_FALSE(parse_currency("xxx"));
  EXPECT_FALSE(parse_currency(""));
  EXPECT_FALSE(parse_currency("usdd"));
  EXPECT_FALSE(parse_currency(std::string_view("us\0", 3)));
}

TEST(Money, AddAndSubtractWithinOneCurrency) {
  auto sum = add({1299, currency::usd}, {1, currency::usd});
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum.value, (money{1300, currency::usd}));
  auto difference = subtract({5, currency::eur}, {7, currency::eur});
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference.value, (money{-2, currency::eur}));
}

TEST(Money, MixedCurrenciesAreAnErrorNotASum) {
  auto sum = add({1, currency::usd}, {1, currency::eur});
  EXPECT_FALSE(sum);
  EXPECT_EQ(sum.error, money_error::currency_mismatch);
  EXPECT_EQ(subtract({1, currency::usd}, {1, currency::jpy}).error, money_error::currency_mismatch);
  EXPECT_FALSE(compare({1, currency::usd}, {1, currency::eur}).has_value());
}

TEST(Money, OverflowAtTheInt64Edges) {
  EXPECT_EQ(checked_add(int64_max - 1, 1), int64_max);
  EXPECT_FALSE(checked_add(int64_max, 1));
  EXPECT_EQ(checked_add(int64_min + 1, -1), int64_min);
  EXPECT_FALSE(checked_add(int64_min, -1));
  EXPECT_EQ(checked_subtract(int64_min + 1, 1), int64_min);
  EXPECT_FALSE(checked_subtract(int64_min, 1));
  EXPECT_FALSE(checked_subtract(0, int64_min)); // -INT64_MIN does not exist
  EXPECT_EQ(checked_subtract(-1, int64_min), int64_max);
  EXPECT_EQ(add({int64_max, currency::usd}, {1, currency::usd}).error, money_error::overflow);
  EXPECT_EQ(subtract({int64_min, currency::usd}, {1, currency::usd}).error, money_error::overflow);
  EXPECT_TRUE(add({int64_max, currency::usd}, {0, currency::usd}));
}

TEST(Money, CompareWithinOneCurrency) {
  EXPECT_EQ(compare({1, currency::usd}, {2, currency::usd}), std::strong_ordering::less);
  EXPECT_EQ(compare({2, currency::usd}, {2, currency::usd}), std::strong_ordering::equal);
  EXPECT_EQ(compare({3, currency::usd}, {2, currency::usd}), std::strong_ordering::greater);
}

TEST(Money, WritesTheWireShape) {
  std::string out;
  json_writer w(out);
  write_money(w, {1299, currency::usd});
  EXPECT_EQ(out, R"({"amount":1299,"currency":"usd"})");
  out.clear();
  json_writer w2(out);
  w2.begin_object().key("max_amount");
  write_money(w2, {-5, currency::jpy});
  w2.end_object();
  EXPECT_EQ(out, R"({"max_amount":{"amount":-5,"currency":"jpy"}})");
}

/// Decodes `{"price": <text>}` with `sign`, then resolves it.
json_error read_price(std::string_view body, amount_sign sign, money& out) {
  money_field field;
  json_error error = decode(body, [&](object_reader& o) {
    o.required("price", [&](object_reader& m) { declare_money(m, field, sign); });
  });
  if (error) return error;
  return resolve_money(field, "/price", out);
}

TEST(Money, ReadsThroughTheObjectReader) {
  money m;
  ASSERT_FALSE(read_price(R"({"price":{"currency":"eur","amount":250}})", amount_sign::positive, m));
  EXPECT_EQ(m, (money{250, currency::eur}));
}

TEST(Money, ReaderEnforcesTheSignOfTheField) {
  money m;
  json_error error = read_price(R"({"price":{"amount":-1,"currency":"usd"}})",
                                amount_sign::non_negative, m);
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code, api_error::invalid_field);
  EXPECT_EQ(error.pointer, "/price/amount");
  EXPECT_TRUE(read_price(R"({"price":{"amount":0,"currency":"usd"}})", amount_sign::positive, m));
  EXPECT_FALSE(read_price(R"({"price":{"amount":0,"currency":"usd"}})", amount_sign::non_negative, m));
  EXPECT_FALSE(read_price(R"({"price":{"amount":-7,"currency":"usd"}})", amount_sign::any, m));
  EXPECT_EQ(m.amount, -7);
  // Past the ceiling, even for a field that takes any sign.
  EXPECT_TRUE(read_price(R"({"price":{"amount":1000000000000001,"currency":"usd"}})",
                         amount_sign::any, m));
}

TEST(Money, ReaderRejectsUnknownCurrencyMissingAndExtraMembers) {
  money m;
  json_error error =
    read_price(R"({"price":{"amount":1,"currency":"USD"}})", amount_sign::positive, m);
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code, api_error::unsupported_currency);
  EXPECT_EQ(error.pointer, "/price/currency");
  EXPECT_EQ(read_price(R"({"price":{"amount":1}})", amount_sign::positive, m).code,
            api_error::invalid_field);
  EXPECT_EQ(read_price(R"({"price":{"amount":1,"currency":"usd","fx":1}})", amount_sign::positive, m)
              .code,
            api_error::unknown_field);
  EXPECT_EQ(read_price(R"({"price":{"amount":1.5,"currency":"usd"}})", amount_sign::positive, m)
              .code,
            api_error::invalid_field);
}

} // namespace
} // namespace steward::core
