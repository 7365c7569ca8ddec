#include "core/hash_chain.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace steward::core {
namespace {

std::string to_hex_bytes(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0x0f];
  }
  return out;
}

chain_hash must_parse(std::string_view hex) {
  auto parsed = chain_hash_from_hex(hex);
  EXPECT_TRUE(parsed.has_value()) << hex;
  return parsed.value_or(chain_hash{});
}

const chain_event first_event{"usr_1", 1, "charge.approved", 1700000000, R"({"amount":1299})"};
const chain_event second_event{"usr_1", 2, "charge.approved", -1, "{}"};

// The expected values were computed independently (Python hashlib and struct.pack), so they pin
// the on-disk format: if this test changes, every stored chain is invalidated.
TEST(HashChain, CanonicalBytesAreLengthPrefixedBigEndian) {
  std::string bytes;
  append_canonical_event(first_event, bytes);
  EXPECT_EQ(to_hex_bytes(bytes),
            "000000057573725f3100000000000000010000000f6368617267652e617070726f766564000000006553f1"
            "000000000f7b22616d6f756e74223a313239397d");
}

TEST(HashChain, NextHashMatchesIndependentSha256) {
  auto const h1 = next_chain_hash(chain_genesis, first_event);
  EXPECT_EQ(chain_hash_to_hex(h1), "0f824e59b2759d2bfa852827ffc8268220edf36f879901c40ce6e3d38b0c88b0");
  auto const h2 = next_chain_hash(h1, second_event);
  EXPECT_EQ(chain_hash_to_hex(h2), "27c5d1f3cfb99ce42eb04390333523f64c6e5e29841738de6fed5c1b2118e31e");
}

TEST(HashChain, EveryFieldAndThePreviousHashChangeTheHash) {
  auto const base = next_chain_hash(chain_genesis, first_event);
  auto changed = first_event;
  changed.stream = "usr_2";
  EXPECT_NE(next_chain_hash(chain_genesis, changed), base);
  changed = first_event;
  changed.seq = 2;
  EXPECT_NE(next_chain_hash(chain_genesis, changed), base);
  changed = first_event;
  changed.type = "charge.declined";
  EXPECT_NE(next_chain_hash(chain_genesis, changed), base);
  changed = first_event;
  changed.created_at += 1;
  EXPECT_NE(next_chain_hash(chain_genesis, changed), base);
  changed = first_event;
  changed.payload = R"({"amount":1298})";
  EXPECT_NE(next_chain_hash(chain_genesis, changed), base);
  auto other_prev = chain_genesis;
  other_prev[31] = 1;
  EXPECT_NE(next_chain_hash(other_prev, first_event), base);
}

TEST(HashChain, FieldBoundariesCannotBeShifted) {
  // Without length prefixes these two would hash the same bytes "ab" + "c" and "a" + "bc".
  chain_event left{"ab", 1, "c", 0, ""};
  chain_event right{"a", 1, "bc", 0, ""};
  EXPECT_NE(next_chain_hash(chain_genesis, left), next_chain_hash(chain_genesis, right));
  chain_event type_payload_left{"s", 1, "xy", 0, "z"};
  chain_event type_payload_right{"s", 1, "x", 0, "yz"};
  EXPECT_NE(next_chain_hash(chain_genesis, type_payload_left),
            next_chain_hash(chain_genesis, type_payload_right));
}

/// A well-formed chain of `count` events; the payload strings live in `payloads`.
std::vector<chain_link> make_chain(std::vector<std::string>& payloads, std::size_t count) {
  payloads.clear();
  for (std::size_t i = 0; i < count; ++i)
    payloads.push_back(R"({"n":)" + std::to_string(i) + "}");
  std::vector<chain_link> links;
  chain_hash prev = chain_genesis;
  for (std::size_t i = 0; i < count; ++i) {
    chain_event event{"usr_9", i + 1, "t", 100 + static_cast<std::int64_t>(i), payloads[i]};
    prev = next_chain_hash(prev, event);
    links.push_back({event, prev});
  }
  return links;
}

