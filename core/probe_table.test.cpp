#include "core/probe_table.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>

namespace steward::core {
namespace {

struct test_entry {
  std::uint32_t hash;
  std::string name;
  int value;
  std::string_view key() const noexcept { return name; }
};

/// A hash with only a few values, so that probes collide, run into each other and wrap around.
std::uint32_t crowded_hash(std::string_view key) {
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(key) % 5) * 7u;
}

test_entry* make(std::string name, int value) {
  const auto hash = crowded_hash(name);
  return new test_entry{hash, std::move(name), value};
}

TEST(ProbeTable, FindsWhatItHoldsAndHandsBackWhatItReplacesOrRemoves) {
  probe_table<test_entry> table;
  EXPECT_EQ(table.find("a", crowded_hash("a")), nullptr) << "an empty table";
  EXPECT_EQ(table.remove("a", crowded_hash("a")), nullptr);
  EXPECT_EQ(table.put(make("a", 1)), nullptr);
  EXPECT_EQ(table.put(make("b", 2)), nullptr);
  ASSERT_NE(table.find("a", crowded_hash("a")), nullptr);
  EXPECT_EQ(table.find("a", crowded_hash("a"))->value, 1);
  EXPECT_EQ(table.find("ab", crowded_hash("ab")), nullptr) << "an extension of a key";

  test_entry* replaced = table.put(make("a", 3));
  ASSERT_NE(replaced, nullptr);
  EXPECT_EQ(replaced->value, 1);
  delete replaced;
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find("a", crowded_hash("a"))->value, 3);

  test_entry* removed = table.remove("a", crowded_hash("a"));
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->value, 3);
  delete removed;
  EXPECT_EQ(table.find("a", crowded_hash("a")), nullptr);
  EXPECT_EQ(table.find("b", crowded_hash("b"))->value, 2);
  EXPECT_EQ(table.size(), 1u);

  int visited = 0;
  table.for_each([&visited](test_entry* e) {
    ++visited;
    delete e;
  });
  EXPECT_EQ(visited, 1);
  table.clear();
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.capacity(), 0u);
}

TEST(ProbeTable, AgreesWithAMapThroughRandomPutsAndRemovesOfCollidingKeys) {
  probe_table<test_entry> table;
  std::map<std::string, int> model;
  std::mt19937 random(20261130);
  for (int step = 0; step < 20'000; ++step) {
    const std::string key = "k" + std::to_string(random() % 300);
    const auto hash = crowded_hash(key);
    if (random() % 3 == 0) {
      test_entry* out = table.remove(key, hash);
      auto const known = model.find(key);
      ASSERT_EQ(out != nullptr, known != model.end()) << key << " at step " << step;
      if (out != nullptr) {
        EXPECT_EQ(out->value, known->second);
        model.erase(known);
        delete out;
      }
    } else {
      delete table.put(make(key, step));
      model[key] = step;
    }
    ASSERT_EQ(table.size(), model.size());
    ASSERT_LE(table.size() * 4, table.capacity() * 3) << "at most three quarters full";
    if (step % 97 == 0) {
      // Every key the model holds is found with its value, and none other.
      for (int k = 0; k < 300; ++k) {
        const std::string probe = "k" + std::to_string(k);
        const test_entry* found = table.find(probe, crowded_hash(probe));
        auto const known = model.find(probe);
        ASSERT_EQ(found != nullptr, known != model.end()) << probe << " at step " << step;
        if (found != nullptr) {
          ASSERT_EQ(found->value, known->second) << probe;
        }
      }
    }
  }
  table.for_each([](test_entry* e) { delete e; });
}

} // namespace
} // namespace steward::core
