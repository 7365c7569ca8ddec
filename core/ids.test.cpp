#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

TEST(Ids, TimeOrderedIdsCarryTheirMillisecondInFrontOfTheRandomPart) {
  EXPECT_TRUE(is_time_ordered(id_kind::charge));
  for (auto kind : {id_kind::user, id_kind::session, id_kind::payment_token, id_kind::hold,
                    id_kind::refund, id_kind::event})
    EXPECT_FALSE(is_time_ordered(kind));
  id_bits one{};
  one[15] = 1;
  EXPECT_EQ(format_time_ordered_id(id_kind::charge, 0, one), "chg_000000000000000000000000000001");
  // 1 764 460 800 000 ms (2025-11-30T00:00:00Z) in base62 is "V3zFhRI".
  const std::string id = format_time_ordered_id(id_kind::charge, 1'764'460'800'000, one);
  EXPECT_EQ(id, "chg_0V3zFhRI0000000000000000000001");
  EXPECT_EQ(id.size(), time_ordered_id_bytes);
  EXPECT_TRUE(is_valid(id_kind::charge, id));
  EXPECT_EQ(parse_id(id), id_kind::charge);
  EXPECT_EQ(id_value(id), one);
  // Only a time-ordered kind has the long form.
  EXPECT_FALSE(is_valid(id_kind::hold, "hld_" + id.substr(4)));
  EXPECT_FALSE(parse_id("hld_" + id.substr(4)));
  // The time part is base62 too, and the random part still below 2^128.
  std::string broken = id;
  broken[6] = '-';
  EXPECT_FALSE(is_valid(id_kind::charge, broken));
  EXPECT_FALSE(is_valid(id_kind::charge, "chg_0V3zFhRIzzzzzzzzzzzzzzzzzzzzzz"));
  EXPECT_FALSE(is_valid(id_kind::charge, id.substr(0, id.size() - 1)));
  EXPECT_FALSE(is_valid(id_kind::charge, id + "0"));
  // The short form minted before charges were time-ordered stays valid.
  EXPECT_TRUE(is_valid(id_kind::charge, format_id(id_kind::charge, one)));
}

TEST(Ids, TimeOrderedIdsSortByTheirMillisecond) {
  seeded_random random(11);
  std::vector<std::string> ids;
  const std::uint64_t t0 = 1'764'460'800'000;
  const std::vector<std::uint64_t> times{t0, t0 + 1, t0 + 61, t0 + 62, t0 + 3'600'000,
                                         t0 + 86'400'000ull * 400};
  for (const std::uint64_t ms : times)
    for (int i = 0; i < 50; ++i) {
      auto id = make_id_at(id_kind::charge, random, ms);
      ASSERT_TRUE(id);
      ASSERT_TRUE(is_valid(id_kind::charge, *id)) << *id;
      ids.push_back(*id);
    }
  // Each millisecond's 50 ids sort before every id of a later millisecond.
  for (std::size_t i = 0; i + 1 < ids.size(); ++i)
    for (std::size_t j = (i / 50 + 1) * 50; j < ids.size(); ++j)
      ASSERT_LT(ids[i], ids[j]) << i << " " << j;
  failing_random failing;
  EXPECT_FALSE(make_id_at(id_kind::charge, failing, t0));
}

TEST(Ids, OnlyATimeOrderedKindIsMintedWithItsMillisecond) {
  const std::uint64_t t0 = 1'764'460'800'000;
  seeded_random random(5);
  seeded_random same(5);
  // The same random part: a charge's id leads with the time, a hold's does not.
  auto charge = make_id_at(id_kind::charge, random, t0);
  auto hold = make_id_at(id_kind::hold, same, t0);
  ASSERT_TRUE(charge && hold);
  EXPECT_EQ(charge->size(), time_ordered_id_bytes);
  EXPECT_EQ(charge->substr(id_prefix_bytes, id_time_chars), "0V3zFhRI");
  EXPECT_EQ(*hold, "hld_" + charge->substr(id_prefix_bytes + id_time_chars));
  EXPECT_TRUE(is_valid(id_kind::hold, *hold));
  for (auto kind : {id_kind::user, id_kind::session, id_kind::payment_token, id_kind::refund}) {
    auto id = make_id_at(kind, random, t0);
    ASSERT_TRUE(id);
    EXPECT_EQ(id->size(), id_bytes);
    EXPECT_EQ(parse_id(*id), kind);
  }
  failing_random failing;
  EXPECT_FALSE(make_id_at(id_kind::user, failing, t0));
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

// Small requests come from a per-thread buffer of RAND_bytes output: threads never share bytes,
// sizes that straddle a refill come out whole, and a request past the buffer's limit goes to
// RAND_bytes directly.
TEST(Ids, OpensslSourceBuffersPerThreadWithoutRepeats) {
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& ids : per_thread)
    threads.emplace_back([&ids] {
      openssl_random random;
      for (int i = 0; i < 5000; ++i)
        ids.push_back(*make_id(id_kind::charge, random));
    });
  for (auto& thread : threads)
    thread.join();
  std::set<std::string> seen;
  for (auto& ids : per_thread)
    seen.insert(ids.begin(), ids.end());
  EXPECT_EQ(seen.size(), 20'000u);

  openssl_random random;
  std::set<std::vector<std::uint8_t>> chunks;
  for (std::size_t size : {1, 7, 33, 64, 65, 500, 4096, 13, 64, 64}) {
    std::vector<std::uint8_t> bytes(size, 0);
    ASSERT_TRUE(random.fill(bytes)) << size;
    if (size >= 16) {
      EXPECT_NE(bytes, std::vector<std::uint8_t>(size, 0)) << size;
    }
    chunks.insert(bytes);
  }
  EXPECT_EQ(chunks.size(), 10u);
}

// A forked child must not hand out the bytes its parent still holds: both mint an id right after
// the fork, and the two differ.
TEST(Ids, AForkedChildDoesNotRepeatItsParentsBufferedBytes) {
  openssl_random random;
  ASSERT_TRUE(make_id(id_kind::charge, random)); // the buffer now holds unused bytes
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto id = make_id(id_kind::charge, random);
    const std::string text = id ? *id : std::string();
    const bool written = ::write(pipe_fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  auto parent_id = make_id(id_kind::charge, random);
  char buffer[64] = {};
  const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, static_cast<ssize_t>(id_bytes));
  ASSERT_TRUE(parent_id);
  EXPECT_NE(std::string(buffer, static_cast<std::size_t>(got)), *parent_id);
}

} // namespace
} // namespace steward::core
