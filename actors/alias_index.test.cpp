#include "actors/alias_index.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace steward::actors {
namespace {

std::string user_of(int i) {
  std::string id = "usr_" + std::to_string(i);
  id.insert(4, 26 - id.size(), '0'); // a user id's length, whatever `i`
  return id;
}

TEST(AliasIndex, FindsWhatWasStoredAndNothingElse) {
  alias_index index;
  EXPECT_FALSE(index.find("ptk:ptk_1"));
  EXPECT_EQ(index.size(), 0u);
  index.insert("ptk:ptk_1", user_of(1));
  EXPECT_EQ(index.find("ptk:ptk_1"), user_of(1));
  EXPECT_FALSE(index.find("ptk:ptk_2"));
  EXPECT_FALSE(index.find("ptk:ptk_"));
  EXPECT_FALSE(index.find("ptk:ptk_10"));
  EXPECT_FALSE(index.find(""));
  EXPECT_EQ(index.size(), 1u);
}

TEST(AliasIndex, InsertReplacesAndClaimKeepsTheFirstValue) {
  alias_index index;
  EXPECT_EQ(index.claim("ref:acme-42", user_of(1)), user_of(1));
  EXPECT_EQ(index.claim("ref:acme-42", user_of(2)), user_of(1)) << "the first claim wins";
  index.insert("ref:acme-42", user_of(3)); // same length: replaced in place
  EXPECT_EQ(index.find("ref:acme-42"), user_of(3));
  const std::string pair = user_of(4) + " ses_123";
  index.insert("ref:acme-42", pair); // longer: a new entry for the key
  EXPECT_EQ(index.find("ref:acme-42"), pair);
  index.insert("ref:acme-42", "u"); // shorter
  EXPECT_EQ(index.find("ref:acme-42"), "u");
  index.insert("ref:acme-42", "");
  EXPECT_EQ(index.find("ref:acme-42"), "") << "an empty value is a value, not an absence";
  EXPECT_EQ(index.size(), 1u);
}

TEST(AliasIndex, KeepsEveryAliasAcrossItsGrowth) {
  alias_index index;
  constexpr int users = 50'000;
  for (int i = 0; i < users; ++i) {
    index.insert("usr:" + user_of(i), user_of(i));
    index.insert("ptk:ptk_" + std::to_string(i), user_of(i));
  }
  EXPECT_EQ(index.size(), 2u * users);
  for (int i = 0; i < users; ++i) {
    ASSERT_EQ(index.find("usr:" + user_of(i)), user_of(i)) << i;
    ASSERT_EQ(index.find("ptk:ptk_" + std::to_string(i)), user_of(i)) << i;
  }
  EXPECT_FALSE(index.find("ptk:ptk_" + std::to_string(users)));
  EXPECT_FALSE(index.find("ses:ptk_1")) << "the kind is part of the key";
}

TEST(AliasIndex, HoldsTheLongestKeysAndValues) {
  alias_index index;
  const std::string key = "ref:" + std::string(508, 'k');
  const std::string other = "ref:" + std::string(507, 'k') + "j";
  const std::string value(4000, 'v');
  index.insert(key, value);
  index.insert(other, "x");
  EXPECT_EQ(index.find(key), value);
  EXPECT_EQ(index.find(other), "x");
}

TEST(AliasIndex, ReadersSeeEveryWriteOfOtherThreads) {
  alias_index index;
  constexpr int writers = 4;
  constexpr int per_writer = 5'000;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&index, w] {
      for (int i = 0; i < per_writer; ++i)
        index.insert("ses:" + std::to_string(w) + "-" + std::to_string(i), user_of(w));
    });
  // A reader during the writes sees each key absent or whole, never a torn value.
  threads.emplace_back([&index] {
    for (int round = 0; round < 5; ++round)
      for (int i = 0; i < per_writer; i += 7) {
        if (auto found = index.find("ses:1-" + std::to_string(i))) {
          ASSERT_EQ(*found, user_of(1));
        }
      }
  });
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(index.size(), std::size_t{writers} * per_writer);
  for (int w = 0; w < writers; ++w)
    for (int i = 0; i < per_writer; ++i)
      ASSERT_EQ(index.find("ses:" + std::to_string(w) + "-" + std::to_string(i)), user_of(w));
}

} // namespace
} // namespace steward::actors
