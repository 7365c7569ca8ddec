#include "tools/refprovider/account_store.hpp"

#include <gtest/gtest.h>

#include <random>

namespace steward::refprovider {
namespace {

/// Seeded bytes, or a failure when told to.
class test_random final : public core::random_source {
public:
  bool fill(std::span<std::uint8_t> out) noexcept override {
    if (fail)
      return false;
    for (auto& byte : out)
      byte = static_cast<std::uint8_t>(engine_());
    return true;
  }
  bool fail = false;

private:
  std::mt19937 engine_{42};
};

TEST(account_store, creates_once_per_email_and_returns_the_same_account_after) {
  test_random random;
  account_store store({}, 10, random);
  auto first = store.open("ada@example.com");
  ASSERT_EQ(first.what, account_store::outcome::created);
  EXPECT_EQ(first.opened.id.substr(0, 5), "acct_");
  EXPECT_EQ(first.opened.token.substr(0, 4), "rpt_");
  EXPECT_EQ(first.opened.token.size(), 4u + 43u) << "256 bits of base64url";
  auto again = store.open("ADA@example.com");
  ASSERT_EQ(again.what, account_store::outcome::existing);
  EXPECT_EQ(again.opened.id, first.opened.id);
  EXPECT_EQ(again.opened.token, first.opened.token);
  auto other = store.open("bob@example.com");
  ASSERT_EQ(other.what, account_store::outcome::created);
  EXPECT_NE(other.opened.id, first.opened.id);
  EXPECT_NE(other.opened.token, first.opened.token);
  EXPECT_EQ(store.size(), 2u);
}

TEST(account_store, existing_accounts_need_oauth_and_are_never_created) {
  test_random random;
  account_store store({"linked@example.com"}, 10, random);
  EXPECT_EQ(store.open("Linked@Example.com").what, account_store::outcome::oauth_required);
  EXPECT_EQ(store.size(), 0u);
}

TEST(account_store, finds_an_account_by_its_token_only) {
  test_random random;
  account_store store({}, 10, random);
  auto created = store.open("ada@example.com");
  auto found = store.find_by_token(created.opened.token);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, created.opened.id);
  EXPECT_FALSE(store.find_by_token(created.opened.token + "x"));
  EXPECT_FALSE(store.find_by_token(""));
}

TEST(account_store, a_full_store_refuses_new_emails_but_serves_known_ones) {
  test_random random;
  account_store store({}, 1, random);
  ASSERT_EQ(store.open("a@x.org").what, account_store::outcome::created);
  EXPECT_EQ(store.open("b@x.org").what, account_store::outcome::full);
  EXPECT_EQ(store.open("a@x.org").what, account_store::outcome::existing);
}

TEST(account_store, a_failing_random_source_creates_nothing) {
  test_random random;
  random.fail = true;
  account_store store({}, 10, random);
  EXPECT_EQ(store.open("a@x.org").what, account_store::outcome::no_randomness);
  EXPECT_EQ(store.size(), 0u);
  random.fail = false;
  EXPECT_EQ(store.open("a@x.org").what, account_store::outcome::created);
}

TEST(account_store, links_an_existing_email_once_and_its_token_finds_it) {
  test_random random;
  account_store store({"linked@example.com"}, 10, random);
  EXPECT_TRUE(store.is_existing("Linked@Example.com"));
  EXPECT_FALSE(store.is_existing("ada@example.com"));
  EXPECT_FALSE(store.link("ada@example.com")) << "only listed emails are linked";
  auto linked = store.link("LINKED@example.com");
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->email, "linked@example.com");
  EXPECT_EQ(linked->id.substr(0, 5), "acct_");
  auto again = store.link("linked@example.com");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->token, linked->token) << "a second link hands out the same account";
  auto found = store.find_by_token(linked->token);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, linked->id);
  EXPECT_EQ(store.open("linked@example.com").what, account_store::outcome::oauth_required)
    << "steward still cannot create it";
}

TEST(account_store, an_existing_accounts_id_is_named_before_the_link_and_kept_by_it) {
  test_random random;
  account_store store({"linked@example.com"}, 10, random);
  auto named = store.existing_id("Linked@Example.com");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->substr(0, 5), "acct_");
  EXPECT_EQ(store.existing_id("linked@example.com"), named);
  EXPECT_EQ(store.size(), 0u) << "named, not linked";
  EXPECT_FALSE(store.existing_id("stranger@example.com"));
  auto linked = store.link("linked@example.com");
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->id, *named);
  EXPECT_EQ(store.existing_id("linked@example.com"), named);
}

TEST(account_store, a_link_without_randomness_makes_nothing) {
  test_random random;
  random.fail = true;
  account_store store({"linked@example.com"}, 10, random);
  EXPECT_FALSE(store.link("linked@example.com"));
  EXPECT_EQ(store.size(), 0u);
}

} // namespace
} // namespace steward::refprovider
