#include "storage/stream_heads.hpp"

#include <gtest/gtest.h>

#include <string>

namespace steward::storage {
namespace {

core::chain_hash hash_of(std::uint8_t tag) {
  core::chain_hash hash{};
  hash.fill(tag);
  return hash;
}

TEST(StreamHeads, KnowsOnlyTheHeadItWasToldOf) {
  stream_heads heads(1024);
  EXPECT_EQ(heads.slots(), 1024u);
  EXPECT_FALSE(heads.known("usr_a", 1));
  heads.remember("usr_a", 7, hash_of(7));
  EXPECT_EQ(heads.known("usr_a", 7), hash_of(7));
  // Not the head: an earlier or a later seq must be read from the journal.
  EXPECT_FALSE(heads.known("usr_a", 6));
  EXPECT_FALSE(heads.known("usr_a", 8));
  EXPECT_FALSE(heads.known("usr_b", 7));
  // A prefix or an extension of a held stream is another stream.
  EXPECT_FALSE(heads.known("usr_", 7));
  EXPECT_FALSE(heads.known("usr_aa", 7));
  heads.remember("usr_a", 8, hash_of(8));
  EXPECT_EQ(heads.known("usr_a", 8), hash_of(8));
  EXPECT_FALSE(heads.known("usr_a", 7));
  // Seq 0 is never an event.
  heads.remember("usr_z", 0, hash_of(1));
  EXPECT_FALSE(heads.known("usr_z", 0));
}

TEST(StreamHeads, AStreamInATakenSlotReplacesTheOneBefore) {
  stream_heads heads(1); // one slot: every stream shares it
  EXPECT_EQ(heads.slots(), 1u);
  heads.remember("usr_a", 3, hash_of(3));
  heads.remember("usr_b", 3, hash_of(4));
  EXPECT_FALSE(heads.known("usr_a", 3));
  EXPECT_EQ(heads.known("usr_b", 3), hash_of(4));
}

TEST(StreamHeads, LongStreamsAndNoSlotsHoldNothing) {
  stream_heads heads(16);
  const std::string longest(stream_heads::stream_bytes_max, 's');
  heads.remember(longest, 2, hash_of(2));
  EXPECT_EQ(heads.known(longest, 2), hash_of(2));
  const std::string too_long(stream_heads::stream_bytes_max + 1, 's');
  heads.remember(too_long, 2, hash_of(2));
  EXPECT_FALSE(heads.known(too_long, 2));

  stream_heads none(0);
  EXPECT_EQ(none.slots(), 0u);
  none.remember("usr_a", 1, hash_of(1));
  EXPECT_FALSE(none.known("usr_a", 1));

  stream_heads rounded(1000);
  EXPECT_EQ(rounded.slots(), 1024u);
}

} // namespace
} // namespace steward::storage
