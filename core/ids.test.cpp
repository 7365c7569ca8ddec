#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>

namespace steward::core {
namespace {

/// Deterministic bytes for tests; prints nothing itself, callers print the seed.
class seeded_random final : public random_source {
public:
  explicit seeded_random(std::uint64_t seed) : engine_(seed) {}
  bool fill(std::span<std::uint8_t> out) noexcept override {
    for (auto& byte : out) byte = static_cast<std::uint8_t>(engine_());
    return true;
  }

private:
  std::mt19937_64 engine_;
};

class failing_random final : public random_source {
public:
  bool fill(std::span<std::uint8_t>) noexcept override { return false; }
};

TEST(Ids, FixedLengthPrefixAndAlphabet) {
  seeded_random random(1);
  for (std::size_t k = 0; k < id_kind_count; ++k) {
    auto kind = static_cast<id_kind>(k);
    auto id = make_id(kind, random);
    ASSERT_TRUE(id);
    EXPECT_EQ(id->size(), id_bytes);
    EXPECT_EQ(id->substr(0, 4), prefix(kind));
    EXPECT_TRUE(is_valid(kind, *id)) << *id;
    EXPECT_EQ(parse_id(*id), kind);
  }
  EXPECT_EQ(prefix(id_kind::payment_token), "ptk_");
  EXPECT_EQ(prefix(id_kind::charge), "chg_");
  EXPECT_EQ(prefix(id_kind::hold), "hld_");
}

TEST(Ids, ExtremeValuesEncodeAndDecodeExactly) {
  id_bits zero{};
  EXPECT_EQ(format_id(id_kind::user, zero), "usr_0000000000000000000000");
  id_bits one{};
  one[15] = 1;
  EXPECT_EQ(format_id(id_kind::user, one), "usr_0000000000000000000001");
  id_bits max;
  max.fill(0xff);
  std::string top = format_id(id_kind::event, max);
  // 2^128 - 1 in base62.
  EXPECT_EQ(top, "evt_7n42DGM5Tflk9n8mt7Fhc7");
  EXPECT_EQ(id_value(top), max);
  EXPECT_TRUE(is_valid(id_kind::event, top));
  // One more than 2^128 - 1 does not fit, so it is not a valid spelling.
  EXPECT_FALSE(is_valid(id_kind::event, "evt_7n42DGM5Tflk9n8mt7Fhc8"));
  EXPECT_FALSE(is_valid(id_kind::event, "evt_zzzzzzzzzzzzzzzzzzzzzz"));
}

TEST(Ids, RoundTripOfRandomValues) {
  std::uint64_t seed = std::random_device{}();
  std::printf("Ids.RoundTripOfRandomValues seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 engine(seed);
  for (int i = 0; i < 2000; ++i) {
    id_bits bits;
    for (auto& b : bits) b = static_cast<std::uint8_t>(engine());
    std::string id = format_id(id_kind::charge, bits);
    ASSERT_EQ(id_value(id), bits) << id << " seed=" << seed;
  }
}

TEST(Ids, RejectsWrongPrefixLengthAndAlphabet) {
  seeded_random random(7);
  std::string id = *make_id(id_kind::charge, random);
  EXPECT_FALSE(is_valid(id_kind::hold, id));
  EXPECT_TRUE(is_valid("chg_", id));
  EXPECT_FALSE(is_valid("hld_", id));
  EXPECT_FALSE(is_valid("xyz_", id));
  EXPECT_FALSE(is_valid(id_kind::charge, id.substr(0, id.size() - 1)));
  EXPECT_FALSE(is_valid(id_kind::charge, id + "0"));
  EXPECT_FALSE(is_valid(id_kind::charge, ""));
  for (char bad : {'-', '_', '+', '/', '=', ' ', '\0', '\xc3'}) {
    std::string broken = id;
    broken[10] = bad;
    EXPECT_FALSE(is_valid(id_kind::charge, broken)) << int(bad);
    EXPECT_FALSE(parse_id(broken));
  }
  EXPECT_FALSE(parse_id("CHG_0000000000000000000000"));
  EXPECT_FALSE(parse_id("sst_0000000000000000000000"));
}

TEST(Ids, FailingSourceGivesNoId) {
  failing_random random;
  EXPECT_FALSE(make_id(id_kind::user, random));
}

TEST(Ids, OpensslSourceGivesDistinctValidIds) {
  openssl_random random;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_id(id_kind::session, random);
    ASSERT_TRUE(id);
    ASSERT_TRUE(is_valid(id_kind::session, *id));
    seen.insert(*id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

} // namespace
} // namespace steward::core