TEST(HashChain, ValidChainVerifies) {
  std::vector<std::string> payloads;
  auto links = make_chain(payloads, 5);
  auto const verdict = verify_chain(links);
  EXPECT_TRUE(verdict.valid);
  EXPECT_EQ(verdict.events, 5u);
  EXPECT_FALSE(verdict.first_bad_seq.has_value());
  EXPECT_TRUE(verify_chain({}).valid);
}

TEST(HashChain, TamperedPayloadReportsItsSeq) {
  std::vector<std::string> payloads;
  auto links = make_chain(payloads, 5);
  std::string tampered = payloads[2];
  tampered[1] = 'N';
  links[2].event.payload = tampered;
  auto const verdict = verify_chain(links);
  EXPECT_FALSE(verdict.valid);
  EXPECT_EQ(verdict.events, 5u);
  EXPECT_EQ(verdict.first_bad_seq, 3u);
}

TEST(HashChain, TamperedStoredHashReportsItsSeq) {
  std::vector<std::string> payloads;
  auto links = make_chain(payloads, 5);
  links[3].hash[0] ^= 1;
  auto const verdict = verify_chain(links);
  EXPECT_FALSE(verdict.valid);
  EXPECT_EQ(verdict.first_bad_seq, 4u);
}

TEST(HashChain, GapAndReorderAreReportedAtTheExpectedSeq) {
  std::vector<std::string> payloads;
  auto links = make_chain(payloads, 5);
  auto gap = links;
  gap.erase(gap.begin() + 1);
  EXPECT_EQ(verify_chain(gap).first_bad_seq, 2u);
  auto reordered = links;
  std::swap(reordered[3], reordered[4]);
  EXPECT_EQ(verify_chain(reordered).first_bad_seq, 4u);
  auto not_from_one = std::vector<chain_link>(links.begin() + 1, links.end());
  EXPECT_EQ(verify_chain(not_from_one).first_bad_seq, 1u);
}

TEST(HashChain, VerifiesATailFromItsAnchor) {
  std::vector<std::string> payloads;
  auto links = make_chain(payloads, 5);
  auto const tail = std::span<const chain_link>(links).subspan(2);
  EXPECT_TRUE(verify_chain(tail, links[1].hash, 3).valid);
  EXPECT_EQ(verify_chain(tail, chain_genesis, 3).first_bad_seq, 3u);

  chain_verifier verifier(links[1].hash, 3);
  for (auto const& link : tail)
    EXPECT_TRUE(verifier.feed(link.event, link.hash));
  EXPECT_EQ(verifier.head(), links[4].hash);
  EXPECT_EQ(verifier.next_seq(), 6u);
}

TEST(HashChain, HexRoundTripAndRejection) {
  chain_hash hash{};
  for (std::size_t i = 0; i < hash.size(); ++i)
    hash[i] = static_cast<std::uint8_t>(i * 37 + 11);
  auto const hex = chain_hash_to_hex(hash);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(must_parse(hex), hash);
  std::string upper = hex;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(must_parse(upper), hash);
  EXPECT_EQ(chain_hash_to_hex(chain_genesis), std::string(64, '0'));

  EXPECT_FALSE(chain_hash_from_hex("").has_value());
  EXPECT_FALSE(chain_hash_from_hex(hex.substr(1)).has_value());
  EXPECT_FALSE(chain_hash_from_hex(hex + "0").has_value());
  std::string bad = hex;
  bad[10] = 'g';
  EXPECT_FALSE(chain_hash_from_hex(bad).has_value());
  bad = hex;
  bad[0] = ' ';
  EXPECT_FALSE(chain_hash_from_hex(bad).has_value());
}

} // namespace
} // namespace steward::core
