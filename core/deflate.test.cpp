#include "core/deflate.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::core {
namespace {

const std::string json =
  R"({"currency":"usd","month":682,"provider_cap_default":10000,"global_spent":997,)"
  R"("providers":[{"provider":"acme","cap":{"amount":100,"currency":"usd"},"spent":997}]})";

TEST(Deflate, RoundTripsWithAndWithoutADictionary) {
  for (std::string_view dictionary : {std::string_view(), std::string_view(R"("currency":"usd")")}) {
    const std::string packed = deflate_bytes(json, dictionary);
    EXPECT_LT(packed.size(), json.size());
    auto unpacked = inflate_bytes(packed, dictionary, 1 << 20);
    ASSERT_TRUE(unpacked);
    EXPECT_EQ(*unpacked, json);
  }
}

TEST(Deflate, ADictionaryOfTheInputsWordsShrinksASmallInputFurther) {
  const std::string dictionary = R"("provider_cap_default":"global_spent":"providers":"currency":)";
  EXPECT_LT(deflate_bytes(json, dictionary).size(), deflate_bytes(json).size());
}

TEST(Deflate, RoundTripsEmptyBinaryAndLargeInputs) {
  EXPECT_EQ(inflate_bytes(deflate_bytes(""), {}, 16).value(), "");
  std::string binary;
  for (int i = 0; i < 256; ++i)
    binary.push_back(static_cast<char>(i));
  EXPECT_EQ(inflate_bytes(deflate_bytes(binary), {}, 256).value(), binary);
  // Larger than the 32 KiB window and than any one output step.
  std::string large;
  for (int i = 0; large.size() < 200'000; ++i)
    large += "{\"id\":\"chg_" + std::to_string(i * 7919) + "\",\"amount\":1},";
  const std::string packed = deflate_bytes(large, "\"amount\":");
  EXPECT_LT(packed.size(), large.size() / 4);
  EXPECT_EQ(inflate_bytes(packed, "\"amount\":", large.size()).value(), large);
}

TEST(Deflate, RefusesTruncatedTrailingCorruptAndOversizedStreams) {
  const std::string packed = deflate_bytes(json);
  EXPECT_FALSE(inflate_bytes(packed.substr(0, packed.size() - 1), {}, 1 << 20));
  EXPECT_FALSE(inflate_bytes(packed + "x", {}, 1 << 20));
  EXPECT_FALSE(inflate_bytes("", {}, 1 << 20));
  EXPECT_FALSE(inflate_bytes(std::string(64, '\xff'), {}, 1 << 20));
  EXPECT_FALSE(inflate_bytes(packed, {}, json.size() - 1)) << "one byte past the bound";
  EXPECT_EQ(inflate_bytes(packed, {}, json.size()).value(), json) << "exactly at the bound";
}

} // namespace
} // namespace steward::core
