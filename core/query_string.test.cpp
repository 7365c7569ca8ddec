#include "core/query_string.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace steward::core {
namespace {

std::vector<std::string> split(std::string_view query) {
  std::vector<std::string> out;
  while (auto pair = next_query_pair(query))
    out.push_back(std::string(pair->name) + (pair->has_value ? "=" : "") + std::string(pair->value));
  return out;
}

TEST(QueryString, SplitsPairsAsWritten) {
  EXPECT_EQ(split("a=1&b=%20x&c"), (std::vector<std::string>{"a=1", "b=%20x", "c"}));
  EXPECT_EQ(split("a=&=b&&"), (std::vector<std::string>{"a=", "=b", ""}))
    << "a trailing & ends the query; an empty pair in the middle is kept";
  EXPECT_EQ(split("x=1=2"), (std::vector<std::string>{"x=1=2"}));
  EXPECT_TRUE(split("").empty());
}

TEST(QueryString, ABareNameHasNoValue) {
  std::string_view query = "flag&k=";
  auto first = next_query_pair(query);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->name, "flag");
  EXPECT_FALSE(first->has_value);
  auto second = next_query_pair(query);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->has_value);
  EXPECT_EQ(second->value, "");
  EXPECT_FALSE(next_query_pair(query));
}

} // namespace
} // namespace steward::core
